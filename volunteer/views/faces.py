"""Pages for the faces audience."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("faces", __name__, url_prefix="/faces")
