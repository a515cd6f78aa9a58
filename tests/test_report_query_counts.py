"""SQL statements of the report maps, figures and Open311 pages stay constant as reports grow (no N+1)."""

from __future__ import annotations

from sqlalchemy import select

from tests.test_patrol_reports import LAT, LON, png_bytes
from tests.test_query_counts import statements_for
from volunteer.extensions import db
from volunteer.models import ReportCategory
from volunteer.services import patrol_reports as pr

CODES = ["safety.open_manhole", "environment.litter", "dispute.traffic", "fire.ebike_indoor"]


def _reports(reporter, handler, count: int) -> None:
    categories = {c.code: c for c in db.session.scalars(select(ReportCategory).where(ReportCategory.code.in_(CODES)))}
    for i in range(count):
        report = pr.file_report(reporter, category_id=categories[CODES[i % len(CODES)]].id, description=f"第{i}处",
                                latitude=LAT + i / 1000, longitude=LON, photos=[png_bytes()] if i % 2 else [])
        if i % 3 == 1:
            pr.sign_report(handler, report.id)


PAGES = ["/reports/map", "/reports/speed", "/admin/dashboard", "/open311/v2/requests.json",
         "/open311/v2/services.json"]


def test_report_pages_keep_their_statement_counts(app, client, login, make_volunteer, make_admin):
    pr.seed_categories()
    reporter, admin = make_volunteer(), make_admin()
    _reports(reporter, admin, 2)
    login(admin)
    small = {path: statements_for(client, path) for path in PAGES}
    _reports(reporter, admin, 14)
    large = {path: statements_for(client, path) for path in PAGES}
    assert large == small
    client.post("/logout")
    login(reporter)
    mine_small = statements_for(client, "/reports/mine/map")
    _reports(reporter, admin, 6)
    assert statements_for(client, "/reports/mine/map") == mine_small
