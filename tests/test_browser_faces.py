"""In Chromium: register, consent, enrol from the fake camera, and pass a verification."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.facekit import image, obama_live
from volunteer.extensions import db
from volunteer.models import FaceAttempt, User

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("photos"),
              pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}


def _register(page, base: str, team_name: str) -> None:
    page.goto(base + "/register")
    page.fill("#f-name", "周丽华")
    page.fill("#f-mobile", "13812345678")
    page.select_option("#f-team", label=team_name)
    page.fill("#f-password", "Xihu-patrol-77")
    page.fill("#f-confirm", "Xihu-patrol-77")
    page.click("button[type=submit].btn-wide")
    page.wait_for_url(base + "/login")  # the same answer for a new and a registered number: now sign in
    assert page.input_value("#f-mobile") == "13812345678"
    page.fill("#f-password", "Xihu-patrol-77")
    page.click("button[type=submit].btn-wide")
    page.wait_for_url(base + "/home")


def test_register_consent_enrol_from_camera_and_verify(live_server, browser_factory, team, tmp_path):
    browser = browser_factory(camera_photo=image("obama.jpg"))
    page = browser.new_context(**PHONE).new_page()
    base = live_server.url
    _register(page, base, team.name)

    page.goto(base + "/faces/consent")
    assert "人脸" in page.content()
    page.click("button[value=accept]")
    page.wait_for_url(base + "/faces/enrol")
    page.click("[data-start]")
    page.wait_for_selector(".camera-box[data-result]", timeout=30_000)
    assert page.get_attribute(".camera-box", "data-result") == "ok", page.inner_text(".status-text")
    assert "已录入" in page.inner_text(".status-text")
    page.wait_for_url(base + "/faces/verify", timeout=10_000)

    # liveness needs the head to turn, which a one-photo fake camera cannot do: answer with the upload fallback
    frames = []
    for index, blob in enumerate(obama_live()):
        path = tmp_path / f"frame{index}.jpg"
        path.write_bytes(blob)
        frames.append(path)
    page.click("details.fallback summary")
    for index, path in enumerate(frames, start=1):
        page.set_input_files(f"#up-{index}", str(path))
    page.click(".upload-form button[type=submit]")
    page.wait_for_selector(".camera-box[data-result]", timeout=30_000)
    assert "验证通过" in page.inner_text("[data-upload-status]")
    page.screenshot(path=str(tmp_path / "verified.png"), full_page=True)

    user = db.session.scalar(select(User).where(User.mobile == "13812345678"))
    attempts = db.session.scalars(select(FaceAttempt).where(FaceAttempt.user_id == user.id)).all()
    assert [(a.purpose, a.accepted) for a in attempts] == [("enrol", True), ("verify", True)]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True, FACE_LIVENESS=False)
def test_camera_verification_with_liveness_switched_off(live_server, browser_factory, make_volunteer):
    from volunteer.services import face_id
    from tests.facekit import obama_enrolment
    from tests.conftest import PASSWORD

    user = make_volunteer()
    face_id.give_consent(user.id)
    face_id.enrol(user.id, obama_enrolment())
    db.session.commit()
    browser = browser_factory(camera_photo=image("obama2.jpg"))
    page = browser.new_context(**{**PHONE, "locale": "en-US"}).new_page()
    page.goto(live_server.url + "/login")
    page.fill("#f-mobile", user.mobile)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit].btn-wide")
    page.goto(live_server.url + "/faces/verify")
    assert "已关闭转头活体检测" in page.content()  # the account's language, not the browser's
    page.click("[data-start]")
    page.wait_for_selector(".camera-box[data-result]", timeout=30_000)
    assert page.get_attribute(".camera-box", "data-result") == "ok", page.inner_text(".status-text")


@pytest.mark.app_config(WTF_CSRF_ENABLED=True, FACE_LIVENESS=False)
def test_the_camera_page_shows_why_a_verification_was_refused(live_server, browser_factory, make_volunteer):
    """The server answers a refusal with 422 and a JSON message; the page says it and offers a retry."""
    from volunteer.services import face_id
    from tests.facekit import obama_enrolment
    from tests.conftest import PASSWORD

    user = make_volunteer()
    face_id.give_consent(user.id)
    face_id.enrol(user.id, obama_enrolment())
    db.session.commit()
    browser = browser_factory(camera_photo=image("biden.jpg"))
    page = browser.new_context(**PHONE).new_page()
    page.goto(live_server.url + "/login")
    page.fill("#f-mobile", user.mobile)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit].btn-wide")
    page.goto(live_server.url + "/faces/verify")
    start, retry = page.locator("[data-start]"), page.locator("[data-retry]")
    expect(start).to_be_visible()
    expect(retry).to_be_hidden()  # "try again" before anything was tried: `hidden` must beat .btn's display
    with page.expect_response(lambda r: r.url.endswith("/faces/verify") and r.request.method == "POST") as answer:
        start.click()
        expect(start).to_be_hidden()  # pressed: the camera runs, the button goes
    assert answer.value.status == 422
    page.wait_for_selector(".camera-box[data-result]", timeout=30_000)
    assert page.get_attribute(".camera-box", "data-result") == "failed"
    assert page.inner_text(".status-text") == "与录入的人脸不是同一个人。"
    expect(retry).to_be_visible()
    expect(start).to_be_hidden()
