"""Fixtures: app (migrated database per test), client, runner, factories, login helper, PostgreSQL app."""

from __future__ import annotations

import contextvars
import os
import itertools
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from flask import has_app_context
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from volunteer import create_app
from volunteer.config import postgres_test_url, running_in_ci, test_database_url
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import Merchant, Reward, Role, Shift, Team, TeamKind, User

PASSWORD = "Correct-Horse-42"
PHOTOS = Path(__file__).resolve().parent.parent / ".cache" / "photos"
_mobiles = itertools.count(13900000000)


def require_redis(address: str) -> str:
    """The address of a Redis that answers; a test needing one is skipped without it, and fails in CI."""
    import redis

    try:
        redis.Redis.from_url(address, socket_connect_timeout=1).ping()
    except redis.ConnectionError as exc:
        if running_in_ci():
            raise
        pytest.skip(f"Redis unreachable: {exc}")
    return address


def _base_config(tmp_path: Path, url: str) -> dict:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "FACE_TEST_CHALLENGE": "left,right,straight",
        "SECRET_KEY": "test-secret",
    }


def _upgrade(url: str, tmp_path: Path) -> None:
    from flask_migrate import upgrade

    app = create_app(_base_config(tmp_path, url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _truncate_all(app) -> None:
    with app.app_context():
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once to head; each test gets a copy."""
    base = tmp_path_factory.mktemp("template")
    path = base / "template.sqlite3"
    _upgrade(f"sqlite:///{path}", base)
    return path


def _postgres_database(name: str, tmp_path_factory) -> str:
    """Create a fresh PostgreSQL database migrated to head, or skip/fail when the server is unreachable."""
    admin_url = make_url(postgres_test_url())
    try:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server"
        message = f"PostgreSQL at {admin_url.render_as_string(hide_password=True)} is unreachable: {exc}"
        if running_in_ci():
            pytest.fail(message)
        pytest.skip(message)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    _upgrade(url, tmp_path_factory.mktemp(name))
    return url


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A migrated PostgreSQL database for the tests marked ``postgres``, one per test session (two suites
    running at once must not drop each other's database), dropped at the end."""
    name = f"volunteer_pytest_{os.getpid()}"
    yield _postgres_database(name, tmp_path_factory)
    engine = create_engine(make_url(postgres_test_url()), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


class IsolatedClient(FlaskClient):
    """Runs each request in its own context (own ``g``, own DB session), as production does.

    Without this, requests reuse the test's pushed app context: Flask-Login's cached user and Babel's locale
    would leak from one request to the next and tests could pass for the wrong reason.
    """

    def open(self, *args, **kwargs):
        if not has_app_context():  # a redirect followed from inside the isolated request
            return super().open(*args, **kwargs)
        db.session.commit()  # end the test's transaction: SQLite's BEGIN IMMEDIATE would block the request
        kwargs.setdefault("buffered", True)  # read and close the response, which closes spooled uploads
        response = contextvars.Context().run(super().open, *args, **kwargs)
        # werkzeug spools large multipart test bodies to a temporary file and leaves it open
        stream = response.request.environ.get("wsgi.input") if response.request else None
        if stream is not None and not stream.closed:
            stream.close()
        db.session.expire_all()  # see what the request wrote
        return response


def _make_app(tmp_path: Path, url: str, **overrides):
    app = create_app({**_base_config(tmp_path, url), **overrides})
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def app_factory(request, tmp_path, sqlite_template, tmp_path_factory):
    """Build an app with extra config on the test database (its app context is pushed).

    The database is VOLUNTEER_TEST_DATABASE_URL (emptied first) or else a copy of the migrated SQLite
    template; ``backend="sqlite"`` always takes the SQLite copy and ``backend="postgres"`` the per-session
    PostgreSQL database (see ``postgres_only``, ``sqlite_only`` and ``both_databases``).
    """
    made: list = []
    contexts: list = []

    def build(backend: str = "default", **overrides):
        external = test_database_url()
        if backend == "postgres":
            url = request.getfixturevalue("postgres_url")
        elif external and backend == "default":
            url = external
            if not made:
                _upgrade(url, tmp_path_factory.mktemp("external"))
        else:
            copy = tmp_path / "test.sqlite3"
            if not copy.exists():
                shutil.copy(sqlite_template, copy)
            url = f"sqlite:///{copy}"
        app = _make_app(tmp_path, url, **overrides)
        if not made and not url.startswith("sqlite"):
            _truncate_all(app)
        made.append(app)
        ctx = app.app_context()
        ctx.push()
        contexts.append(ctx)
        return app

    yield build
    for ctx in reversed(contexts):
        db.session.remove()
        db.engine.dispose()
        ctx.pop()


@pytest.fixture
def app(app_factory, request):
    """The app on a freshly migrated database, inside an app context.

    ``@pytest.mark.app_config(KEY=value)`` overrides configuration; ``@postgres_only``, ``@sqlite_only`` and
    ``@both_databases`` choose the database.
    """
    overrides: dict = {}
    for marker in reversed(list(request.node.iter_markers("app_config"))):  # module, then class, then test
        overrides.update(marker.kwargs)
    return app_factory(getattr(request, "param", "default"), **overrides)


#: Race tests run here and only here. SQLite's BEGIN IMMEDIATE runs every transaction one after another, so a
#: "read, check in Python, write" regression passes every race on SQLite; PostgreSQL's row locks let the
#: transactions overlap and catch it. Skipped when the server is unreachable, a failure in CI (see postgres_url).
postgres_only = pytest.mark.parametrize(
    "app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

#: a test of SQLite's own behaviour (locking, busy timeout), even when VOLUNTEER_TEST_DATABASE_URL names another
sqlite_only = pytest.mark.parametrize("app", ["sqlite"], indirect=True)

#: a test of behaviour that differs between the databases (not a race: see postgres_only); in the PostgreSQL run
#: of `make test` (VOLUNTEER_TEST_DATABASE_URL set) the default database already is PostgreSQL, so only that variant
both_databases = pytest.mark.parametrize(
    "app", ([] if test_database_url() else ["sqlite"]) + [pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- factories -------------------------------------------------------------------------------------------

@pytest.fixture
def make_team(app):
    from volunteer.services.teams import add_team

    def make(name="宝石社区", kind=TeamKind.COMMUNITY, parent: Team | None = None) -> Team:
        team = add_team(name, kind, parent)
        db.session.commit()
        return team

    return make


@pytest.fixture
def team(make_team) -> Team:
    district = make_team("西湖区", TeamKind.DISTRICT)
    street = make_team("北山街道", TeamKind.STREET, district)
    return make_team("宝石社区", TeamKind.COMMUNITY, street)


def _user(role: Role, name: str, teams=(), managed=(), merchant=None, points=0) -> User:

    user = User(name=name, mobile=str(next(_mobiles)), password_hash=_HASH, role=role,
                merchant=merchant, teams=list(teams), managed_teams=list(managed))
    db.session.add(user)
    db.session.commit()
    if points:
        from volunteer.services import ledger

        ledger.credit(user.id, points, "adjustment", f"test-seed:{user.id}", note="test")
        db.session.commit()
    return user


from werkzeug.security import generate_password_hash as _gph  # noqa: E402

_HASH = _gph(PASSWORD, method="pbkdf2:sha256:1000")  # fast hashing for fixtures only


@pytest.fixture
def make_volunteer(team):
    def make(name="张建华", teams=None, points=0) -> User:
        return _user(Role.VOLUNTEER, name, teams=teams if teams is not None else [team], points=points)

    return make


@pytest.fixture
def make_coordinator(team):
    def make(name="李强", managed=None) -> User:
        return _user(Role.COORDINATOR, name, managed=managed if managed is not None else [team])

    return make


@pytest.fixture
def make_merchant(app):
    counter = itertools.count(1)

    def make(name=None) -> Merchant:
        merchant = Merchant(name=name or f"商户{next(counter)}")
        db.session.add(merchant)
        db.session.commit()
        return merchant

    return make


@pytest.fixture
def make_staff(make_merchant):
    def make(merchant=None, name="陈静") -> User:
        return _user(Role.MERCHANT, name, merchant=merchant or make_merchant())

    return make


@pytest.fixture
def make_admin(app):
    def make(name="王芳") -> User:
        return _user(Role.ADMIN, name)

    return make


@pytest.fixture
def make_shift(team, make_coordinator):
    def make(team_=None, start_in=timedelta(days=1), hours=2, capacity=5, rate=10, creator=None, **kw) -> Shift:
        start = utcnow() + start_in
        shift = Shift(team_id=(team_ or team).id, title=kw.pop("title", "西湖北山街巡逻"),
                      place_name="北山街", latitude=30.2590, longitude=120.1450, radius_m=300,
                      starts_at=start, ends_at=start + timedelta(hours=hours), capacity=capacity,
                      points_per_hour=rate, created_by_id=(creator or make_coordinator()).id, **kw)
        db.session.add(shift)
        db.session.commit()
        return shift

    return make


@pytest.fixture
def end_shift(app):
    """Move a shift (after its sign-ups) so that it ended a minute ago, keeping its length: attendance is recorded
    by hand only for what has happened, never in advance."""

    def end(shift: Shift, ago: timedelta = timedelta(minutes=1)) -> Shift:
        length = shift.ends_at - shift.starts_at
        shift.ends_at = utcnow() - ago
        shift.starts_at = shift.ends_at - length
        db.session.commit()
        return shift

    return end


@pytest.fixture
def make_reward(make_merchant):
    def make(merchant=None, cost=100, stock=10, **kw) -> Reward:
        reward = Reward(merchant=merchant or make_merchant(), category=kw.pop("category", "parking"),
                        title=kw.pop("title", "北山街停车月卡"), points_cost=cost, stock=stock, **kw)
        db.session.add(reward)
        db.session.commit()
        return reward

    return make


@pytest.fixture
def login(client):
    """Sign a user in through the real login form."""

    def do(user: User, password: str = PASSWORD):
        response = client.post("/login", data={"mobile": user.mobile, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return do


@pytest.fixture
def photos() -> Path:
    """The real photographs fetched by `make test`."""
    if not (PHOTOS / ".complete").exists():
        message = "test photographs missing: run `make photos` (needs the package registries)"
        if running_in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return PHOTOS


def photo_bytes(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


@pytest.fixture(autouse=True)
def _reset_limiter() -> Iterator[None]:
    yield
    from volunteer.extensions import limiter

    try:
        limiter.reset()
    except Exception:  # noqa: BLE001 - storage may already be gone with its app
        pass


# --- real browser -------------------------------------------------------------------------------------------

@pytest.fixture
def live_server(app):
    """The test app served over HTTP for the browser; the test's own transaction is closed first."""
    from tests.browser import LiveServer

    # keep loaded attributes after this commit: reading them later must not open a transaction (SQLite's
    # BEGIN IMMEDIATE would hold the write lock while the browser is working)
    db.session().expire_on_commit = False
    db.session.commit()
    with LiveServer(app) as server:
        yield server
        db.session.remove()


@pytest.fixture(scope="session")
def playwright_instance():
    from tests.browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if running_in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def browser_factory(playwright_instance, tmp_path):
    """Launch Chromium, optionally with a fake camera showing a real photograph."""
    from tests.browser import BASE_ARGS, CHROMIUM, make_y4m

    launched = []

    def launch(camera_photo: Image.Image | None = None):
        args = list(BASE_ARGS)
        if camera_photo is not None:
            video = make_y4m(camera_photo, tmp_path / f"camera{len(launched)}.y4m")
            args += ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                     f"--use-file-for-fake-video-capture={video}"]
        browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        launched.append(browser)
        return browser

    yield launch
    for browser in launched:
        browser.close()
