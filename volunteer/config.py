"""Configuration: defaults here, then ``VOLUNTEER_*`` environment variables.

This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

PREFIX = "VOLUNTEER_"


def _instance_secret(instance_path: Path, name: str, make: callable) -> str:
    """Read a secret from ``instance/<name>``, creating it once on first run."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
    return path.read_text().strip()


def _coerce(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


class Config:
    """Defaults for a development machine; every key can be overridden by ``VOLUNTEER_<KEY>``."""

    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # default: sqlite in instance/
    DATABASE_URL: str | None = None
    #: database connections each process keeps open: at least gunicorn's --threads (beyond it, every extra
    #: concurrent request opens and closes a PostgreSQL connection of its own)
    DATABASE_POOL_SIZE = 10
    FACE_KEY: str | None = None  # Fernet key for face templates; default generated into instance/
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    #: failed logins into one account from one address; the owner elsewhere is not locked out by a stranger
    LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS = "5 per 15 minutes"
    #: failed logins into one account from all addresses together: the ceiling for guessing spread over many
    LOGIN_LIMIT_PER_ACCOUNT = "50 per day"
    LOGIN_LIMIT_PER_IP = "30 per 15 minutes"
    #: registrations completed from one address (forms sent back with field errors do not count)
    REGISTER_LIMIT_PER_IP = "10 per hour"
    #: how many proxies in front of the app set X-Forwarded-For/-Proto (1 behind one nginx); 0 trusts none
    PROXY_HOPS = 0
    #: unknown voucher codes per staff account, across the lookup, QR and redeem routes together
    VOUCHER_LOOKUP_LIMIT = "30 per 10 minutes"
    #: face uploads per volunteer, accepted or not, across enrolment, practice, check-in and check-out (face_checks)
    FACE_VERIFY_LIMIT = "10 per 10 minutes"
    #: how long a reward the database found sold out is refused without asking it again (see volunteer/soldout.py)
    SOLD_OUT_CACHE_SECONDS = 5.0
    SOLD_OUT_CACHE_PREFIX = "volunteer:sold-out:"
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024  # a burst of frames; each image is limited to 5 MB by the face adapter
    FACE_MAX_BYTES = 5 * 1024 * 1024
    FACE_MAX_PIXELS = 12_000_000
    #: distance at or below which two faces are the same person; see docs/FACES.md for the calibration
    FACE_TOLERANCE = 0.5
    FACE_LIVENESS = True
    FACE_CHALLENGE_SECONDS = 120
    FACE_POLICY_VERSION = "2026-11"
    #: days after a record's approval or rejection that its check-in photos (kept with consent) are deleted
    FACE_THUMBNAIL_DAYS = 30
    FACE_TEST_CHALLENGE = ""  # tests only: a fixed order such as "left,right,straight"
    BABEL_DEFAULT_LOCALE = "zh_CN"
    #: the zone of every "today", "this month", day filter and displayed time (an IANA name); Babel follows it
    TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: set VOLUNTEER_SESSION_COOKIE_SECURE=true behind HTTPS (production)
    SESSION_COOKIE_SECURE = False
    CHECKIN_OPENS_MINUTES = 15
    CANCEL_CUTOFF_HOURS = 3
    DAILY_HOURS_CAP = 12
    CHECKIN_ATTEMPTS = 5
    STAR_THRESHOLDS = "100,300,600,1000,1500"
    POINTS_EXPIRE_AFTER_YEARS = 0  # 0: points never expire; 2: at the end of the second calendar year
    IMPORTED_HOURS_EARN_POINTS = False
    ORGANISATION = "杭州市西湖区平安志愿者协会"
    #: patrol reports: points one volunteer can earn from confirmed reports in one local (Hangzhou) day
    REPORT_DAILY_POINTS_CAP = 60
    REPORT_MAX_PHOTOS = 3
    REPORT_PHOTO_MAX_BYTES = 5 * 1024 * 1024
    REPORT_PHOTO_MAX_PIXELS = 40_000_000
    #: stored photos are re-encoded at most this many pixels on their longer side
    REPORT_PHOTO_SIDE = 2048
    #: an open report of the same category this near and this recent is offered as "already reported"
    REPORT_DUPLICATE_METRES = 50
    REPORT_DUPLICATE_HOURS = 24
    #: "already reported nearby?" look-ups (GET /reports/nearby) per account: the form asks a few times per report;
    #: many answers "one here / none here" from many points would place a report however coarse the answer
    REPORT_NEARBY_LIMIT = "30 per hour"
    #: reports one Open311 partner key may file (POST requests.json)
    OPEN311_POST_LIMIT = "120 per hour"
    #: POSTs with a wrong, revoked or missing api_key one address may make (only those count; a valid key is exempt)
    OPEN311_BAD_KEY_LIMIT = "20 per hour"
    #: the map's tile URL template ({z}/{x}/{y}, e.g. 天地图 with its key); empty: markers on a plain background
    MAP_TILE_URL = ""
    MAP_TILE_ATTRIBUTION = ""
    #: the tiles are drawn in GCJ-02 (most Chinese providers except 天地图): markers are shifted for display only
    MAP_TILES_GCJ02 = False
    #: the port `make run` serves on (VOLUNTEER_PORT): `flask seed-demo` prints the address with it
    PORT = 5000
    TESTING = False


def _checked_zone(name: str) -> str:
    """Refuse to start with a zone name the tz database does not know (rather than fail on the first page)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{PREFIX}TIMEZONE={name!r} is not a known time zone (e.g. Asia/Shanghai)") from exc
    return name


def load(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the configuration mapping for one app."""
    settings = {k: v for k, v in vars(Config).items() if k.isupper()}
    for key, default in list(settings.items()):
        env = os.environ.get(PREFIX + key)
        if env is not None:
            settings[key] = _coerce(env, default) if default is not None else env
    settings.update(overrides or {})
    settings["TIMEZONE"] = _checked_zone(settings["TIMEZONE"])
    settings["BABEL_DEFAULT_TIMEZONE"] = settings["TIMEZONE"]  # Flask-Babel's own date formatting agrees
    if not settings.get("SQLALCHEMY_DATABASE_URI"):
        url = settings.get("DATABASE_URL") or f"sqlite:///{instance_path / 'volunteer.sqlite3'}"
        settings["SQLALCHEMY_DATABASE_URI"] = url
    if settings["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        engine_options = dict(settings.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        engine_options.setdefault("pool_size", settings["DATABASE_POOL_SIZE"])
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
    if not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = _instance_secret(instance_path, "secret_key", lambda: secrets.token_hex(32))
    if not settings.get("FACE_KEY"):
        from cryptography.fernet import Fernet

        settings["FACE_KEY"] = _instance_secret(instance_path, "face_key", lambda: Fernet.generate_key().decode())
    return settings


def default_timezone() -> str:
    """The zone used outside an app context (the app's TIMEZONE setting governs inside one)."""
    return os.environ.get(PREFIX + "TIMEZONE") or Config.TIMEZONE


def instance_path() -> str | None:
    """Where instance/ lives when VOLUNTEER_INSTANCE_PATH says (default: beside the package)."""
    return os.environ.get(PREFIX + "INSTANCE_PATH")


def test_database_url() -> str | None:
    """The database the test-suite runs against, when ``VOLUNTEER_TEST_DATABASE_URL`` names one."""
    return os.environ.get(PREFIX + "TEST_DATABASE_URL")


def postgres_test_url() -> str:
    """The PostgreSQL server used by the PostgreSQL tests."""
    return os.environ.get(PREFIX + "POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def running_in_ci() -> bool:
    """CI must run the PostgreSQL and browser tests rather than skip them."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
