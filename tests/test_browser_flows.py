"""In Chromium: the patrol loop end to end, and a voucher from redemption to the merchant's till."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select, update

from tests.conftest import PASSWORD
from tests.facekit import image, jpeg, obama_enrolment
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import Attendance, Shift, User, Voucher
from volunteer.services import face_id

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}
PATROL_PLACE = {"latitude": 30.2591, "longitude": 120.1452}  # about 20 m from the shift's point


def scalar(statement):
    """Read, then end the transaction: the live server must not wait on this thread's SQLite lock."""
    value = db.session.scalar(statement)
    db.session.commit()
    return value


def wait_for_location(page) -> None:
    """The page's script filled in the geolocation. (`expect` runs in Playwright's own world: the app's CSP
    forbids the string evaluation that `wait_for_function` needs.)"""
    expect(page.locator(".upload-form input[name=latitude]")).not_to_have_value("", timeout=15_000)


def _login(page, base: str, user: User) -> None:
    page.goto(base + "/login")
    page.fill("#f-mobile", user.mobile)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit].btn-wide")
    page.wait_for_url(base + "/home")


def _send_frames(page, tmp_path, frames: list[bytes], prefix: str) -> None:
    wait_for_location(page)
    page.click("details.fallback summary")
    for index, blob in enumerate(frames, start=1):
        path = tmp_path / f"{prefix}{index}.jpg"
        path.write_bytes(blob)
        page.set_input_files(f"#up-{index}", str(path))
    page.click(".upload-form button[type=submit]")  # sent by the page's script: the answer shows under the form
    page.wait_for_selector(".camera-box[data-result]", timeout=30_000)


@pytest.mark.usefixtures("photos")
@pytest.mark.app_config(FACE_TEST_CHALLENGE="straight")  # one step a still fake camera can answer
def test_sign_up_check_in_check_out_approve_and_see_points(live_server, browser_factory, make_volunteer,
                                                          make_coordinator, make_shift, tmp_path):
    volunteer, coordinator = make_volunteer(), make_coordinator()
    face_id.give_consent(volunteer.id)
    face_id.enrol(volunteer.id, obama_enrolment())
    shift = make_shift(start_in=timedelta(days=1), hours=2, rate=10, title="断桥夜巡")
    shift_id = shift.id
    db.session.commit()
    base = live_server.url
    browser = browser_factory(camera_photo=image("obama.jpg"))
    phone = browser.new_context(**PHONE, geolocation=PATROL_PLACE, permissions=["geolocation"]).new_page()
    _login(phone, base, volunteer)

    phone.goto(base + "/volunteer/shifts")
    phone.click("form[action$='/signup'] button")
    assert "报名成功" in phone.inner_text(".flash")

    # the shift begins: move it so that it started ten minutes ago
    now = utcnow()
    db.session.execute(update(Shift).where(Shift.id == shift_id).values(
        starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=2)))
    db.session.commit()
    phone.goto(base + "/home")
    phone.click(f"a[href$='/volunteer/shifts/{shift_id}/check-in']")
    wait_for_location(phone)
    phone.click("[data-start]")  # the camera: face, liveness step and location in one go
    phone.wait_for_selector(".camera-box[data-result]", timeout=30_000)
    assert phone.get_attribute(".camera-box", "data-result") == "ok", phone.inner_text(".status-text")
    assert "签到成功" in phone.inner_text(".status-text")
    phone.wait_for_url(base + "/volunteer/shifts")  # the page moves on by itself; a goto before would be cut off
    assert scalar(select(func.count(Attendance.id))) == 1

    # two hours later (shift moved back, check-in at its start)
    db.session.execute(update(Shift).where(Shift.id == shift_id).values(
        starts_at=now - timedelta(hours=2, minutes=5), ends_at=now + timedelta(minutes=5)))
    db.session.execute(update(Attendance).values(check_in_at=now - timedelta(hours=2, minutes=5)))
    db.session.commit()
    phone.goto(base + f"/volunteer/shifts/{shift_id}/check-out")
    # the one-frame fake camera would send the check-in's picture again, which the replay check refuses (a copy,
    # however re-encoded): upload another photograph
    _send_frames(phone, tmp_path, [jpeg("obama3.jpg")], "out")
    assert "签退成功" in phone.inner_text("[data-upload-status]"), phone.inner_text("[data-upload-status]")
    phone.wait_for_url(base + "/volunteer/shifts")

    desk = browser.new_context(locale="zh-CN").new_page()
    _login(desk, base, coordinator)
    desk.goto(base + "/coordinator/approvals")
    assert "距巡逻地点" in desk.content()  # the evidence is shown
    desk.click("form[action$='/approve'] button")
    assert "已通过" in desk.inner_text(".flash")

    phone.goto(base + "/home")
    assert phone.inner_text("[data-balance]") == "20"  # 2 h × 10 points
    phone.goto(base + "/volunteer/history")
    assert "2 小时 00 分 × 每小时 10 积分 = 20 积分" in phone.content()


def test_redeem_then_merchant_scans_and_redeems_once(live_server, browser_factory, make_volunteer, make_staff,
                                                     make_reward, tmp_path):
    volunteer = make_volunteer(points=300)
    staff = make_staff()
    reward = make_reward(merchant=staff.merchant, cost=100, stock=5, title="灵隐门票")
    reward_id = reward.id
    db.session.commit()
    base = live_server.url
    browser = browser_factory()
    phone = browser.new_context(**PHONE).new_page()
    _login(phone, base, volunteer)
    phone.goto(base + f"/volunteer/rewards/{reward_id}")
    phone.click("[data-redeem]")
    assert phone.inner_text("[data-quote]") == "用 100 积分兑换“灵隐门票”吗？兑换后还剩 200 积分。"
    phone.dblclick("[data-confirm-redeem]")  # an impatient double tap
    phone.wait_for_selector("[data-code]")
    assert scalar(select(func.count(Voucher.id))) == 1
    code = phone.inner_text("[data-code]")
    assert phone.locator(".qr img").count() == 1
    phone.screenshot(path=str(tmp_path / "voucher.png"))

    till = browser.new_context(locale="zh-CN").new_page()
    _login(till, base, staff)
    till.goto(base + "/merchant/")
    till.fill("#code", code.lower().replace("-", " "))  # typed as people type it
    till.click("[data-find]")
    assert "张*华" in till.content() and "****" in till.content()
    till.click("[data-redeem]")
    assert "核销成功" in till.inner_text(".flash")

    till.goto(base + "/merchant/")
    till.fill("#code", code)
    till.click("[data-find]")
    assert "已于" in till.inner_text("[data-refusal]") and staff.name in till.inner_text("[data-refusal]")
    phone.goto(base + "/volunteer/vouchers")
    assert "已使用" in phone.content()
