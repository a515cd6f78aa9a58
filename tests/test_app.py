"""The app factory, configuration, error pages, languages, migrations."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect

from volunteer import create_app
from volunteer.extensions import db


def test_secret_key_is_generated_once_into_instance(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "inst"), "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    first = create_app(dict(config)).config["SECRET_KEY"]
    second = create_app(dict(config)).config["SECRET_KEY"]
    assert first == second and len(first) == 64
    assert (tmp_path / "inst" / "secret_key").read_text().strip() == first


def test_environment_overrides_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLUNTEER_DAILY_HOURS_CAP", "8")
    monkeypatch.setenv("VOLUNTEER_FACE_LIVENESS", "false")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["DAILY_HOURS_CAP"] == 8
    assert app.config["FACE_LIVENESS"] is False


def test_secure_cookies_can_be_switched_on_for_production(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLUNTEER_SESSION_COOKIE_SECURE", "true")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_only_config_reads_the_environment():
    import pathlib

    package = pathlib.Path(__file__).resolve().parent.parent / "volunteer"
    readers = [p.name for p in package.rglob("*.py") if "os.environ" in p.read_text() and p.name != "config.py"]
    assert readers == []


@pytest.mark.parametrize("locale, text", [("zh_CN", "登录"), ("en", "Sign in")])
def test_pages_render_in_both_languages(app, client, locale, text):
    client.post(f"/language/{locale}")
    body = client.get("/login").get_data(as_text=True)
    assert text in body


def test_chinese_is_the_default_language(client):
    assert "登录" in client.get("/login").get_data(as_text=True)


def test_english_browser_gets_english_until_switched(client):
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    client.post("/language/zh_CN")
    assert "登录" in client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)


@pytest.mark.parametrize("locale, text", [("zh_CN", "页面不存在"), ("en", "Page not found")])
def test_404_page_is_friendly_in_both_languages(client, locale, text):
    client.post(f"/language/{locale}")
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)


@pytest.mark.app_config(PROPAGATE_EXCEPTIONS=False, TESTING=False)
def test_500_page_is_friendly_and_rolls_back(app):

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/boom", headers={"Accept-Language": "en"})
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)


@pytest.mark.app_config(MAX_CONTENT_LENGTH=1000)
def test_413_page_for_oversized_body(client):
    response = client.post("/login", data={"mobile": "x" * 5000},
                                      headers={"Accept-Language": "en"})
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)


def test_security_headers(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_every_translation_is_present():
    from babel.messages.pofile import read_po

    import pathlib

    po = pathlib.Path(__file__).resolve().parent.parent / "volunteer/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh)
    missing = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == [] and fuzzy == []


def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_from_empty_to_head_on_sqlite(tmp_path):
    from flask_migrate import downgrade, upgrade

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        assert {"users", "shifts", "point_entries", "vouchers"} <= _table_names(url)
        downgrade(revision="base")
        assert _table_names(url) <= {"alembic_version"}
        db.engine.dispose()


@pytest.mark.postgres
def test_migrations_from_empty_to_head_on_postgres(postgres_url):
    # the session fixture created an empty database and upgraded it to head
    tables = _table_names(postgres_url)
    assert {"users", "teams", "shifts", "attendances", "point_entries", "rewards", "vouchers"} <= tables


def test_models_match_migrations(app):
    """Autogenerate finds nothing to add: the schema is built by migrations, not create_all."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_face_recognition_imports_with_the_pinned_setuptools():
    """face_recognition_models needs pkg_resources; without it the import silently quit()s with status 0."""
    code = "import face_recognition, dlib; print('imported', dlib.__version__)"
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and "imported" in result.stdout


def test_the_model_migration_comparison_sees_column_lengths(app):
    """The check above would have caught face_templates.model_version (varchar(20) for a 29-character value):
    a column whose length differs from the migrated one is reported, on SQLite and in the PostgreSQL run."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData, String

    changed = MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["face_templates"].c.model_version.type = String(20)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), changed)
    assert [(d[0][0], d[0][2], d[0][3], d[0][5].length, d[0][6].length) for d in diff] == [
        ("modify_type", "face_templates", "model_version", 60, 20)]


def test_migrating_down_and_up_keeps_the_rows_that_cascade_from_a_rebuilt_table(app, make_volunteer,
                                                                                make_coordinator):
    """SQLite's batch migrations rebuild a table (copy, DROP, rename): with foreign keys on, the DROP deleted every
    report's timeline and photos through ON DELETE CASCADE (0015 and 0016 rebuild ``reports``). PostgreSQL alters
    in place; the same round trip runs there too."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import func, select

    from tests.test_patrol_reports import LAT, LON, png_bytes
    from volunteer.models import ReportCategory, ReportEvent, ReportPhoto
    from volunteer.services import patrol_reports as pr

    pr.seed_categories()
    category = db.session.scalar(select(ReportCategory).where(ReportCategory.code == "safety.open_manhole"))
    report = pr.file_report(make_volunteer(), category_id=category.id, description="井盖缺失", latitude=LAT,
                            longitude=LON, accuracy_m=8.0, photos=[png_bytes()])
    pr.sign_report(make_coordinator(), report.id)

    def counts():
        return [db.session.scalar(select(func.count()).select_from(model)) for model in (ReportEvent, ReportPhoto)]

    before = counts()
    assert before == [2, 1]
    db.session.close()
    downgrade(revision="0014")
    assert counts() == before
    db.session.close()
    upgrade()
    assert counts() == before
