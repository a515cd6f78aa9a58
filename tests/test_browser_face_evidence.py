"""In Chromium: the check-in photo from the consent line to the coordinator's approval queue, with and without
the volunteer's agreement (issue #13 part 4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select, update

from tests.conftest import PASSWORD
from tests.facekit import image, obama_enrolment
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import Attendance, FaceThumbnail, Shift, User
from volunteer.services import face_evidence, face_id, shifts

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("photos"),
              pytest.mark.app_config(WTF_CSRF_ENABLED=True, FACE_TEST_CHALLENGE="straight")]
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}
PATROL_PLACE = {"latitude": 30.2591, "longitude": 120.1452}  # about 20 m from the shift's point


def scalar(statement):
    """Read, then end the transaction: the live server must not wait on this thread's SQLite lock."""
    value = db.session.scalar(statement)
    db.session.commit()
    return value


def _login(page, base: str, user: User) -> None:
    page.goto(base + "/login")
    page.fill("#f-mobile", user.mobile)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit].btn-wide")
    page.wait_for_url(base + "/home")


@pytest.mark.parametrize("agrees", [True, False], ids=["agrees", "declines"])
def test_consent_line_check_in_then_the_coordinator_sees_the_photo_or_the_label(
        live_server, browser_factory, make_volunteer, make_coordinator, make_shift, tmp_path, agrees):
    volunteer, coordinator = make_volunteer(), make_coordinator()
    shift = make_shift(start_in=timedelta(days=1), hours=2, title="断桥夜巡")
    shifts.sign_up(volunteer, shift.id)
    now = utcnow()
    shift.starts_at, shift.ends_at = now - timedelta(minutes=10), now + timedelta(hours=2)
    shift_id, volunteer_id = shift.id, volunteer.id
    db.session.commit()
    base = live_server.url
    browser = browser_factory(camera_photo=image("obama.jpg"))
    phone = browser.new_context(**PHONE, geolocation=PATROL_PLACE, permissions=["geolocation"]).new_page()
    _login(phone, base, volunteer)

    # the consent screen: the photo line is its own, unticked
    phone.goto(base + "/faces/consent")
    line = phone.locator("[data-thumbnail-consent] input[name=thumbnails]")
    expect(line).not_to_be_checked()
    assert "谁能看到" in phone.inner_text("[data-thumbnail-consent]")
    if agrees:
        line.check()
    phone.click("button[value=accept]")
    phone.wait_for_url(base + "/faces/enrol")
    assert scalar(select(func.count()).select_from(FaceThumbnail)) == 0
    assert face_evidence.has_thumbnail_consent(volunteer_id) == agrees
    db.session.commit()
    face_id.enrol(volunteer_id, obama_enrolment())  # the camera enrolment has its own test (test_browser_faces)

    phone.goto(base + f"/volunteer/shifts/{shift_id}/check-in")
    expect(phone.locator(".upload-form input[name=latitude]")).not_to_have_value("", timeout=15_000)
    phone.click("[data-start]")  # the camera: face, the one liveness step and the location
    phone.wait_for_selector(".camera-box[data-result]", timeout=30_000)
    assert phone.get_attribute(".camera-box", "data-result") == "ok", phone.inner_text(".status-text")
    phone.wait_for_url(base + "/volunteer/shifts")  # the page moves on by itself 1.5 s after "ok"
    assert scalar(select(func.count()).select_from(FaceThumbnail)) == (1 if agrees else 0)

    # the shift ends without a check-out: the record waits for the coordinator ("no check-out")
    db.session.execute(update(Shift).where(Shift.id == shift_id).values(
        starts_at=now - timedelta(hours=3), ends_at=now - timedelta(minutes=5)))
    db.session.execute(update(Attendance).values(check_in_at=now - timedelta(hours=3)))
    db.session.commit()

    desk = browser.new_context(locale="zh-CN").new_page()
    _login(desk, base, coordinator)
    photos = []
    desk.on("response", lambda r: photos.append(r) if "/approvals/photos/" in r.url else None)
    desk.goto(base + "/coordinator/approvals")
    desk.wait_for_load_state("networkidle")
    row = desk.locator("tbody tr").first
    if agrees:
        photo = row.locator("img[data-check-photo]")
        expect(photo).to_have_count(1)
        expect(photo).to_have_attribute("alt", "签到照片")
        expect(photo).to_have_js_property("naturalWidth", 96)  # the image really loaded (and is the 96 px chip)
        assert [(r.status, r.headers["cache-control"], r.headers["content-type"]) for r in photos] == \
            [(200, "no-store", "image/jpeg")]
        expect(row.locator("[data-no-photo]")).to_have_count(0)
    else:
        expect(row.locator("img")).to_have_count(0)
        expect(row.locator("[data-no-photo]")).to_have_text("无照片（志愿者未同意）")
        assert photos == []
    desk.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

    # the volunteer cannot open their own photo's address either
    if agrees:
        thumbnail_id = scalar(select(FaceThumbnail.id))
        answer = phone.goto(base + f"/coordinator/approvals/photos/{thumbnail_id}.jpg")
        assert answer.status == 403
