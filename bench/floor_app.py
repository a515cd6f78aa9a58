"""The app as ``wsgi.py`` builds it, plus one bench-only route: the floor every signed-in request stands on.

``POST /bench/floor`` goes through the same stack as a redemption -- gunicorn, the session cookie, Flask-Login's
user load, the role check, the CSRF check of every POST, one trivial query -- and does nothing else. Served by
``bench/flash_sale.py`` only (``gunicorn --pythonpath bench floor_app:app``); the app itself has no such route.
"""

from __future__ import annotations

from sqlalchemy import select

from volunteer.extensions import db
from volunteer.models import Role
from volunteer.views.common import roles_required
from wsgi import app


@roles_required(Role.VOLUNTEER)
def floor():
    """Nothing but what every signed-in POST pays for."""
    db.session.execute(select(1)).scalar_one()
    return "", 204


app.add_url_rule("/bench/floor", "bench_floor", floor, methods=["POST"])
