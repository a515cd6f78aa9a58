"""What every blueprint shares: locale choice, role checks, request hooks."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from babel import Locale
from flask import Flask, abort, current_app, flash, g, request, session, url_for
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.routing import IntegerConverter

from volunteer.errors import DomainError, NulCharacterError
from volunteer.extensions import limiter, login_manager
from volunteer.models import Role, User
from volunteer.services.accounts import ROLE_LABELS

LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


@lru_cache(maxsize=16)
def _parsed_locale(code: str) -> Locale:
    return Locale.parse(code)


def select_locale() -> Locale:
    """The signed-in user's choice, else this browser's choice, else the browser's header, else Chinese.

    Returned parsed, from a cache: Flask-Babel would parse the code on every request, and Babel's parse scans its
    list of known locales twice (about 0.2 ms of a request's CPU).
    """
    from flask import current_app, has_request_context

    supported = current_app.config["LANGUAGES"]
    if not has_request_context():
        return _parsed_locale(current_app.config["BABEL_DEFAULT_LOCALE"])
    if current_user and current_user.is_authenticated and current_user.locale in supported:
        return _parsed_locale(current_user.locale)
    if session.get("locale") in supported:
        return _parsed_locale(session["locale"])
    return _parsed_locale(request.accept_languages.best_match(supported) or current_app.config["BABEL_DEFAULT_LOCALE"])


def roles_required(*roles: Role) -> Callable:
    """The view is for these roles only; everyone else gets the friendly 403 page."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles  # read by the permission-matrix test
        return wrapped

    return decorator


def _face_key() -> str:
    # the account, not the address: a volunteer's phone changes networks, and one account is one budget
    return f"face-checks:{current_user.id if current_user.is_authenticated else request.remote_addr}"


#: every face upload (enrolment, practice, check-in, check-out) costs the server a face analysis per frame, accepted
#: or not: one budget per volunteer across those routes, shared by all workers through the limiter's storage. The
#: refusals that matter to security (failed verifications) have their own, stricter count in the database.
face_checks = limiter.shared_limit(lambda: current_app.config["FACE_VERIFY_LIMIT"], scope="face-checks",
                                   key_func=_face_key, methods=["POST"])


def retry_message() -> str:
    """'Try again in N minutes' for the limit that was just hit."""
    limit = limiter.current_limit
    seconds = max(1, int(limit.reset_at - time.time())) if limit else 60
    minutes = math.ceil(seconds / 60)
    return ngettext("Too many attempts. Please try again in %(num)d minute.",
                    "Too many attempts. Please try again in %(num)d minutes.", minutes)


def flash_error(exc: DomainError) -> None:
    """Show a domain refusal to the person; "not yours" and "not found" get their error pages instead."""
    if exc.status_code in (403, 404):
        raise exc
    from volunteer.errors import FieldErrors

    flash(" ".join(exc.texts().values()) if isinstance(exc, FieldErrors) else exc.text, "error")


#: how long a message carried in a redirect's URL is shown (a reload after that shows the page without it)
NOTICE_SECONDS = 300


def _notice_serializer():
    from flask import current_app
    from itsdangerous import URLSafeTimedSerializer

    serializer = current_app.extensions.get("notice_serializer")
    if serializer is None:
        serializer = current_app.extensions["notice_serializer"] = URLSafeTimedSerializer(current_app.secret_key,
                                                                                          salt="notice")
    return serializer


def redirect_with_notice(location: str, user_id: int, text: str, category: str):
    """Redirect with a message like ``flash``, but carried in the URL (signed, for this user) instead of the
    session: the response writes no cookie. For hot paths, where many requests from one browser may cross."""
    from flask import redirect

    token = _notice_serializer().dumps([user_id, category, text])
    return redirect(f"{location}{'&' if '?' in location else '?'}notice={token}")


def url_notices() -> list[tuple[str, str]]:
    """The (category, message) a ``redirect_with_notice`` sent this user here with, if any (for base.html)."""
    from itsdangerous import BadData

    from flask import has_request_context

    token = request.args.get("notice") if has_request_context() else None
    if not token or not current_user.is_authenticated:
        return []
    try:
        user_id, category, text = _notice_serializer().loads(token, max_age=NOTICE_SECONDS)
    except (BadData, ValueError, TypeError):
        return []
    return [(category, text)] if user_id == current_user.id and category in ("success", "error") else []


def form_int(name: str) -> int | None:
    """An id or count from a form or query field, or None when missing, malformed or beyond the database."""
    from volunteer.forms import whole_number

    try:
        return whole_number(request.values.get(name) or "")
    except ValueError:
        return None


def export_language() -> str:
    """The ``lang`` of a CSV download: "zh" (Chinese headers and labels) or "en" (the codes); by default the page's
    language."""
    from flask_babel import get_locale

    asked = request.args.get("lang", "")
    if asked in ("zh", "en"):
        return asked
    return "zh" if get_locale().language == "zh" else "en"


def page_number(arg: str = "page") -> int:
    """The ``page`` query argument (or another, for a second list on the page): 1 when missing or malformed, a
    huge number the last page (paging.paginate clamps)."""
    from volunteer.services.paging import MAX_PAGE

    raw = (request.args.get(arg) or "").strip()
    if not (raw.isascii() and raw.isdigit()):
        return 1
    return int(raw) if len(raw) <= 9 else MAX_PAGE


def page_url(number: int, arg: str = "page", path: str | None = None) -> str:
    """This page's address at another page number (of the list paged by ``arg``), every other query argument (the
    filters, the other list's page) kept; ``path`` when the list is shown by a POST (a form with errors)."""
    args = request.args.copy()
    args[arg] = str(number)
    return f"{path or request.path}?{urlencode(list(args.items(multi=True)))}"


#: what a browser strips from both ends of a URL (C0 controls and space) and removes anywhere (tab, CR, LF)
_URL_ENDS = "".join(map(chr, range(0x21)))
_URL_DROPPED = re.compile(r"[\t\r\n]")


def safe_target(raw: str | None, default_endpoint: str = "main.home") -> str:
    r"""A redirect target from the request (``next``, ``back``) if it is a path on this site, else the default.

    The check runs on what a browser would make of the value (ends stripped, tab/CR/LF removed, backslashes read
    as slashes), so ``/\t/evil.example`` or ``/\evil.example`` cannot turn into ``//evil.example`` after it;
    the target sent is the one checked.
    """
    target = _URL_DROPPED.sub("", (raw or "").strip(_URL_ENDS)).replace("\\", "/")
    parts = urlsplit(target)
    if (not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc
            or not target.isprintable()):
        return url_for(default_endpoint)
    return target


@login_manager.user_loader
def load_user(identity: str) -> User | None:
    """Identity is "<id>:<session token>"; an old token (after logout) loads nobody."""
    from volunteer.extensions import db

    user_id, _, token = identity.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not token or user.session_token != token or not user.is_enabled:
        return None
    return user


#: the largest value of the database's INTEGER (PostgreSQL's int4; SQLite's is larger but ids never get there)
DB_INT_MAX = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """``<int:…>`` within the database's integer range: a larger id cannot exist, so it is a 404, never a 500."""

    def __init__(self, url_map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", DB_INT_MAX)
        super().__init__(url_map, *args, **kwargs)


def install_request_hooks(app: Flask) -> None:
    """URL converters, template globals and security headers (before any blueprint adds its rules)."""
    app.url_map.converters["int"] = DatabaseIdConverter
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    @app.context_processor
    def inject() -> dict[str, Any]:
        from flask_babel import get_locale

        from flask import has_request_context

        in_request = has_request_context()  # a template may be rendered outside a request (a command, a test)
        signed_in = in_request and current_user and current_user.is_authenticated
        return {"LANGUAGE_NAMES": LANGUAGE_NAMES, "current_locale": "zh_CN" if get_locale().language == "zh" else "en", "Role": Role,
                "star_text": star_text, "url_notices": url_notices,
                "large_text": bool(current_user.large_text if signed_in else in_request and session.get("large_text")),
                "volunteer_tab": volunteer_tab(request.endpoint) if signed_in and current_user.role == Role.VOLUNTEER
                else None}

    from volunteer.localtime import format_local

    app.jinja_env.filters["local"] = format_local
    from volunteer.services.text import field_limit

    app.jinja_env.globals["field_limit"] = field_limit
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["star_text"] = star_text  # for macros too, which do not see the context

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'",
        )
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # a signed-in page or a download is somebody's data: no shared or back-button cache may keep it
        download = "attachment" in response.headers.get("Content-Disposition", "")
        if request.endpoint != "static" and (download or "_user_id" in session):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def remember_start() -> None:
        g.request_started = time.perf_counter()

    @app.before_request
    def refuse_nul() -> None:
        """Fields get their own messages for other control characters; a NUL anywhere ends the request here."""
        if "\x00" in request.path or any("\x00" in key or "\x00" in value
                                         for key, value in request.values.items(multi=True)):
            raise NulCharacterError()


#: which of the volunteer's four tabs a page belongs to (every other page of theirs is under "Me")
TAB_OF_ENDPOINT = {"main.home": "home", "main.home_page": "home",
                   "volunteer.list_shifts": "shifts", "volunteer.check_in": "shifts", "volunteer.check_out": "shifts",
                   "volunteer.catalog": "rewards", "volunteer.reward_detail": "rewards",
                   "volunteer.redeem": "rewards"}


def volunteer_tab(endpoint: str | None) -> str:
    """The tab to mark as current in the volunteer's bottom bar."""
    return TAB_OF_ENDPOINT.get(endpoint or "", "me")


def star_text(stars: int) -> str:
    """★★☆☆☆ for two stars."""
    return "★" * stars + "☆" * (5 - stars)


def role_name(role: Role) -> str:
    """A role in the reader's language."""
    return str(ROLE_LABELS[role])
