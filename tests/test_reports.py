"""Dashboard, exports, audit entries, certificates and their verification, the legacy importer."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from volunteer import forms
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import AuditEvent, HourEntry, PointEntry, Role, TeamKind, User
from volunteer.services import (
    accounts,
    attendance,
    certificates,
    face_id,
    legacy_import,
    points,
    reports,
    rewards,
    shifts,
    stars,
)

pytestmark = pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")


def _read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def two_teams(app, make_team, make_volunteer, make_coordinator, make_shift, make_reward, end_shift):
    district = make_team("西湖区", TeamKind.DISTRICT)
    street = make_team("北山街道", TeamKind.STREET, district)
    ours, theirs = make_team("宝石社区", TeamKind.COMMUNITY, street), make_team("曙光社区", TeamKind.COMMUNITY, street)
    coordinator = make_coordinator(managed=[ours])
    mine, other = make_volunteer("我队员", teams=[ours], points=500), make_volunteer("他队员", teams=[theirs], points=500)
    for team, person in ((ours, mine), (theirs, other)):
        shift = make_shift(team_=team, hours=2, rate=10)
        shifts.sign_up(person, shift.id)
        end_shift(shift)
        record = attendance.record_manual(coordinator if team is ours else make_coordinator("他队", managed=[theirs]),
                                          shift.id, person.id)
        attendance.approve_attendance(db.session.get(User, record.recorded_by_id), record.id)
        rewards.redeem_reward(person.id, make_reward(cost=100).id, f"k{person.id}")
    return coordinator, mine, other, ours


def test_exports_have_their_columns_and_the_coordinators_scope(app, two_teams):
    coordinator, mine, other, ours = two_teams
    everything = reports.ExportFilter(None, None, None)
    for kind, columns in reports.EXPORT_COLUMNS.items():
        rows = reports.export_rows(coordinator, kind, everything)
        assert rows and all(len(r) == len(columns) for r in rows), kind
        names = {str(cell) for row in rows for cell in row}
        assert "他队员" not in names, kind  # another team's volunteer never appears
    volunteers = reports.export_rows(coordinator, "volunteers", everything)
    assert volunteers == [[mine.id, "我队员", mine.mobile, "宝石社区", 2.0, 0, 500 + 20 - 100,
                           volunteers[0][7]]]


def test_exports_filter_by_date(app, two_teams):
    coordinator = two_teams[0]
    tomorrow = (utcnow() + timedelta(days=3)).date()
    assert reports.export_rows(coordinator, "ledger", reports.ExportFilter(None, tomorrow, None)) == []
    assert len(reports.export_rows(coordinator, "ledger", reports.ExportFilter(None, None, tomorrow))) == 3


def test_admin_sees_everything_and_the_csv_has_a_bom(app, client, login, two_teams, make_admin):
    login(make_admin())
    response = client.get("/admin/exports/attendance.csv?lang=en")
    rows = _read_csv(response.get_data())
    assert rows[0] == reports.EXPORT_COLUMNS["attendance"]
    assert {r[4] for r in rows[1:]} == {"我队员", "他队员"}
    assert client.get("/admin/exports/secrets.csv").status_code == 404


def test_a_coordinator_cannot_export_another_team(app, client, login, two_teams, make_team):
    coordinator = two_teams[0]
    theirs = db.session.scalar(select(reports.Team).where(reports.Team.name == "曙光社区"))
    login(coordinator)
    rows = _read_csv(client.get(f"/admin/exports/volunteers.csv?team={theirs.id}&lang=en").get_data())
    assert rows == [reports.EXPORT_COLUMNS["volunteers"]]


@pytest.fixture
def mid_march(time_machine):
    """The clock stopped on 16 March 2026, 10:00 in Hangzhou (list it before the fixtures that make data)."""
    time_machine.move_to(datetime(2026, 3, 16, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)


def test_dashboard_figures(mid_march, app, client, login, two_teams, make_volunteer, make_shift, time_machine,
                           end_shift):
    coordinator, mine, other, ours = two_teams  # mine: 2 hours and 20 points approved in March, 100 points spent
    make_volunteer("从没来过", teams=[ours])  # registered, never active
    february = make_volunteer("二月来过", teams=[ours])  # active in February only
    time_machine.move_to(datetime(2026, 2, 10, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    shift = make_shift(team_=ours, hours=2, rate=10)
    shifts.sign_up(february, shift.id)
    end_shift(shift)
    attendance.approve_attendance(coordinator, attendance.record_manual(coordinator, shift.id, february.id).id)
    time_machine.move_to(datetime(2026, 3, 16, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    d = reports.dashboard(coordinator)
    assert d.registered == 3 and d.active_this_month == 1
    months = ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
    assert d.hours_by_month == [reports.MonthFigure(m, v) for m, v in zip(months, [0, 0, 0, 0, 2, 2])]
    assert [f.value for f in d.points_issued_by_month] == [0, 0, 0, 0, 20, 20]
    assert [f.value for f in d.points_redeemed_by_month] == [0, 0, 0, 0, 0, 100]
    assert d.top_teams == [("宝石社区", 4)]
    login(coordinator)
    body = client.get("/admin/dashboard").get_data(as_text=True)
    assert "<svg" in body and "宝石社区" in body


def test_dashboard_leaves_out_cancelled_and_refunded_redemptions(mid_march, app, make_team, make_volunteer,
                                                                  make_coordinator, make_reward, make_staff):
    """Spent on rewards: a used voucher, one not yet used and one that expired without a refund count; a cancelled
    voucher and one refunded on expiry gave the points back and count for nothing (neither in points nor by
    category)."""
    district = make_team("西湖区", TeamKind.DISTRICT)
    coordinator, volunteer = make_coordinator(managed=[district]), make_volunteer(teams=[district], points=1000)
    used = make_reward(category="parking", cost=100)
    unused = make_reward(category="goods", cost=7)
    cancelled = make_reward(category="scenic", cost=50)
    refunded = make_reward(category="health", cost=30, validity_days=1, refund_on_expiry=True)
    lapsed = make_reward(category="shopping", cost=20, validity_days=1, refund_on_expiry=False)
    vouchers = {r.id: rewards.redeem_reward(volunteer.id, r.id, f"{r.id:032x}")
                for r in (used, unused, cancelled, refunded, lapsed)}
    from volunteer.services import merchants

    merchants.honour_voucher(make_staff(merchant=used.merchant), vouchers[used.id].code)
    rewards.cancel_voucher(volunteer.id, vouchers[cancelled.id].id)
    assert rewards.expire_vouchers(utcnow() + timedelta(days=2)) == 2  # refunded and lapsed; unused is still valid
    d = reports.dashboard(coordinator)
    assert [f.value for f in d.points_redeemed_by_month] == [0, 0, 0, 0, 0, 100 + 7 + 20]
    assert d.redemptions_by_category == [("goods", 1), ("parking", 1), ("shopping", 1)]


def test_every_sensitive_action_is_audited(app, make_admin, make_volunteer, make_coordinator, make_shift,
                                           make_merchant, photos, end_shift):
    from tests.facekit import obama_enrolment

    admin = make_admin()
    accounts.create_user(admin, "新协调员", "13911110000", "Strong-pass-9", Role.COORDINATOR)
    volunteer, coordinator = make_volunteer(), make_coordinator()
    shift = make_shift()
    shifts.sign_up(volunteer, shift.id)
    end_shift(shift)
    record = attendance.record_manual(coordinator, shift.id, volunteer.id)
    attendance.approve_attendance(coordinator, record.id)
    attendance.reject_attendance(coordinator, record.id, "重复")
    points.adjust_points(coordinator, volunteer.id, 5, "补录")
    face_id.give_consent(volunteer.id)
    face_id.enrol(volunteer.id, obama_enrolment())
    face_id.delete_face_data(volunteer, volunteer.id)
    reward = rewards.save_reward(admin, make_merchant().id, forms.parse(forms.RewardForm, {
        "title": "体检", "category": "health", "points_cost": "300", "stock": "", "validity_days": "30",
        "min_star": "0", "limit_period_days": "30"}).details())
    rewards.set_reward_status(admin, reward.id, rewards.RewardStatus.RETIRED)
    accounts.set_enabled(admin, volunteer.id, False)
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"account.create", "attendance.manual", "attendance.approve", "attendance.reject", "points.adjust",
            "face.enrol", "face.delete", "catalog.create", "catalog.status", "account.disable"} <= actions
    status_change = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "catalog.status"))
    assert status_change.details == {"before": "active", "after": "retired"} and status_change.actor_id == admin.id


def test_audit_log_is_searchable_by_person_and_action(app, client, login, make_admin, make_volunteer):
    admin = make_admin()
    volunteer = make_volunteer("被停用的人")
    accounts.set_enabled(admin, volunteer.id, False)
    login(admin)

    def rows(query: str) -> str:
        return client.get(f"/admin/audit?{query}").get_data(as_text=True).split("<tbody>", 1)[1]

    assert "停用账号" in rows("person=被停用") and "被停用的人 (用户 #%d)" % volunteer.id in rows("person=被停用")
    assert "停用账号" in rows("action=account.disable")
    assert "停用账号" not in rows("action=face.enrol")


# --- certificates -------------------------------------------------------------------------------------------

def test_certificate_pdf_and_its_public_verification(app, client, login, two_teams):
    _, mine, _, _ = two_teams
    login(mine)
    response = client.post("/volunteer/certificate", follow_redirects=True)
    assert response.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.get_data())).pages)
    for expected in ("志愿服务记录证明", "我队员", "2.0", "宝石社区", mine.mobile[:3] + "****" + mine.mobile[-4:],
                     "杭州市西湖区平安志愿者协会"):
        assert expected in text, expected
    code = certificates.find_certificate(text.split("验证码 / Verification code")[1].split()[0]).code
    public = app.test_client()
    page = public.get(f"/verify/{code}").get_data(as_text=True)
    assert "我*员" in page and "我队员" not in page and "2.0" in page and "宝石社区" not in page
    assert public.get("/verify/NOSUCHCODE99").status_code == 404


# --- legacy import ------------------------------------------------------------------------------------------

GOOD = """record_id,name,mobile,team,hours,service_date
A-001,王秀兰,13700000001,宝石社区,120.5,2019-05-01
A-002,王秀兰,13700000001,宝石社区,20,2020-01-01
B-001,陈立新,137-0000-0002,宝石社区,45,
"""

BAD = """record_id,name,mobile,team,hours,service_date
A-001,王秀兰,13700000001,宝石社区,120.5,2019-05-01
A-002,,13700000001,宝石社区,20,2020-01-01
A-003,李四,2370000000,宝石社区,5,2020-01-01
A-004,赵六,13700000004,不存在的社区,5,2020-01-01
A-005,钱七,13700000005,宝石社区,abc,2020-01-01
A-006,孙八,13700000006,宝石社区,-3,2020-13-01
A-001,周九,13700000007,宝石社区,3,2020-01-01
"""


@pytest.fixture
def community(app, make_team):
    district = make_team("西湖区", TeamKind.DISTRICT)
    street = make_team("北山街道", TeamKind.STREET, district)
    return make_team("宝石社区", TeamKind.COMMUNITY, street)


def test_import_reports_every_bad_row_and_imports_nothing(app, community, make_admin):
    report = legacy_import.import_legacy(make_admin(), BAD.encode())
    lines = dict(report.errors)
    assert sorted(lines) == [3, 4, 5, 6, 7, 8]
    assert "name is empty" in lines[3]
    assert "not an 11-digit mainland number" in lines[4]
    assert "team 不存在的社区 does not exist" in lines[5]
    assert "hours abc is not a number" in lines[6]
    assert "hours -3" in lines[7] and "service_date 2020-13-01" in lines[7]
    assert "record_id A-001 appears twice" in lines[8]
    assert db.session.scalar(select(func.count(HourEntry.id))) == 0
    assert db.session.scalar(select(func.count(User.id)).where(User.mobile.like("137%"))) == 0


def test_import_is_all_or_nothing_then_idempotent(app, community, make_admin):
    admin = make_admin()
    first = legacy_import.import_legacy(admin, GOOD.encode())
    assert (first.errors, first.created_users, first.hour_rows) == ([], 2, 3)
    again = legacy_import.import_legacy(admin, GOOD.encode("gb18030"))  # Excel's Chinese encoding
    assert (again.hour_rows, again.skipped_rows, again.created_users) == (0, 3, 0)
    wang = db.session.scalar(select(User).where(User.mobile == "13700000001"))
    assert wang.service_minutes == round(140.5 * 60) and stars.star_level(wang.service_minutes) == 1
    assert wang.points_balance == 0  # imported hours earn no points by default
    assert db.session.scalar(select(func.count(HourEntry.id))) == 3


@pytest.mark.app_config(IMPORTED_HOURS_EARN_POINTS=True)
def test_imported_hours_can_earn_points(app, community, make_admin):
    legacy_import.import_legacy(make_admin(), GOOD.encode())
    chen = db.session.scalar(select(User).where(User.mobile == "13700000002"))
    assert chen.points_balance == 45 * legacy_import.LEGACY_POINTS_PER_HOUR
    assert db.session.scalar(select(func.count(PointEntry.id))) == 3


def test_import_page_lists_problems_by_line(app, client, login, community, make_admin):
    login(make_admin())
    client.post("/language/en")
    response = client.post("/admin/import", data={"file": (io.BytesIO(BAD.encode()), "old.csv")})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "Nothing was imported: 6 rows have problems." in body
