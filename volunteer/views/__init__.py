"""Blueprints, one per audience."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint."""
    from volunteer.views import admin, auth, coordinator, faces, main, merchant, open311, report_tools, reports, volunteer

    for module in (main, auth, volunteer, faces, coordinator, merchant, admin, reports, open311, report_tools):
        app.register_blueprint(module.bp)
