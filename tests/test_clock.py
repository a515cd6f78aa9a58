"""One clock: every "today", month, day filter and displayed time uses the configured zone (Hangzhou by default).

The awkward instants are frozen: 16:30 UTC on 30 November 2026 is already 00:30 on 1 December in Hangzhou, and
23:30 UTC is 07:30 there; in between, the UTC date, the server's date and the Hangzhou date disagree. Every test
here runs twice, with the server's own TZ set to UTC and to America/New_York: neither may change a thing.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask import render_template_string
from sqlalchemy import select

from tests.conftest import both_databases
from volunteer import config as config_module
from volunteer import localtime
from volunteer.extensions import db
from volunteer.models import Attendance, AttendanceMethod, AttendanceStatus, EntryKind, PointEntry, Shift, User, Voucher
from volunteer.services import home, ledger, merchants, points, reports, shifts

SETUP = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 23:00 on 30 November in Hangzhou
NOV_30_2350 = datetime(2026, 11, 30, 15, 50, tzinfo=UTC)  # 23:50 on 30 November in Hangzhou
DEC_01_0010 = datetime(2026, 11, 30, 16, 10, tzinfo=UTC)  # 00:10 on 1 December in Hangzhou
#: 00:30 and 07:30 on 1 December in Hangzhou; still 30 November in UTC and in New York
INSTANTS = pytest.mark.parametrize("now", [datetime(2026, 11, 30, 16, 30, tzinfo=UTC),
                                           datetime(2026, 11, 30, 23, 30, tzinfo=UTC)],
                                   ids=["0030-hangzhou", "0730-hangzhou"])


@pytest.fixture(autouse=True, params=["UTC", "America/New_York"])
def server_tz(request):
    """The server's own zone (what date.today() and time.localtime() use), restored afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


@dataclass
class World:
    """People, shifts and ledger entries on both sides of Hangzhou's midnight, 30 November → 1 December."""

    traveller: time_machine.Coordinates
    admin: User
    staff: User
    early: User  # acted at 23:50 on 30 November (Hangzhou)
    late: User  # acted at 00:10 on 1 December (Hangzhou)
    reward_nov: int
    reward_dec: int


def _redeem(staff: User, user: User, reward, code: str) -> None:
    """A voucher issued and honoured at the frozen instant (the ledger debit included)."""
    ledger.debit(user.id, reward.points_cost, EntryKind.REDEMPTION, f"redeem:{user.id}:{code}", note=reward.title)
    db.session.add(Voucher(code=code, reward_id=reward.id, user_id=user.id, points_cost=reward.points_cost,
                           expires_at=localtime.local_midnight(date(2027, 1, 1)), idempotency_key=code))
    db.session.commit()
    merchants.honour_voucher(staff, code)


@pytest.fixture
def world(app, team, make_volunteer, make_coordinator, make_staff, make_reward, make_admin, make_shift):
    with time_machine.travel(SETUP, tick=False) as traveller:
        admin, staff, coordinator = make_admin(), make_staff(), make_coordinator()
        early, late = make_volunteer("早志愿者", points=500), make_volunteer("晚志愿者", points=500)
        reward_nov = make_reward(merchant=staff.merchant, cost=100, title="十一月奖品")
        reward_dec = make_reward(merchant=staff.merchant, cost=40, title="十二月奖品")

        def shift(title: str, starts: datetime, hours: float) -> Shift:
            return make_shift(title=title, start_in=starts - SETUP, hours=hours, creator=coordinator)

        night = shift("11-30 夜巡", datetime(2026, 11, 30, 15, 30, tzinfo=UTC), 10)  # 23:30 → 09:30 Hangzhou
        shift("12-01 早巡", datetime(2026, 12, 1, 0, 0, tzinfo=UTC), 2)  # 08:00 on 1 December
        shift("12-01 夜巡", datetime(2026, 12, 1, 15, 30, tzinfo=UTC), 0.5)  # 23:30 on 1 December
        shift("12-02 凌晨巡", datetime(2026, 12, 1, 16, 30, tzinfo=UTC), 2)  # 00:30 on 2 December

        for user, moment, minutes, award, reward, code in (
                (early, NOV_30_2350, 120, 20, reward_nov, "NV0000000000000000A1"),
                (late, DEC_01_0010, 180, 30, reward_dec, "DC0000000000000000B2")):
            traveller.move_to(moment)
            db.session.add(Attendance(shift_id=night.id, user_id=user.id, method=AttendanceMethod.MANUAL,
                                      status=AttendanceStatus.PENDING, check_in_at=moment,
                                      check_out_at=moment + timedelta(minutes=5), minutes_credited=5,
                                      flags="manual"))
            ledger.add_minutes(user.id, minutes, EntryKind.SHIFT_AWARD, f"hours:{code}")
            ledger.credit(user.id, award, EntryKind.SHIFT_AWARD, f"award:{code}")
            db.session.commit()
            _redeem(staff, user, reward, code)
        yield World(traveller, admin, staff, early, late, reward_nov.id, reward_dec.id)


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))[1:]


MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12"]


@both_databases
@INSTANTS
def test_every_report_agrees_on_the_hangzhou_date(app, client, login, world, now):
    world.traveller.move_to(now)
    # the volunteer's today
    assert localtime.local_today() == date(2026, 12, 1)
    assert localtime.this_month() == (2026, 12)

    # the dashboard: local months, and the entry at 00:10 on 1 December counts for December
    d = reports.dashboard(world.admin)
    assert [f.label for f in d.hours_by_month] == MONTHS
    assert [f.value for f in d.hours_by_month] == [0, 0, 0, 0, 2, 3]
    assert [f.value for f in d.points_issued_by_month] == [0, 0, 0, 0, 20, 30]
    assert [f.value for f in d.points_redeemed_by_month] == [0, 0, 0, 0, 100, 40]
    assert d.active_this_month == 1

    # the settlement: the same months
    assert [(r.reward_id, r.count, r.points) for r in merchants.settlement(world.staff, 2026, 11)] == [
        (world.reward_nov, 1, 100)]
    assert [(r.reward_id, r.count, r.points) for r in merchants.settlement(world.staff, 2026, 12)] == [
        (world.reward_dec, 1, 40)]

    # the merchant's "redeemed today" and the history's date filter
    assert home.summary_for(world.staff).facts["today"] == 1
    assert [v.reward_id for v in merchants.history(world.staff, date(2026, 12, 1), date(2026, 12, 1))] == [
        world.reward_dec]
    assert [v.reward_id for v in merchants.history(world.staff, date(2026, 11, 30), date(2026, 11, 30))] == [
        world.reward_nov]

    # the shift list's day
    def titles(day: date) -> list[str]:
        return [row.shift.title for row in shifts.upcoming_for(world.early, day)]

    assert titles(date(2026, 11, 30)) == ["11-30 夜巡"]
    assert titles(date(2026, 12, 1)) == ["12-01 早巡", "12-01 夜巡"]
    assert titles(date(2026, 12, 2)) == ["12-02 凌晨巡"]

    # pages and CSVs: the settlement's default month, the merchant's home, the export date filters
    login(world.staff)
    assert _csv(client.get("/merchant/settlement.csv")) == [
        ["2026-12", str(world.reward_dec), "十二月奖品", "1", "40"], ["2026-12", "", "合计", "1", "40"]]
    assert "今天已核销 1 张兑换券。" in client.get("/home").get_data(as_text=True)
    client.post("/logout")
    login(world.admin)
    december = "?start=2026-12-01&end=2026-12-01&lang=en"
    assert [(r[1], r[2], r[4], r[5]) for r in _csv(client.get(f"/admin/exports/ledger.csv{december}"))] == [
        ("2026-12-01 00:10", "晚志愿者", "shift_award", "30"), ("2026-12-01 00:10", "晚志愿者", "redemption", "-40")]
    assert [(r[1], r[4], r[9]) for r in _csv(client.get(f"/admin/exports/redemptions.csv{december}"))] == [
        ("2026-12-01 00:10", "十二月奖品", "2026-12-01 00:10")]
    november = "?start=2026-11-30&end=2026-11-30&lang=en"
    assert [(r[1], r[4], r[5]) for r in _csv(client.get(f"/admin/exports/ledger.csv{november}"))] == [
        ("2026-11-30 23:00", "adjustment", "500"), ("2026-11-30 23:00", "adjustment", "500"),
        ("2026-11-30 23:50", "shift_award", "20"), ("2026-11-30 23:50", "redemption", "-100")]
    assert [r[1] for r in _csv(client.get("/admin/exports/attendance.csv?start=2026-12-01&end=2026-12-01"))] == []
    assert {r[1] for r in _csv(client.get("/admin/exports/attendance.csv?start=2026-11-30&end=2026-11-30"))} == {
        "11-30 夜巡"}
    client.post("/logout")
    login(world.early)
    body = client.get("/volunteer/shifts?day=2026-12-01").get_data(as_text=True)
    assert "12-01 早巡" in body and "12-01 夜巡" in body and "12-02 凌晨巡" not in body
    assert "2026-12-01 08:00" in body  # shown in Hangzhou time


@pytest.mark.app_config(POINTS_EXPIRE_AFTER_YEARS=2)
def test_points_expire_at_hangzhou_new_year(app, client, login, runner, make_volunteer):
    """At 16:30 UTC on 31 December 2026 it is 00:30 on 1 January 2027 in Hangzhou: 2025's points expire now."""
    user = make_volunteer()
    for amount, moment, key in ((30, datetime(2025, 12, 31, 15, 0, tzinfo=UTC), "earned-2025"),  # 23:00 local
                                (50, datetime(2025, 12, 31, 17, 0, tzinfo=UTC), "earned-2026")):  # 01:00 local
        ledger.credit(user.id, amount, EntryKind.SHIFT_AWARD, key).created_at = moment
    db.session.commit()
    with time_machine.travel(datetime(2026, 12, 31, 16, 30, tzinfo=UTC), tick=False):
        result = runner.invoke(args=["expire"])
        assert result.exit_code == 0, result.output
        assert "points expired: 30" in result.output
        db.session.expire_all()
        expiry = db.session.scalar(select(PointEntry).where(PointEntry.kind == EntryKind.EXPIRY))
        assert (expiry.amount, expiry.source_key) == (-30, f"expiry:{user.id}:2026-01-01")
        assert points.upcoming_expiry(user.id, localtime.local_today()) == points.ExpiryNotice(50, date(2027, 12, 31))
        login(user)
        for path in ("/volunteer/points", "/home"):
            assert "50 积分将于 2027-12-31 过期" in client.get(path).get_data(as_text=True), path


@pytest.mark.app_config(TIMEZONE="America/New_York")
def test_the_configured_zone_is_the_one_used(app, client, login, world):
    """The same instants and data, read in New York: the zone is configuration, not a constant."""
    world.traveller.move_to(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))  # 11:30 on 30 November in New York
    assert localtime.local_today() == date(2026, 11, 30)
    assert home.summary_for(world.staff).facts["today"] == 2
    d = reports.dashboard(world.admin)
    assert [f.label for f in d.points_redeemed_by_month][-1] == "2026-11"
    assert d.points_redeemed_by_month[-1].value == 140
    assert sorted((r.reward_id, r.count) for r in merchants.settlement(world.staff, 2026, 11)) == [
        (world.reward_nov, 1), (world.reward_dec, 1)]
    assert [row.shift.title for row in shifts.upcoming_for(world.early, date(2026, 12, 1))] == [
        "12-01 夜巡", "12-02 凌晨巡"]  # 1 December in New York is 05:00 UTC to 05:00 UTC
    assert render_template_string("{{ t|local }}", t=DEC_01_0010) == "2026-11-30 11:10"
    # daylight saving ends on 1 November 2026 in New York: that day has 25 hours
    assert localtime.local_day_bounds(date(2026, 11, 1)) == (datetime(2026, 11, 1, 4, tzinfo=UTC),
                                                            datetime(2026, 11, 2, 5, tzinfo=UTC))
    assert localtime.month_bounds(2026, 11) == (datetime(2026, 11, 1, 4, tzinfo=UTC),
                                                datetime(2026, 12, 1, 5, tzinfo=UTC))
    assert localtime.parse_local("2026-11-01T01:30") == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    with app.test_request_context():
        from flask_babel import format_datetime

        assert format_datetime(DEC_01_0010, "yyyy-MM-dd HH:mm") == "2026-11-30 11:10"


def test_hangzhou_is_the_default(app):
    assert app.config["TIMEZONE"] == app.config["BABEL_DEFAULT_TIMEZONE"] == "Asia/Shanghai"
    assert localtime.month_bounds(2026, 12) == (datetime(2026, 11, 30, 16, tzinfo=UTC),
                                                datetime(2026, 12, 31, 16, tzinfo=UTC))
    assert localtime.local_day_bounds(date(2026, 12, 1)) == (datetime(2026, 11, 30, 16, tzinfo=UTC),
                                                             datetime(2026, 12, 1, 16, tzinfo=UTC))
    assert localtime.recent_months(3, date(2027, 1, 1)) == [(2026, 11), (2026, 12), (2027, 1)]
    assert render_template_string("{{ t|local }} {{ t|local('%Y-%m-%d') }}", t=DEC_01_0010) == (
        "2026-12-01 00:10 2026-12-01")
    with app.test_request_context():
        from flask_babel import format_datetime

        assert format_datetime(DEC_01_0010, "yyyy-MM-dd HH:mm") == "2026-12-01 00:10"


def test_the_environment_sets_the_zone_and_a_wrong_zone_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLUNTEER_TIMEZONE", "Europe/London")
    settings = config_module.load(tmp_path, {"SECRET_KEY": "x", "FACE_KEY": "y"})
    assert settings["TIMEZONE"] == settings["BABEL_DEFAULT_TIMEZONE"] == "Europe/London"
    with time_machine.travel(datetime(2026, 11, 30, 16, 30, tzinfo=UTC), tick=False):
        assert localtime.local_today() == date(2026, 11, 30)  # outside an app: the environment's zone
        monkeypatch.delenv("VOLUNTEER_TIMEZONE")
        assert localtime.local_today() == date(2026, 12, 1)  # outside an app, by default: Hangzhou
    with pytest.raises(ValueError, match="Mars/Olympus"):
        config_module.load(tmp_path, {"SECRET_KEY": "x", "FACE_KEY": "y", "TIMEZONE": "Mars/Olympus"})


#: the server's clock or zone, or a UTC date taken for a local one
FORBIDDEN = re.compile(r"\bdate\.today\(|\bdatetime\.(now\(\s*\)|utcnow\(|today\(|fromtimestamp\()"
                       r"|utcnow\(\)\.date\(|\bfunc\.date\(|\bextract\(\s*[\"'](year|month|day)|\btime\.localtime\(")


def test_no_code_reads_the_servers_clock_or_zone():
    """Dates for people come from volunteer.localtime; a grep keeps the old habits out."""
    package = Path(__file__).resolve().parent.parent / "volunteer"
    found = [f"{path.relative_to(package.parent)}:{number}: {line.strip()}"
             for path in sorted(package.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if FORBIDDEN.search(line)]
    assert found == []
    assert FORBIDDEN.search("x = date.today()") and FORBIDDEN.search("datetime.now()")
    assert not FORBIDDEN.search("datetime.now(UTC)")
