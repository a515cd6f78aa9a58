"""Pages for the merchant audience."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("merchant", __name__, url_prefix="/merchant")
