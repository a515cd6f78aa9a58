"""The landing page and each role's home."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from volunteer.models import Role
from volunteer.services import home

bp = Blueprint("main", __name__)


@bp.route("/")
def home_page():
    """Alias so "/" always works."""
    return home_view()


@bp.route("/home", endpoint="home")
def home_view():
    """What this person does next."""
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    summary = home.summary_for(current_user)
    return render_template(ROLE_TEMPLATES[current_user.role], s=summary)


@bp.route("/verify/<path:code>")
def verify_certificate(code: str):
    """Public: confirm a certificate is genuine, showing no more than the certificate does."""
    from volunteer.errors import NotFoundError
    from volunteer.services import certificates

    try:
        found = certificates.find_certificate(code)
    except NotFoundError:  # unknown, mistyped or made up: say so plainly
        return render_template("main/verify.html", c=None, code=code[:40]), 404
    return render_template("main/verify.html", c=found)


@bp.route("/healthz")
def healthz():
    """For the load balancer."""
    return {"ok": True}


#: admins see the coordinator's home (for every team) plus their own menu
ROLE_TEMPLATES = {Role.VOLUNTEER: "main/home_volunteer.html", Role.COORDINATOR: "main/home_coordinator.html",
                  Role.MERCHANT: "main/home_merchant.html", Role.ADMIN: "main/home_coordinator.html"}
