"""The Chinese interface speaks Chinese: no stored codes on pages or in the Chinese CSVs (the English CSVs keep
them), the audit log as a readable before → after table, 姓名 for a person's name."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.localtime import to_local
from tests.test_query_counts import statements_for
from volunteer.models import AuditEvent, EntryKind, PointEntry, Report, ReportCategory, Reward, TeamKind
from volunteer.services import attendance, ledger, merchants, points, rewards, shifts
from volunteer.services import patrol_reports as pr


def _csv(response) -> list[list[str]]:
    body = response.get_data()
    assert response.mimetype == "text/csv" and body.startswith("\ufeff".encode())  # the BOM: Excel reads UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _tbody(response) -> str:
    return response.get_data(as_text=True).split("<tbody>", 1)[1].split("</main>", 1)[0]


# --- points history ------------------------------------------------------------------------------------------

def test_points_history_shows_no_codes(app, client, login, make_volunteer, make_reward, time_machine):
    time_machine.move_to(datetime(2027, 3, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)
    volunteer = make_volunteer(points=300)
    voucher = rewards.redeem_reward(volunteer.id, make_reward(cost=100, title="灵隐门票").id, "a" * 32)
    rewards.cancel_voucher(volunteer.id, voucher.id)
    rewards.redeem_reward(volunteer.id, make_reward(cost=50, title="体检", validity_days=1).id, "b" * 32)
    rewards.expire_vouchers(utcnow() + timedelta(days=2))
    ledger.debit(volunteer.id, 10, EntryKind.EXPIRY, "expiry:test", note="earned before 2026-01-01")
    db.session.commit()
    login(volunteer)
    page = _tbody(client.get("/volunteer/points"))
    assert "兑换券退还：已取消" in page and "兑换券退还：已过期" in page
    assert "积分过期：2026-01-01 之前获得" in page
    assert "兑换奖品：灵隐门票" in page  # a title is shown as written
    for code in ("cancelled", "expired", "earned before"):
        assert code not in page, code


def test_a_persons_note_is_never_taken_for_a_code(app, make_volunteer, make_coordinator):
    """An adjustment whose reason happens to be "cancelled" keeps it: only the system's refund notes are codes."""
    coordinator = make_coordinator()
    volunteer = make_volunteer()
    entry = points.adjust_points(coordinator, volunteer.id, 5, "cancelled")
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert points.entry_label(db.session.get(PointEntry, entry.id)) == "协调员调整：cancelled"


def _useful_report(reporter, handler, team, code: str) -> None:
    """A report filed, handled and closed as useful: its points carry the category's Chinese name as their note."""
    category = db.session.scalar(select(ReportCategory).where(ReportCategory.code == code))
    report = pr.file_report(reporter, category_id=category.id, description="楼道里有人吵架，需要调解",
                            latitude=30.2590, longitude=120.1460, accuracy_m=12.0)
    pr.sign_report(handler, report.id)
    pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="请网格员到场")
    pr.handle_report(handler, report.id, note="已调解", photo=None)
    pr.close_report(handler, report.id, useful=True)


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_a_report_award_names_its_category_in_the_readers_language(app, client, login, make_volunteer, make_admin,
                                                                   team, locale):
    pr.seed_categories()
    reporter, handler = make_volunteer(), make_admin()
    codes = [c.code for c in db.session.scalars(select(ReportCategory).where(ReportCategory.parent_id.is_not(None))
                                                .order_by(ReportCategory.code)).all()[:3]]
    _useful_report(reporter, handler, team, codes[0])
    names = {c.code: c for c in db.session.scalars(select(ReportCategory).where(ReportCategory.code.in_(codes)))}
    login(reporter)
    client.post(f"/language/{locale}")
    page = _tbody(client.get("/volunteer/points"))
    first = names[codes[0]]
    if locale == "en":
        assert f"Patrol report confirmed useful: {first.name_en}" in page and first.name_zh not in page
    else:
        assert f"：{first.name_zh}</td>" in page and first.name_en not in page
    one = statements_for(client, "/volunteer/points")
    for code in codes[1:]:
        _useful_report(reporter, handler, team, code)
    assert statements_for(client, "/volunteer/points") == one  # one batch query for the page, not one a row
    if locale == "en":
        assert all(names[c].name_en in _tbody(client.get("/volunteer/points")) for c in codes)


def test_a_note_that_is_not_the_reports_category_is_shown_as_written(app, make_volunteer, make_admin, team):
    """A report moved to another category after its award: the entry keeps the name it was awarded under."""
    pr.seed_categories()
    reporter, handler = make_volunteer(), make_admin()
    codes = [c.code for c in db.session.scalars(select(ReportCategory).where(ReportCategory.parent_id.is_not(None))
                                                .order_by(ReportCategory.code)).all()[:2]]
    _useful_report(reporter, handler, team, codes[0])
    report = db.session.scalar(select(Report))
    old_name = report.category.name_zh
    report.category_id = db.session.scalar(select(ReportCategory.id).where(ReportCategory.code == codes[1]))
    db.session.commit()
    entry = db.session.scalar(select(PointEntry).where(PointEntry.user_id == reporter.id))
    with app.test_request_context():
        label = points.entry_labels([entry], "en")[entry.id]
    assert label.endswith(old_name) and report.category.name_en not in label


def test_chinese_headings_use_the_full_width_colon(app, client, login, make_volunteer):
    login(make_volunteer(points=460))
    page = client.get("/volunteer/points").get_data(as_text=True)
    assert "<h1>我的积分：460</h1>" in page and "我的积分: " not in page
    client.post("/language/en")
    assert "<h1>My points: 460</h1>" in client.get("/volunteer/points").get_data(as_text=True)


# --- team levels, people's names -----------------------------------------------------------------------------

def test_team_levels_are_words(app, client, login, make_admin, team):
    login(make_admin())
    page = client.get("/admin/teams").get_data(as_text=True)
    assert '<span class="muted">区</span>' in page and '<span class="muted">街道</span>' in page
    assert '<option value="community" >社区</option>' in page and '<option value="grid" >网格</option>' in page
    for code in (">district<", ">street<", ">community<", ">grid<"):
        assert code not in page


def test_a_persons_name_is_xingming(app, client, login, make_admin):
    login(make_admin())
    page = client.get("/admin/users").get_data(as_text=True)
    assert "<th>姓名</th>" in page and "<th>名称</th>" not in page


# --- the audit log -----------------------------------------------------------------------------------------

def test_the_audit_log_is_a_readable_before_after_table(app, client, login, make_admin, make_coordinator,
                                                        make_shift, make_volunteer, make_merchant):
    admin, coordinator = make_admin("管理员"), make_coordinator()
    shift = make_shift(capacity=5, title="北山街夜巡")
    login(coordinator)
    assert client.post(f"/coordinator/shifts/{shift.id}/edit", data={
        "title": "北山街夜巡", "place_name": "北山街", "latitude": "30.259", "longitude": "120.145",
        "radius_m": "300", "capacity": "8", "points_per_hour": "10", "description": "",
        "starts_at": to_local(shift.starts_at).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": to_local(shift.ends_at).strftime("%Y-%m-%dT%H:%M")}).status_code == 302
    client.post("/logout")
    merchant, volunteer = make_merchant(), make_volunteer("被停用的人")
    login(admin)
    assert client.post("/admin/rewards", data={
        "merchant_id": merchant.id, "title": "体检", "category": "health", "points_cost": "300", "stock": "",
        "validity_days": "30", "min_star": "0", "per_volunteer_limit": "", "limit_period_days": "30",
        "description": ""}).status_code == 302
    reward = db.session.scalar(select(Reward).where(Reward.title == "体检"))
    client.post(f"/admin/rewards/{reward.id}/status", data={"status": "retired"})
    client.post(f"/admin/users/{volunteer.id}/enabled", data={"enabled": "0"})
    page = _tbody(client.get("/admin/audit"))
    assert "\\u" not in page and "{&#34;" not in page and '{"' not in page  # no JSON
    for code in ("shift.edit", "catalog.status", "account.disable", "catalog.create"):
        assert code not in page, code
    # the shift edit: only what changed, before and after
    assert "修改班次" in page and "<th>变更前</th><th>变更后</th>" in page
    assert '<th scope="row">名额</th><td>5</td><td>→ 8</td>' in page
    assert '<th scope="row">名称</th>' not in page.split("修改班次", 1)[1].split("</table>", 1)[0]  # unchanged
    # a status: labels, not codes
    assert '<th scope="row">状态</th><td>在售</td><td>→ 已下架</td>' in page
    assert '<th scope="row">启用</th><td>是</td><td>→ 否</td>' in page
    assert "被停用的人 (用户 #%d)" % volunteer.id in page
    # a reward added: its facts, the category as a word
    assert '<th scope="row">类别</th><td>健康体检</td>' in page.split("新增奖品", 1)[1]


def test_typed_text_that_only_looks_like_a_moment_is_shown_as_typed(app, make_admin):
    """A title "9999-12-31T23:59:59" matches the moment pattern but has no local time: 8 hours later is year 10000 (found by the fuzzer)."""
    from volunteer.services import admin as admin_service

    event = AuditEvent(actor_id=make_admin().id, action="catalog.create", target="reward:1",
                       details={"after": {"title": "9999-12-31T23:59:59", "on_sale_from": "2026-12-01T02:00:00+00:00"}})
    changes = {c.label: c.after for c in admin_service.describe_event(event).changes}
    assert "9999-12-31T23:59:59" in changes.values() and "2026-12-01 10:00" in changes.values()


def test_every_audited_action_has_a_name():
    """A new audit.record(...) action without a readable name would show its code to the admin."""
    import pathlib
    import re

    from volunteer.services import admin

    package = pathlib.Path(__file__).resolve().parent.parent / "volunteer"
    source = "\n".join(p.read_text() for p in package.rglob("*.py"))
    recorded = set(re.findall(r'"([a-z_]+\.[a-z_]+)"', "\n".join(
        re.findall(r"audit\.record\([^\n]*(?:\n[^\n]*){0,1}", source))))
    assert recorded and recorded <= set(admin.ACTION_LABELS), recorded - set(admin.ACTION_LABELS)


# --- CSV exports ---------------------------------------------------------------------------------------------

@pytest.fixture
def history(app, make_team, make_volunteer, make_coordinator, make_shift, make_staff, make_reward, end_shift):
    """One volunteer with an approved manual record, a used voucher and a cancelled one."""
    district = make_team("西湖区", TeamKind.DISTRICT)
    coordinator = make_coordinator(managed=[district])
    volunteer = make_volunteer("张建华", teams=[district], points=500)
    shift = make_shift(team_=district, title="断桥巡逻", hours=2, rate=10, creator=coordinator)
    shifts.sign_up(volunteer, shift.id)
    end_shift(shift)
    attendance.approve_attendance(coordinator, attendance.record_manual(coordinator, shift.id, volunteer.id).id)
    staff = make_staff()
    used = rewards.redeem_reward(volunteer.id, make_reward(merchant=staff.merchant, cost=100, title="停车月卡").id,
                                 "c" * 32)
    merchants.honour_voucher(staff, used.code)
    cancelled = rewards.redeem_reward(volunteer.id, make_reward(merchant=staff.merchant, cost=60, category="scenic",
                                                                title="灵隐门票").id, "d" * 32)
    rewards.cancel_voucher(volunteer.id, cancelled.id)
    return coordinator, volunteer, staff


ZH_HEADERS = {
    "volunteers": ["志愿者编号", "姓名", "手机号码", "队伍", "认定服务时长（小时）", "星级", "积分余额", "注册时间"],
    "attendance": ["记录编号", "班次", "队伍", "班次开始时间", "志愿者", "手机号码", "签到方式", "状态", "签到时间",
                   "签退时间", "计入分钟数", "获得积分", "异常标记"],
    "ledger": ["流水号", "时间", "志愿者", "手机号码", "类型", "积分", "说明", "来源编号"],
    "redemptions": ["兑换券编号", "兑换时间", "志愿者", "手机号码", "奖品", "类别", "商户", "积分", "状态", "核销时间"],
}


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_the_chinese_csvs_have_chinese_headers_and_labels(app, client, login, history, locale):
    coordinator = history[0]
    login(coordinator)
    client.post(f"/language/{locale}")  # lang=zh is Chinese whatever the page's language
    tables = {kind: _csv(client.get(f"/admin/exports/{kind}.csv?lang=zh")) for kind in ZH_HEADERS}
    assert {kind: rows[0] for kind, rows in tables.items()} == ZH_HEADERS
    assert [r[6:8] + r[12:] for r in tables["attendance"][1:]] == [["人工登记", "已通过", "人工登记"]]
    assert [(r[4], r[5], r[6]) for r in tables["ledger"][1:]] == [
        ("协调员调整", "500", "test"), ("巡逻班次", "20", "断桥巡逻"), ("兑换奖品", "-100", "停车月卡"),
        ("兑换奖品", "-60", "灵隐门票"), ("兑换券退还", "60", "已取消")]
    assert [(r[4], r[5], r[8]) for r in tables["redemptions"][1:]] == [("停车月卡", "停车月卡", "已使用"),
                                                                     ("灵隐门票", "景区门票", "已取消")]


def test_the_english_csvs_keep_the_codes(app, client, login, history):
    login(history[0])
    from volunteer.services import reports

    tables = {kind: _csv(client.get(f"/admin/exports/{kind}.csv?lang=en")) for kind in ZH_HEADERS}
    assert {kind: rows[0] for kind, rows in tables.items()} == reports.EXPORT_COLUMNS
    assert [r[6:8] + r[12:] for r in tables["attendance"][1:]] == [["manual", "approved", "manual"]]
    assert [(r[4], r[6]) for r in tables["ledger"][1:]][-1] == ("refund", "cancelled")
    assert [(r[5], r[8]) for r in tables["redemptions"][1:]] == [("parking", "redeemed"), ("scenic", "cancelled")]


def test_the_csv_language_follows_the_page_unless_asked(app, client, login, history):
    login(history[0])
    client.post("/language/zh_CN")
    assert _csv(client.get("/admin/exports/ledger.csv"))[0] == ZH_HEADERS["ledger"]
    assert _csv(client.get("/admin/exports/ledger.csv?lang=xx"))[0] == ZH_HEADERS["ledger"]
    client.post("/language/en")
    assert _csv(client.get("/admin/exports/ledger.csv"))[0][0] == "id"


def test_the_settlement_csv_in_both_languages(app, client, login, history):
    staff = history[2]
    month = to_local(utcnow()).strftime("%Y-%m")
    login(staff)
    zh = _csv(client.get(f"/merchant/settlement.csv?month={month}&lang=zh"))
    assert zh[0] == ["月份", "奖品编号", "奖品", "已核销", "积分价值"] and zh[-1][2:] == ["合计", "1", "100"]
    en = _csv(client.get(f"/merchant/settlement.csv?month={month}&lang=en"))
    assert en[0] == ["month", "reward_id", "reward", "redeemed", "points"] and en[-1][2:] == ["Total", "1", "100"]
