"""Demo merchants, shifts, a six-category catalog and some history for `make run`."""

from __future__ import annotations

from datetime import datetime, timedelta

from volunteer.extensions import db
from volunteer.models import (
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    Category,
    Merchant,
    Reward,
    Shift,
    Signup,
    SignupStatus,
)
from volunteer.services import ledger

#: the sponsors, as a district would have them: the demo's merchant staff work for the first
MERCHANTS = [
    ("parking", "西湖停车服务公司", "杭州市西湖区北山街 1 号"),
    ("scenic", "西湖景区灵隐管理处", "杭州市西湖区灵隐路 1 号"),
    ("health", "西湖区健康体检中心", "杭州市西湖区文三路 100 号"),
    ("bank", "西湖农商银行北山支行", "杭州市西湖区北山街 50 号"),
    ("supermarket", "联华超市保俶路店", "杭州市西湖区保俶路 20 号"),
    ("shop", "北山街平安文创小店", "杭州市西湖区北山街 8 号"),
]

REWARDS = [
    (Category.PARKING, "parking", "北山街停车场月卡", 600, 20, "西湖景区北山街停车场一个月停车。"),
    # within the first demo volunteer's balance: a new user can redeem one and show it at the demo merchant's till
    (Category.PARKING, "parking", "北山街停车场 2 小时停车券", 100, 50, "西湖景区北山街停车场停车 2 小时。"),
    (Category.SCENIC, "scenic", "灵隐飞来峰门票", 150, 50, "灵隐飞来峰景区门票一张。"),
    (Category.HEALTH, "health", "基础健康体检", 400, 30, "基础健康体检一次，含血常规、心电图。"),
    (Category.SHOPPING, "supermarket", "联华超市 50 元代金券", 200, None, "满 100 元可用。"),
    (Category.LOAN, "bank", "创业贷款利率优惠 0.5%", 1000, 10, "北山支行创业贷款利率下浮 0.5 个百分点。"),
    (Category.GOODS, "shop", "平安志愿者保温杯", 80, 100, "印有平安志愿标识的保温杯。"),
]


def seed_merchants() -> dict[str, Merchant]:
    """The demo's merchants by key (a helper: flushes, does not commit)."""
    merchants = {key: Merchant(name=name, address=address) for key, name, address in MERCHANTS}
    db.session.add_all(merchants.values())
    db.session.flush()
    return merchants


def seed_activity(people, community, merchants: dict[str, Merchant], now: datetime) -> None:
    """Shifts this week, a catalog, and one approved shift with points for the first volunteer."""
    coordinator = people["13800000002"]
    volunteers = [people[m] for m in ("13800000004", "13800000005", "13800000006")]
    start = now.replace(minute=0, second=0, microsecond=0)
    place = dict(place_name="北山街 · 断桥", latitude=30.2590, longitude=120.1450, radius_m=300)
    today = Shift(team_id=community.id, title="断桥周边治安巡逻", starts_at=start - timedelta(minutes=30),
                  ends_at=start + timedelta(hours=2), capacity=6, points_per_hour=10, created_by_id=coordinator.id,
                  **place)
    upcoming = [Shift(team_id=community.id, title=title, starts_at=start + timedelta(days=d, hours=h),
                      ends_at=start + timedelta(days=d, hours=h + 3), capacity=cap, points_per_hour=10,
                      created_by_id=coordinator.id, **place)
                for d, h, title, cap in ((1, 1, "宝石山夜间巡逻", 4), (2, 3, "北山街文明劝导", 8),
                                         (4, 2, "西湖边防溺水巡查", 2))]
    past = Shift(team_id=community.id, title="宝石社区消防巡查", starts_at=start - timedelta(days=3),
                 ends_at=start - timedelta(days=3) + timedelta(hours=3), capacity=5, points_per_hour=10,
                 created_by_id=coordinator.id, **place)
    db.session.add_all([today, *upcoming, past])
    db.session.flush()
    for volunteer in volunteers:
        db.session.add(Signup(shift_id=today.id, user_id=volunteer.id, status=SignupStatus.CONFIRMED, queued_at=now))
    today.confirmed_count = len(volunteers)
    db.session.add(Signup(shift_id=past.id, user_id=volunteers[0].id, status=SignupStatus.CONFIRMED, queued_at=now))
    past.confirmed_count = 1
    record = Attendance(shift_id=past.id, user_id=volunteers[0].id, method=AttendanceMethod.MANUAL,
                        status=AttendanceStatus.APPROVED, check_in_at=past.starts_at, check_out_at=past.ends_at,
                        minutes_credited=180, points_awarded=30, flags="manual", recorded_by_id=coordinator.id,
                        reviewed_by_id=coordinator.id, reviewed_at=now)
    db.session.add(record)
    db.session.flush()
    ledger.credit(volunteers[0].id, 30, "shift_award", f"attendance:{record.id}", note=past.title)
    ledger.add_minutes(volunteers[0].id, 180, "shift_award", f"attendance:{record.id}")
    ledger.credit(volunteers[0].id, 500, "legacy_import", "demo:legacy:1", note="2.0 平台积分迁移")
    ledger.add_minutes(volunteers[0].id, 110 * 60, "legacy_import", "demo:legacy:1")
    for category, merchant, title, cost, stock, description in REWARDS:
        db.session.add(Reward(merchant_id=merchants[merchant].id, category=category, title=title, points_cost=cost,
                              stock=stock, description=description,
                              per_volunteer_limit=2 if category == Category.PARKING else None))


def seed_reports(people, street, community, now: datetime) -> None:
    """Team areas and a few patrol reports in different states (a helper: flushes, does not commit)."""
    from sqlalchemy import select

    from volunteer.models import EventAction, Report, ReportCategory, ReportEvent, ReportState
    from volunteer.services.patrol_reports.categories import add_missing_categories
    from volunteer.services.patrol_reports.common import deadline

    add_missing_categories()
    street.area_latitude, street.area_longitude, street.area_radius_m = 30.2590, 120.1450, 2000
    community.area_polygon = [[30.2545, 120.1395], [30.2545, 120.1520], [30.2635, 120.1520], [30.2635, 120.1395]]
    coordinator = people["13800000002"]
    reporter, other = people["13800000004"], people["13800000005"]
    categories = {c.code: c for c in db.session.scalars(select(ReportCategory))}
    samples = [  # (category, reporter, team, minutes ago, state, description, lat, lon)
        ("fire.ebike_indoor", reporter, street, 20, ReportState.NEW, "宝石山下一弄 3 号楼道内有电动车在充电。",
         30.2601, 120.1442),
        ("safety.open_manhole", other, community, 150, ReportState.SIGNED, "保俶路人行道井盖缺失，已放锥桶。",
         30.2588, 120.1463),
        ("dispute.neighbour", reporter, community, 60 * 26, ReportState.CLOSED, "楼上楼下因噪音争吵，已劝开。",
         30.2579, 120.1455),
    ]
    for code, who, team, ago, state, text, lat, lon in samples:
        category = categories[code]
        created = now - timedelta(minutes=ago)
        report = Report(reporter_id=who.id, category_id=category.id, team_id=team.id, description=text,
                        latitude=lat, longitude=lon, accuracy_m=12.0, state=state, clock_from=created,
                        due_at=deadline(category, state, created), created_at=created)
        events = [(EventAction.CREATED, None, ReportState.NEW, who.id, created, "")]
        if state != ReportState.NEW:
            report.signed_at, report.signed_by_id = created + timedelta(seconds=50), coordinator.id
            events.append((EventAction.SIGNED, ReportState.NEW, ReportState.SIGNED, coordinator.id,
                           report.signed_at, ""))
        if state == ReportState.CLOSED:
            report.dispatched_at, report.assigned_team_id = created + timedelta(minutes=10), community.id
            report.handled_at, report.handled_by_id = created + timedelta(hours=2), coordinator.id
            report.closed_at, report.closed_by_id = created + timedelta(hours=3), coordinator.id
            report.status_note, report.confirmed_useful = "社区调解员已上门调解，双方达成谅解。", True
            events += [(EventAction.DISPATCHED, ReportState.SIGNED, ReportState.DISPATCHED, coordinator.id,
                        report.dispatched_at, "请社区调解员跟进"),
                       (EventAction.HANDLED, ReportState.DISPATCHED, ReportState.HANDLED, coordinator.id,
                        report.handled_at, report.status_note),
                       (EventAction.CLOSED, ReportState.HANDLED, ReportState.CLOSED, coordinator.id,
                        report.closed_at, "")]
        db.session.add(report)
        db.session.flush()
        for action, before, after, actor, at, note in events:
            db.session.add(ReportEvent(report_id=report.id, actor_id=actor, action=action, from_state=before,
                                       to_state=after, note=note, created_at=at,
                                       team_id=community.id if action == EventAction.DISPATCHED else None))
        if report.confirmed_useful:
            report.points_awarded = category.points
            ledger.credit(who.id, category.points, "report_award", f"report:{report.id}", note=category.name_zh,
                          actor_id=coordinator.id)
    db.session.flush()
