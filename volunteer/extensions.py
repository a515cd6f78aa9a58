"""Extensions, created unbound; ``create_app`` binds them."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from volunteer.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def client_address() -> str:
    """The client's IP address; behind a proxy, the one the proxy saw (``PROXY_HOPS``, werkzeug's ProxyFix)."""
    return request.remote_addr or "unknown"


limiter = Limiter(key_func=client_address, default_limits=[])


def form_key(field: str, normalise=lambda value: value.strip()):
    """A rate-limit key from a form field (e.g. the account being logged into), normalised like the field."""

    def key() -> str:
        return f"{field}:{normalise(request.form.get(field) or '')}"

    return key
