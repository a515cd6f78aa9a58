"""In Chromium: a patrol report end to end. On a phone, a checked-in volunteer reports an open manhole with a photo
and the browser's location (the pin map from static/vendor/leaflet shows where), and reads the timeline; at a desk,
the handler sees it on the map, signs, dispatches, handles and closes it as useful; the volunteer sees the points."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.test_browser_flows import PATROL_PLACE, PHONE, scalar
from tests.test_patrol_reports import jpeg_with_gps
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import (
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    Report,
    ReportCategory,
    ReportPhoto,
    ReportState,
    Signup,
    SignupStatus,
    User,
)
from volunteer.services import patrol_reports as pr

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]


def _login(page, base: str, user: User) -> None:
    page.goto(base + "/login")
    page.fill("#f-mobile", user.mobile)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit].btn-wide")
    page.wait_for_url(base + "/home")


def test_report_on_a_phone_then_the_handler_closes_it_and_the_points_arrive(
        live_server, browser_factory, make_volunteer, make_coordinator, make_shift, team, tmp_path):
    pr.seed_categories()
    volunteer, handler = make_volunteer(), make_coordinator()
    shift = make_shift(start_in=-timedelta(minutes=20))
    now = utcnow()
    db.session.add(Signup(shift_id=shift.id, user_id=volunteer.id, status=SignupStatus.CONFIRMED, queued_at=now))
    db.session.add(Attendance(shift_id=shift.id, user_id=volunteer.id, method=AttendanceMethod.REVIEW,
                              status=AttendanceStatus.OPEN, check_in_at=now - timedelta(minutes=15)))
    db.session.commit()
    manhole = scalar(select(ReportCategory.id).where(ReportCategory.code == "safety.open_manhole"))
    photo = tmp_path / "manhole.jpg"
    photo.write_bytes(jpeg_with_gps())
    base = live_server.url
    browser = browser_factory()

    phone = browser.new_context(**PHONE, geolocation=PATROL_PLACE, permissions=["geolocation"]).new_page()
    _login(phone, base, volunteer)
    phone.goto(base + "/reports/new")
    expect(phone.locator("input[name=latitude]")).to_have_value("30.259100", timeout=15_000)
    expect(phone.locator("[data-location-status]")).to_have_text("已取得您的位置（精确到约 1 米）。")  # the emulated fix is exact
    expect(phone.locator("[data-manual-location]")).not_to_have_attribute("open", "")  # typing it stays tucked away
    expect(phone.locator("input[name=latitude]")).to_be_hidden()
    expect(phone.locator(".report-map")).to_have_count(0)  # no tiles configured: no blank box with a pin to drag
    phone.select_option("#f-category_id", str(manhole))
    phone.fill("#f-description", "北山街 12 号门口井盖缺失")
    phone.set_input_files("#f-photos", str(photo))
    phone.click("button[type=submit].btn-huge")
    phone.wait_for_url(base + "/reports/*")
    assert "谢谢" in phone.inner_text(".flash")
    report = scalar(select(Report))
    assert report.shift_id == shift.id and report.location_source == "gps" and report.accuracy_m is not None
    assert (round(report.latitude, 4), round(report.longitude, 4)) == (30.2591, 120.1452)
    stored = scalar(select(ReportPhoto.data).where(ReportPhoto.report_id == report.id))
    assert b"Exif" not in stored and b"SecretCam" not in stored
    timeline = phone.inner_text(".timeline")
    assert "已上报" in timeline, timeline

    desk = browser.new_context(locale="zh-CN").new_page()
    _login(desk, base, handler)
    desk.goto(base + "/reports/map")
    expect(desk.locator("[data-report-map]")).to_have_attribute("data-ready", "1")
    expect(desk.locator("[data-report-map] path.leaflet-interactive")).to_have_count(1)  # the marker, no tiles
    desk.goto(base + f"/reports/{report.id}")
    desk.click(f"form[action$='/reports/{report.id}/sign'] button")
    assert "已签收" in desk.inner_text(".flash")
    desk.select_option("#d-team", str(team.id))
    desk.fill("#d-note", "请网格员到场")
    desk.click(f"form[action$='/reports/{report.id}/dispatch'] button")
    desk.fill("#h-note", "已放置警示牌并报修")
    desk.click(f"form[action$='/reports/{report.id}/handle'] button")
    desk.click(f"form[action$='/reports/{report.id}/close'] button")  # "confirmed and useful" is ticked
    expect(desk.locator(".flash")).to_contain_text("已结案")
    closed = scalar(select(Report.state).where(Report.id == report.id))
    assert closed == ReportState.CLOSED

    phone.goto(base + f"/reports/{report.id}")
    assert "+15" in phone.inner_text("main")
    assert "已放置警示牌并报修" in phone.inner_text(".timeline")
    phone.goto(base + "/home")
    assert phone.inner_text("[data-balance]") == "15"


@pytest.mark.app_config(MAP_TILE_URL="/static/no-tiles-here/{z}/{x}/{y}.png")
def test_moving_the_pin_sets_the_place_by_hand(live_server, browser_factory, make_volunteer):
    pr.seed_categories()
    volunteer = make_volunteer()
    db.session.commit()
    base = live_server.url
    page = browser_factory().new_context(locale="zh-CN", geolocation=PATROL_PLACE,
                                         permissions=["geolocation"]).new_page()
    _login(page, base, volunteer)
    page.goto(base + "/reports/new")
    expect(page.locator("input[name=latitude]")).to_have_value("30.259100", timeout=15_000)
    expect(page.locator("input[name=location_source]")).to_have_value("gps")
    expect(page.locator("[data-pin-map]")).to_have_attribute("data-ready", "1")  # Leaflet loaded from static/
    page.locator("[data-pin-map]").scroll_into_view_if_needed()
    # the pin is drawn (no emoji font needed); the zoom buttons speak Chinese and fit a finger
    expect(page.locator("[data-pin-map] .pin-icon svg")).to_have_count(1)
    assert "📍" not in page.inner_html("[data-pin-map]")
    zoom_in = page.locator("[data-pin-map] .leaflet-control-zoom-in")
    expect(zoom_in).to_have_attribute("title", "放大")
    expect(page.locator("[data-pin-map] .leaflet-control-zoom-out")).to_have_attribute("title", "缩小")
    box = zoom_in.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44, box
    pin = page.locator("[data-pin-map] .pin-icon").bounding_box()
    x, y = pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y - 40, steps=8)
    page.mouse.move(x + 80, y - 80, steps=8)
    page.mouse.up()
    expect(page.locator("input[name=location_source]")).to_have_value("pin")
    assert page.input_value("input[name=accuracy_m]") == ""
    moved_lat, moved_lon = float(page.input_value("input[name=latitude]")), float(page.input_value("#f-longitude"))
    page.click("[data-manual-location] > summary")  # the moved pin's place, shown in the typed fields
    expect(page.locator("#f-latitude")).to_be_visible()
    assert moved_lat > 30.2591 and moved_lon > 120.1452  # up and to the right: north-east, still WGS-84
    assert moved_lat - 30.2591 < 0.01 and moved_lon - 120.1452 < 0.01


def test_the_form_says_what_becomes_public_for_the_kind_chosen(live_server, browser_factory, make_volunteer):
    pr.seed_categories()
    volunteer = make_volunteer()
    db.session.commit()
    ids = {code: scalar(select(ReportCategory.id).where(ReportCategory.code == code))
           for code in ("environment.litter", "safety.open_manhole", "clue.suspicious_person", "dispute.neighbour")}
    base = live_server.url
    page = browser_factory().new_context(locale="zh-CN").new_page()
    _login(page, base, volunteer)
    page.goto(base + "/reports/new")
    note = page.locator("[data-what-is-public]")
    expect(note).to_contain_text("取决于上报类别")  # before choosing: the rule for every kind
    page.select_option("#f-category_id", str(ids["environment.litter"]))
    expect(note).to_contain_text("任何人都能打开照片")
    page.select_option("#f-category_id", str(ids["safety.open_manhole"]))
    expect(note).to_contain_text("照片只有您、处置队伍和管理员能看到")
    expect(note).to_contain_text("约 100 米")
    page.select_option("#f-category_id", str(ids["dispute.neighbour"]))
    expect(note).to_contain_text("约 1100 米")
    page.select_option("#f-category_id", str(ids["clue.suspicious_person"]))
    expect(note).to_contain_text("一律不公开")
    page.select_option("#f-category_id", "")
    expect(note).to_contain_text("取决于上报类别")


def test_an_empty_report_on_a_phone_shows_the_servers_messages(live_server, browser_factory, make_volunteer):
    """No browser bubble: the form has novalidate, so the app's own messages appear, the place's once, and the
    typed place opens because it is what they concern. Without the phone's location the typed place opens too."""
    pr.seed_categories()
    volunteer = make_volunteer()
    db.session.commit()
    base = live_server.url
    page = browser_factory().new_context(**PHONE).new_page()  # no location permission
    _login(page, base, volunteer)
    page.goto(base + "/reports/new")
    expect(page.locator("[data-manual-location]")).to_have_attribute("open", "", timeout=15_000)
    expect(page.locator("[data-location-status]")).to_contain_text("手动输入位置")
    page.click("button[type=submit].btn-huge")
    page.wait_for_load_state()
    expect(page.locator("#e-category_id")).to_be_visible()
    expect(page.locator("#e-description")).to_be_visible()
    expect(page.locator("p.error", has_text="请提供位置")).to_have_count(1)
    expect(page.locator("[data-manual-location]")).to_have_attribute("open", "")
    expect(page.locator("#f-latitude")).to_be_visible()
    assert scalar(select(Report.id)) is None
