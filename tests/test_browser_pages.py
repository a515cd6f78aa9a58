"""In Chromium at phone size: what a new volunteer, coordinator and clerk tripped over (issue 14), each checked as
it shows on the screen, not as it sits in the HTML."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select, update

from tests.conftest import PASSWORD
from tests.facekit import PHOTOS, jpeg
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import Attendance, CheckAttempt, Shift, User, Voucher
from volunteer.services import face_id

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}
PATROL_PLACE = {"latitude": 30.2591, "longitude": 120.1452}  # about 20 m from the shift's point


def scalar(statement):
    """Read, then end the transaction: the live server must not wait on this thread's SQLite lock."""
    value = db.session.scalar(statement)
    db.session.commit()
    return value


def sign_in(page, base: str, mobile: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("手机号码").fill(mobile)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/home")


# --- 1. the login form's password field -------------------------------------------------------------------

def test_the_login_password_field_says_password_and_the_menu_says_change_password(live_server, browser_factory,
                                                                                 make_coordinator):
    coordinator = make_coordinator()
    mobile = coordinator.mobile
    page = browser_factory().new_context(**PHONE).new_page()
    page.goto(live_server.url + "/login")
    expect(page.locator("label[for=f-password]")).to_have_text("密码")
    expect(page.get_by_text("修改密码")).to_have_count(0)
    sign_in(page, live_server.url, mobile)
    menu_link = page.get_by_role("link", name="修改密码")
    expect(menu_link).to_be_visible()
    menu_link.click()
    expect(page.locator("h1")).to_have_text("修改密码")


# --- 3. "for review" check-ins send the location ----------------------------------------------------------

def test_a_check_in_for_review_without_face_data_sends_the_location(live_server, browser_factory, make_volunteer,
                                                                   make_shift):
    from volunteer.services import shifts

    volunteer = make_volunteer()  # never enrolled: the page has no camera, only "check in for review"
    shift = make_shift(start_in=timedelta(days=1))
    shifts.sign_up(volunteer, shift.id)
    now = utcnow()
    db.session.execute(update(Shift).where(Shift.id == shift.id).values(
        starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=2)))
    db.session.commit()
    shift_id, mobile, base = shift.id, volunteer.mobile, live_server.url
    context = browser_factory().new_context(**PHONE, geolocation=PATROL_PLACE, permissions=["geolocation"])
    page = context.new_page()
    sign_in(page, base, mobile)
    page.goto(base + f"/volunteer/shifts/{shift_id}/check-in")
    expect(page.locator("[data-location-status]")).to_have_text("已获取您的位置。")
    page.get_by_role("button", name="提交签到，由协调员审核").click()
    expect(page.locator(".flash")).to_contain_text("已提交签到")
    record = scalar(select(Attendance).where(Attendance.shift_id == shift_id))
    attempt = scalar(select(CheckAttempt).where(CheckAttempt.shift_id == shift_id))
    assert record.flags == "review"  # no "no_location"
    assert (round(attempt.latitude, 4), round(attempt.longitude, 4)) == (30.2591, 120.1452)
    assert attempt.distance_m < 50


# --- 4. export buttons ------------------------------------------------------------------------------------

def test_every_export_button_downloads_again_and_again(live_server, browser_factory, make_coordinator):
    mobile = make_coordinator().mobile
    page = browser_factory().new_context(**PHONE, accept_downloads=True).new_page()
    sign_in(page, live_server.url, mobile)
    page.goto(live_server.url + "/admin/dashboard")
    names = []
    for label in ("志愿者", "出勤", "志愿者"):
        button = page.locator("#export-form").get_by_role("button", name=label, exact=True)
        expect(button).to_be_enabled()
        with page.expect_download() as download:
            button.click()
        names.append(download.value.suggested_filename)
    assert names == ["volunteers.csv", "attendance.csv", "volunteers.csv"]
    expect(page.locator("#export-form button").first).to_be_enabled()


# --- 5. confirmations -------------------------------------------------------------------------------------

def test_redeeming_asks_first_and_back_then_confirm_asks_again(live_server, browser_factory, make_volunteer,
                                                              make_reward):
    volunteer = make_volunteer(points=300)
    reward = make_reward(cost=100, stock=5, title="灵隐门票")
    reward_id, mobile, base = reward.id, volunteer.mobile, live_server.url
    db.session.commit()
    browser = browser_factory()
    context = browser.new_context(**PHONE)
    page = context.new_page()
    sign_in(page, base, mobile)
    page.goto(base + f"/volunteer/rewards/{reward_id}")
    page.get_by_role("link", name="用 100 积分兑换").click()
    expect(page.locator("[data-quote]")).to_have_text("用 100 积分兑换“灵隐门票”吗？兑换后还剩 200 积分。")
    assert scalar(select(func.count(Voucher.id))) == 0  # nothing spent by looking

    stale = context.new_page()  # a second tab on the same question, answered later
    stale.goto(base + f"/volunteer/rewards/{reward_id}/redeem")

    page.get_by_role("button", name="确定，使用 100 积分").click()
    expect(page.locator("[data-code]")).to_be_visible()
    assert scalar(select(func.count(Voucher.id))) == 1

    page.go_back()  # the confirmation page again, with a fresh form: it says what just happened
    expect(page.locator("[data-repeat]")).to_be_visible()
    expect(page.locator("[data-repeat]")).to_contain_text("您刚刚（不到一分钟前）兑换过这个奖励")
    expect(page.locator("[data-confirm-redeem]")).to_have_text("确定再兑换一份")
    assert scalar(select(func.count(Voucher.id))) == 1

    stale.get_by_role("button", name="确定，使用 100 积分").click()  # it did not know: it is asked again
    expect(stale.locator("[data-repeat]")).to_be_visible()
    assert scalar(select(func.count(Voucher.id))) == 1

    stale.get_by_role("button", name="确定再兑换一份").click()  # asked, and meant it
    expect(stale.locator("[data-code]")).to_be_visible()
    assert scalar(select(func.count(Voucher.id))) == 2
    assert scalar(select(User.points_balance).where(User.id == volunteer.id)) == 100


def test_cancelling_a_voucher_asks_first(live_server, browser_factory, make_volunteer, make_reward):
    from volunteer.services import rewards

    volunteer = make_volunteer(points=300)
    voucher_id = rewards.redeem(volunteer.id, make_reward(cost=100, title="灵隐门票").id, "k1")  # committed, no read after
    mobile, base = volunteer.mobile, live_server.url
    page = browser_factory().new_context(**PHONE).new_page()
    sign_in(page, base, mobile)
    page.goto(base + "/volunteer/vouchers")
    page.get_by_role("link", name="取消并退回积分").click()
    expect(page.locator("[data-quote]")).to_have_text("取消后这张兑换券作废，100 积分退回给您，您将有 300 积分。")
    assert scalar(select(Voucher.status).where(Voucher.id == voucher_id)) == "issued"
    page.get_by_role("button", name="确定取消").click()
    expect(page.locator(".flash")).to_contain_text("已退回 100 积分")
    assert scalar(select(Voucher.status).where(Voucher.id == voucher_id)) == "cancelled"


def test_resetting_a_password_asks_first(live_server, browser_factory, make_admin, make_volunteer):
    admin, volunteer = make_admin(), make_volunteer("周丽华")
    before = volunteer.password_hash
    admin_mobile, volunteer_id, base = admin.mobile, volunteer.id, live_server.url
    page = browser_factory().new_context(**PHONE).new_page()
    sign_in(page, base, admin_mobile)
    page.goto(base + "/admin/users")
    page.locator("tr", has_text="周丽华").get_by_role("link", name="重置密码").click()
    expect(page.locator("h1")).to_have_text("要给 周丽华 一个新的临时密码吗？")
    assert scalar(select(User.password_hash).where(User.id == volunteer_id)) == before
    page.get_by_role("button", name="确定重置密码").click()
    expect(page.locator(".flash")).to_contain_text("临时密码")
    assert scalar(select(User.password_hash).where(User.id == volunteer_id)) != before


# --- 8. camera failures -----------------------------------------------------------------------------------

#: a camera that never answers: the permission prompt left open, a driver that hangs
SILENT_CAMERA = "navigator.mediaDevices.getUserMedia = () => new Promise(() => {});"


@pytest.mark.usefixtures("photos")
def test_a_camera_that_never_starts_gives_way_to_the_upload(live_server, browser_factory, make_volunteer):
    volunteer = make_volunteer()
    face_id.give_consent(volunteer.id)
    mobile, base = volunteer.mobile, live_server.url
    page = browser_factory().new_context(**PHONE).new_page()
    sign_in(page, base, mobile)
    page.add_init_script(SILENT_CAMERA)
    page.clock.install()
    page.goto(base + "/faces/enrol")
    fallback = page.locator("details.fallback")
    expect(fallback).not_to_have_attribute("open", "")
    page.get_by_role("button", name="打开摄像头").click()
    expect(page.locator(".status-text")).to_have_text("正在打开摄像头…")
    page.clock.run_for(16_000)
    expect(page.locator(".status-text")).to_have_text("摄像头没有打开。请在下方上传照片，或再按一次按钮重试。")
    expect(fallback).to_have_attribute("open", "")
    expect(page.get_by_label("第 1 张人脸照片")).to_be_visible()
    expect(page.get_by_role("button", name="打开摄像头")).to_be_enabled()


@pytest.mark.usefixtures("photos")
def test_a_refused_upload_keeps_the_section_open_and_the_chosen_pictures(live_server, browser_factory,
                                                                        make_volunteer, tmp_path):
    volunteer = make_volunteer()
    face_id.give_consent(volunteer.id)
    mobile, base = volunteer.mobile, live_server.url
    files = {}
    for name, data in (("face1.jpg", jpeg("obama.jpg")), ("dogs.jpg", jpeg("dogs.jpg")),
                       ("face3.png", (PHOTOS / "32bit.png").read_bytes()), ("face2.jpg", jpeg("obama3.jpg"))):
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    page = browser_factory().new_context(**PHONE).new_page()
    sign_in(page, base, mobile)
    page.goto(base + "/faces/enrol")
    page.get_by_text("摄像头用不了？改为上传照片").click()
    for index, name in enumerate(("face1.jpg", "dogs.jpg", "face3.png"), start=1):
        page.set_input_files(f"#up-{index}", str(files[name]))
    page.get_by_role("button", name="提交照片").click()
    expect(page.locator(".camera-box")).to_have_attribute("data-result", "failed", timeout=30_000)
    expect(page.locator("[data-upload-status]")).not_to_be_empty()
    expect(page.locator("details.fallback")).to_have_attribute("open", "")
    chosen = [page.locator(f"#up-{i}").evaluate("input => input.files.length ? input.files[0].name : ''")
              for i in (1, 2, 3)]
    assert chosen == ["face1.jpg", "dogs.jpg", "face3.png"]
    assert not face_id.is_enrolled(volunteer.id)
    db.session.commit()

    page.set_input_files("#up-2", str(files["face2.jpg"]))  # only the refused picture is chosen again
    page.get_by_role("button", name="提交照片").click()
    expect(page.locator(".camera-box")).to_have_attribute("data-result", "ok", timeout=30_000)
    page.wait_for_url(base + "/faces/verify", timeout=10_000)
    assert face_id.is_enrolled(volunteer.id)


# --- 13. the volunteer's tab bar and larger text ----------------------------------------------------------

def test_a_volunteer_has_four_tabs_at_the_bottom_and_larger_text_that_stays(live_server, browser_factory,
                                                                           make_volunteer):
    mobile, base = make_volunteer().mobile, live_server.url
    page = browser_factory().new_context(**PHONE).new_page()
    sign_in(page, base, mobile)
    page.goto(base + "/volunteer/shifts")
    tabs = page.get_by_role("navigation", name="菜单").get_by_role("link")
    expect(tabs).to_have_text(["首页", "班次", "兑换", "我的"])
    bar = page.locator(".tabbar").bounding_box()
    assert bar["y"] + bar["height"] == 844  # on the bottom edge of the screen, where the thumb is
    assert page.locator(".topbar").bounding_box()["height"] < 70  # one line, not three lines of links
    expect(page.locator(".tabbar [aria-current=page]")).to_have_text("班次")
    page.mouse.wheel(0, 10_000)
    # the wheel's scroll lands a frame or more later (under load, many): measure at the bottom, not on the way
    page.wait_for_function("() => scrollY + innerHeight >= document.documentElement.scrollHeight - 1")
    last = page.locator("main > :last-child").bounding_box()
    assert last["y"] + last["height"] <= page.locator(".tabbar").bounding_box()["y"]  # nothing hidden under it

    page.get_by_role("link", name="我的").click()
    expect(page.locator(".tabbar [aria-current=page]")).to_have_text("我的")
    for link in ("我的服务记录", "我的积分", "我的兑换券", "我的人脸数据", "修改密码"):
        expect(page.get_by_role("link", name=link)).to_be_visible()
    font_size = "element => getComputedStyle(element).fontSize"
    assert page.locator("html").evaluate(font_size) == "18px"
    toggle = page.get_by_role("button", name="大字显示：关")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.get_by_role("button", name="大字显示：开")).to_have_attribute("aria-pressed", "true")
    assert page.locator("html").evaluate(font_size) == "22px"

    page.get_by_role("button", name="退出").click()
    page.wait_for_url(base + "/login")
    assert page.locator("html").evaluate(font_size) == "18px"  # signed out: this browser's own setting
    sign_in(page, base, mobile)
    assert page.locator("html").evaluate(font_size) == "22px"  # the account's setting, back at sign-in


def test_on_a_wide_screen_the_tabs_sit_under_the_title(live_server, browser_factory, make_volunteer):
    mobile, base = make_volunteer().mobile, live_server.url
    page = browser_factory().new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
    sign_in(page, base, mobile)
    top = page.locator(".topbar").bounding_box()
    bar = page.locator(".tabbar").bounding_box()
    assert bar["y"] == top["y"] + top["height"]
    expect(page.locator(".tabbar a")).to_have_count(4)


def test_large_text_chosen_before_signing_in_stays_after(live_server, browser_factory, make_volunteer):
    mobile, base = make_volunteer().mobile, live_server.url
    page = browser_factory().new_context(**PHONE).new_page()
    page.goto(base + "/login")
    page.get_by_role("button", name="大字显示").click()
    assert page.locator("html").evaluate("element => getComputedStyle(element).fontSize") == "22px"
    sign_in(page, base, mobile)
    assert page.locator("html").evaluate("element => getComputedStyle(element).fontSize") == "22px"
    assert scalar(select(User.large_text).where(User.mobile == mobile)) is True
