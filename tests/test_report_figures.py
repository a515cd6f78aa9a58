"""Patrol report figures (#15): the monthly SLA table per team with known numbers on a frozen clock, the CSV export
with the clock figures, the dashboard, the maps (and the WGS-84 → GCJ-02 display shift)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from tests.test_patrol_reports import LAT, LON
from volunteer.extensions import db
from volunteer.models import ReportCategory
from volunteer.services import patrol_reports as pr
from volunteer.services.patrol_reports import figures
from volunteer.services.patrol_reports.geo import gcj02_to_wgs84, wgs84_to_gcj02

T0 = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.fixture
def code(app):
    pr.seed_categories()
    return lambda value="safety.open_manhole": db.session.scalar(
        select(ReportCategory).where(ReportCategory.code == value))


def send(actor, category, at: datetime, **kw):
    values = {"category_id": category.id, "description": "井盖缺失", "latitude": LAT, "longitude": LON, "now": at}
    values.update(kw)
    return pr.file_report(actor, **values)


def loop(handler, report, team, sign=None, dispatch=None, handle=None, close=None):
    """Move a report through the steps at these offsets from its arrival."""
    start = report.created_at
    if sign is not None:
        pr.sign_report(handler, report.id, now=start + sign)
    if dispatch is not None:
        pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="", now=start + dispatch)
    if handle is not None:
        pr.handle_report(handler, report.id, note="已处理", now=start + handle)
    if close is not None:
        pr.close_report(handler, report.id, useful=False, now=start + close)


@pytest.fixture
def month(code, make_volunteer, make_coordinator, make_admin, team):
    """November 2026 (local) for 宝石社区 and 北山街道, with known times."""
    reporter, handler = make_volunteer(), make_coordinator()
    street_handler = make_coordinator("街道指挥中心", managed=[team.parent])
    manhole = code()
    a = send(reporter, manhole, T0)
    loop(handler, a, team, sign=30 * S, dispatch=600 * S, handle=7200 * S, close=10800 * S)  # all in time
    b = send(reporter, manhole, T0 + 3600 * S)
    loop(handler, b, team, sign=120 * S, dispatch=2400 * S, handle=7200 * S, close=108000 * S)  # all late
    send(reporter, manhole, T0 + 7200 * S)  # c: never signed, every deadline passed by NOW
    d = send(reporter, manhole, T0 + 9000 * S)
    pr.reject_report(handler, d.id, reason="invalid", note="未发现", now=d.created_at + 20 * S)  # before its deadline
    f = send(reporter, manhole, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))  # 1 Nov 00:30 in Hangzhou
    pr.sign_report(handler, f.id, now=f.created_at + 45 * S)
    send(reporter, manhole, datetime(2026, 10, 31, 15, 59, tzinfo=UTC))  # 31 Oct 23:59 in Hangzhou: October
    send(reporter, code("fire.ebike_indoor"), NOW - 10 * S)  # e: the street's, its clock still running
    return {"admin": make_admin(), "handler": handler, "street_handler": street_handler}


def test_the_monthly_sla_table_with_known_numbers(month, team):
    table = figures.sla_table(month["admin"], (2026, 11), now=NOW)
    rows = {r.team_name: r for r in table.rows}
    assert set(rows) == {"宝石社区", "北山街道"}
    gem = rows["宝石社区"]
    assert gem.arrived == 5  # a, b, c, d, f (f arrived on 1 November local; the 23:59 one is October's)
    sign, dispatch, close = gem.steps["sign"], gem.steps["dispatch"], gem.steps["close"]
    assert (sign.on_time, sign.counted, sign.percent) == (2, 4, 50.0)  # a, f in time; b, c late; d not counted
    assert (sign.p50, sign.p90) == (45, 120)
    assert (dispatch.on_time, dispatch.counted, dispatch.percent) == (1, 4, 25.0)  # f, c late by NOW
    assert (dispatch.p50, dispatch.p90) == (600, 2400)
    assert (close.on_time, close.counted, close.percent) == (2, 5, 40.0)  # d's rejection closed it in 20 s
    assert (close.p50, close.p90) == (10800, 108000)
    street = rows["北山街道"]
    assert street.arrived == 1 and all(s.counted == 0 and s.percent is None for s in street.steps.values())
    assert table.total.arrived == 6 and table.total.steps["sign"].counted == 4
    october = figures.sla_table(month["admin"], (2026, 10), now=NOW)
    assert october.total.arrived == 1


def test_the_sla_counts_the_first_dispatch_through_redirects_and_reopenings(code, make_volunteer, make_coordinator,
                                                                            make_admin, team):
    """Dispatched in 10 minutes, redirected two hours later, reopened and dispatched again the next day: the
    report was dispatched in time, in the table and the export (the current dispatch is rewritten each time)."""
    reporter, handler, admin = make_volunteer(), make_coordinator(), make_admin()
    report = send(reporter, code(), T0)
    loop(handler, report, team, sign=30 * S, dispatch=600 * S)
    pr.dispatch_report(handler, report.id, team_id=team.id, user_id=handler.id, note="转交网格员",
                       now=T0 + 7200 * S)
    loop(handler, report, team, handle=9000 * S, close=10000 * S)
    pr.reopen_report(handler, report.id, note="问题未解决", now=T0 + 20000 * S)
    pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="", now=T0 + 90000 * S)
    dispatch = figures.sla_table(admin, (2026, 11), now=NOW).total.steps["dispatch"]
    assert (dispatch.on_time, dispatch.counted, dispatch.p50) == (1, 1, 600)
    header, rows = figures.export_table(admin, None, None, None, "en", now=NOW)
    row = dict(zip(header, list(rows)[0]))
    assert (row["dispatch_seconds"], row["dispatched_in_time"]) == (600, 1)


def test_a_coordinator_sees_only_the_teams_they_manage(month):
    street = figures.sla_table(month["street_handler"], (2026, 11), now=NOW)  # the street's subtree: both
    assert {r.team_name for r in street.rows} == {"宝石社区", "北山街道"}
    gem = figures.sla_table(month["handler"], (2026, 11), now=NOW)
    assert [r.team_name for r in gem.rows] == ["宝石社区"] and gem.total.arrived == 5


def test_the_speed_page_shows_the_percentages(client, login, month):
    with time_machine.travel(NOW, tick=False):
        login(month["admin"])
        page = client.get("/reports/speed?month=2026-11")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "50.0%" in text and "(2 / 4)" in text and "25.0%" in text and "40.0%" in text
        assert "45 秒 / 2 分钟" in text or "45 s / 2 min" in text
        wrong = client.get("/reports/speed?month=2026-13")
        assert wrong.status_code == 200 and "aria-invalid" in wrong.get_data(as_text=True)


def test_the_csv_export_has_the_clock_figures_in_scope(client, login, month, make_volunteer):
    with time_machine.travel(NOW, tick=False):
        login(month["handler"])
        body = client.get("/reports/export.csv?lang=zh&start=2026-11-01&end=2026-11-30")
    assert body.status_code == 200 and body.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.data.decode("utf-8-sig"))))
    header, data = rows[0], rows[1:]
    assert header[:5] == ["报告编号", "到达时间", "类别", "队伍", "状态"] and "签收用时（秒）" in header
    assert len(data) == 5 and {r[3] for r in data} == {"宝石社区"}  # not the street's report: out of scope
    first = data[0]
    assert first[6:8] == ["30", "是"] and first[9:11] == ["600", "是"] and first[12:14] == ["10800", "是"]
    late = data[1]
    assert late[6:8] == ["120", "否"] and late[12:14] == ["108000", "否"]
    assert make_volunteer().mobile not in body.get_data(as_text=True)
    with time_machine.travel(NOW, tick=False):
        english = client.get("/reports/export.csv?lang=en").data.decode("utf-8-sig").splitlines()
    assert english[0].startswith("id,arrived_at,category,team,state,signed_at,sign_seconds,signed_in_time")
    assert ",safety.open_manhole," in english[1]


def test_the_dashboard_lists_open_and_overdue_reports_per_category(client, login, month):
    with time_machine.travel(NOW, tick=False):
        login(month["admin"])
        text = client.get("/admin/dashboard").get_data(as_text=True)
    section = text.split("data-patrol-figures")[1].split("</section>")[0]
    # open: c, f (manhole, both overdue) and e (fire, in time); a, b closed, d rejected, the October one open too
    assert "<td>井盖缺失</td><td>3</td><td>3</td>" in section
    assert "<td>电动车室内充电</td><td>1</td><td>0</td>" in section


def _markers(page: str) -> list[dict]:
    return json.loads(page.split('id="map-data">')[1].split("</script>")[0])["markers"]


def test_the_handler_map_shows_the_queue_page_and_the_volunteer_map_only_theirs(client, login, code, month,
                                                                                 make_volunteer, team):
    other = make_volunteer("另一位")
    clue = send(other, code("clue.suspicious_person"), NOW - 20 * S)
    with time_machine.travel(NOW, tick=False):
        login(month["handler"])
        page = client.get("/reports/map")
    assert page.status_code == 200
    markers = _markers(page.get_data(as_text=True))
    queue_ids = [r.report.id for r in pr.list_queue(month["handler"], 1, now=NOW)]
    assert [m["id"] for m in markers] == queue_ids and queue_ids and clue.id not in queue_ids
    assert all("井盖" not in m.get("description", "") for m in markers)
    assert set(markers[0]) >= {"id", "lat", "lon", "state", "overdue", "url", "label", "wgs84"}
    client.post("/logout")
    login(other)
    mine = _markers(client.get("/reports/mine/map").get_data(as_text=True))
    assert [m["id"] for m in mine] == [clue.id]  # only the volunteer's own: the others' reports never show


def test_gcj02_tiles_shift_the_markers_for_display_and_open_the_policy(app, client, login, month):
    app.config.update(MAP_TILE_URL="https://t{s}.tiles.example/{z}/{x}/{y}.png", MAP_TILES_GCJ02=True)
    login(month["handler"])
    page = client.get("/reports/map")
    markers = _markers(page.get_data(as_text=True))
    assert markers and markers[0]["wgs84"] == [LAT, LON]
    assert (markers[0]["lat"], markers[0]["lon"]) == pytest.approx(wgs84_to_gcj02(LAT, LON))
    assert "https://ta.tiles.example" in page.headers["Content-Security-Policy"]
    assert "GCJ-02" in page.get_data(as_text=True)
    form = client.get("/reports/new")
    assert "tiles.example" in form.headers["Content-Security-Policy"] and "data-pin-map" in form.get_data(as_text=True)


def test_no_tiles_by_default_and_the_policy_stays_closed(client, login, month):
    login(month["handler"])
    page = client.get("/reports/map")
    assert "img-src 'self' data: blob:;" in page.headers["Content-Security-Policy"]
    assert "plain background" in page.get_data(as_text=True) or "空白底图" in page.get_data(as_text=True)


def test_volunteers_and_merchants_cannot_open_the_handler_pages(client, login, make_volunteer, make_staff, code):
    login(make_volunteer())
    for url in ("/reports/map", "/reports/speed", "/reports/export.csv", "/admin/partner-keys"):
        assert client.get(url).status_code == 403, url
    assert client.get("/reports/mine/map").status_code == 200


def test_wgs84_to_gcj02_matches_the_published_value():
    # gcoord's test: WGS-84 (45, 123) → GCJ-02 (45.00197815, 123.00607541)
    assert wgs84_to_gcj02(45, 123) == pytest.approx((45.00197815, 123.00607541), abs=1e-7)
    assert wgs84_to_gcj02(48.85, 2.35) == (48.85, 2.35)  # outside China: unchanged
    shifted = wgs84_to_gcj02(LAT, LON)
    metres = ((shifted[0] - LAT) * 111_320, (shifted[1] - LON) * 111_320 * 0.864)
    assert 300 < (metres[0] ** 2 + metres[1] ** 2) ** 0.5 < 700  # Hangzhou's offset is a few hundred metres
    back = gcj02_to_wgs84(*shifted)
    assert back == pytest.approx((LAT, LON), abs=1e-6)  # under 0.2 m


def test_the_page_script_converts_like_the_server():
    if shutil.which("node") is None:  # .ci/run installs it (npm ci for axe-core needs it too): CI must not skip
        from volunteer.config import running_in_ci

        if running_in_ci():
            pytest.fail("node is not installed")
        pytest.skip("node is not installed: the page script's conversion is not checked")
    script = Path(__file__).resolve().parents[1] / "static" / "js" / "report_map.js"
    out = subprocess.run(["node", "-e", f"const m=require({json.dumps(str(script))});"
                          "console.log(JSON.stringify([m.toGcj(45,123), m.toGcj(30.259,120.146),"
                          " m.toWgs(...m.toGcj(30.259,120.146))]))"], capture_output=True, text=True, check=True)
    js = json.loads(out.stdout)
    assert js[0] == pytest.approx(list(wgs84_to_gcj02(45, 123)), abs=1e-9)
    assert js[1] == pytest.approx(list(wgs84_to_gcj02(30.259, 120.146)), abs=1e-9)
    assert js[2] == pytest.approx([30.259, 120.146], abs=1e-6)


def test_tiles_served_by_the_site_itself_need_nothing_added_to_the_policy(app, client, login, month):
    """A path such as /tiles/{z}/{x}/{y}.png is this site ('self'); it used to add a broken "://" source."""
    app.config.update(MAP_TILE_URL="/tiles/{z}/{x}/{y}.png")
    login(month["handler"])
    policy = client.get("/reports/map").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob:;" in policy and "://" not in policy
