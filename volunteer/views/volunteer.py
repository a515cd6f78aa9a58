"""Pages for the volunteer audience."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("volunteer", __name__, url_prefix="/volunteer")
