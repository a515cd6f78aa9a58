"""Issue 14 without a browser: confirmation steps that work with no script at all, the repeat-redemption question,
the larger-text setting, the upload section after a refusal, and `make run PORT=…`."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from volunteer.extensions import db
from volunteer.models import User, Voucher
from volunteer.services import rewards

ROOT = Path(__file__).resolve().parent.parent
NOON = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Hangzhou


def vouchers() -> int:
    return db.session.scalar(select(func.count(Voucher.id)))


# --- 12 -----------------------------------------------------------------------------------------------------

def test_make_run_takes_the_port_from_the_command_line():
    plan = subprocess.run(["make", "-n", "run", "PORT=5101"], cwd=ROOT, capture_output=True, text=True, check=True)
    # the seed prints the demo logins and http://127.0.0.1:5101 (tests/test_first_use.py), the server listens there
    assert "seed-demo --if-empty --port 5101" in plan.stdout and "run --host 127.0.0.1 --port 5101" in plan.stdout
    default = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "--port 5000" in default.stdout


# --- 5: redemption ------------------------------------------------------------------------------------------

def test_a_second_redemption_within_ten_minutes_must_be_confirmed_knowingly(app, make_volunteer, make_reward):
    volunteer = make_volunteer(points=1000)
    reward = make_reward(cost=100, stock=None)
    with time_machine.travel(NOON, tick=False) as traveller:
        first = rewards.redeem_reward(volunteer.id, reward.id, "key-1", seen_voucher_id=0)
        traveller.shift(timedelta(minutes=9, seconds=59))
        with pytest.raises(rewards.RepeatRedemptionError):
            rewards.redeem_reward(volunteer.id, reward.id, "key-2", seen_voucher_id=0)  # did not know of it
        assert vouchers() == 1
        assert db.session.get(User, volunteer.id).points_balance == 900  # the refused one spent nothing
        second = rewards.redeem_reward(volunteer.id, reward.id, "key-3", seen_voucher_id=first.id)  # knew
        assert rewards.redeem_reward(volunteer.id, reward.id, "key-3", seen_voucher_id=0).id == second.id  # a retry
        traveller.shift(timedelta(minutes=10, seconds=1))
        rewards.redeem_reward(volunteer.id, reward.id, "key-4", seen_voucher_id=0)  # long enough ago: no question
    assert vouchers() == 3


def test_a_cancelled_voucher_is_no_reason_to_ask_again(app, make_volunteer, make_reward):
    volunteer = make_volunteer(points=1000)
    reward = make_reward(cost=100)
    first = rewards.redeem_reward(volunteer.id, reward.id, "key-1", seen_voucher_id=0)
    rewards.cancel_voucher(volunteer.id, first.id)
    rewards.redeem_reward(volunteer.id, reward.id, "key-2", seen_voucher_id=0)
    assert vouchers() == 2


def test_the_confirmation_page_says_what_it_costs_and_spends_nothing(client, login, make_volunteer, make_reward):
    volunteer = make_volunteer(points=300)
    reward = make_reward(cost=100, title="灵隐门票")
    login(volunteer)
    body = client.get(f"/volunteer/rewards/{reward.id}/redeem").get_data(as_text=True)
    assert "用 100 积分兑换“灵隐门票”吗？兑换后还剩 200 积分。" in body
    assert 'name="seen" value="0"' in body
    assert vouchers() == 0 and db.session.get(User, volunteer.id).points_balance == 300


def test_without_a_script_a_repeat_is_asked_again_with_how_long_ago(client, login, make_volunteer, make_reward):
    volunteer = make_volunteer(points=300)
    reward = make_reward(cost=100)
    with time_machine.travel(NOON, tick=False) as traveller:
        login(volunteer)
        response = client.post(f"/volunteer/rewards/{reward.id}/redeem", data={"key": "a" * 32, "seen": "0"})
        assert "/volunteer/vouchers/" in response.headers["Location"]
        traveller.shift(timedelta(minutes=2, seconds=30))
        response = client.post(f"/volunteer/rewards/{reward.id}/redeem", data={"key": "b" * 32, "seen": "0"})
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/volunteer/rewards/{reward.id}/redeem")  # asked again
        assert vouchers() == 1
        body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "您在 2 分钟前刚兑换过这个奖励。" in body and "确定再兑换一份" in body
    first = db.session.scalar(select(Voucher))
    assert f'name="seen" value="{first.id}"' in body


def test_the_confirmation_page_says_why_it_cannot_be_redeemed(client, login, make_volunteer, make_reward):
    login(make_volunteer(points=30))
    body = client.get(f"/volunteer/rewards/{make_reward(cost=100).id}/redeem").get_data(as_text=True)
    assert "积分不足" in body and "data-confirm-redeem" not in body


def test_the_confirmation_page_says_the_limit_is_reached_instead_of_offering_another(
        client, login, make_volunteer, make_reward):
    """A limited reward already redeemed: the page says so, rather than "Yes, redeem another one"."""
    volunteer = make_volunteer(points=500)
    reward = make_reward(cost=100, per_volunteer_limit=1, limit_period_days=30)
    rewards.redeem_reward(volunteer.id, reward.id, "key-1", seen_voucher_id=0)
    login(volunteer)
    body = client.get(f"/volunteer/rewards/{reward.id}/redeem").get_data(as_text=True)
    assert "您已达到这个奖品的兑换上限" in body and "data-confirm-redeem" not in body


def test_before_a_timed_sale_the_confirmation_counts_down_with_its_button(client, login, make_volunteer,
                                                                           make_reward):
    """The button is there (the script enables it at the instant; the server refuses early presses)."""
    volunteer = make_volunteer(points=500)
    reward = make_reward(cost=100, on_sale_from=datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 in Hangzhou
    with time_machine.travel(NOON - timedelta(hours=2, minutes=1), tick=False):
        login(volunteer)
        body = client.get(f"/volunteer/rewards/{reward.id}/redeem").get_data(as_text=True)
    assert "data-countdown" in body and "2026-11-23 10:00 开售" in body and "data-confirm-redeem" in body


# --- 5: cancel a voucher, reset a password ------------------------------------------------------------------

def test_cancelling_a_voucher_without_a_script_asks_first(client, login, make_volunteer, make_reward):
    volunteer = make_volunteer(points=300)
    voucher = rewards.redeem_reward(volunteer.id, make_reward(cost=100).id, "k")
    login(volunteer)
    body = client.get(f"/volunteer/vouchers/{voucher.id}/cancel").get_data(as_text=True)
    assert "100 积分退回给您，您将有 300 积分" in body
    assert db.session.get(Voucher, voucher.id).status == "issued"
    client.post(f"/volunteer/vouchers/{voucher.id}/cancel")
    assert db.session.get(Voucher, voucher.id).status == "cancelled"


def test_a_used_voucher_has_no_cancel_button_on_its_confirmation_page(client, login, make_volunteer, make_reward):
    volunteer = make_volunteer(points=300)
    voucher = rewards.redeem_reward(volunteer.id, make_reward(cost=100).id, "k")
    rewards.cancel_voucher(volunteer.id, voucher.id)
    login(volunteer)
    body = client.get(f"/volunteer/vouchers/{voucher.id}/cancel").get_data(as_text=True)
    assert "已取消" in body and "data-confirm-cancel" not in body


def test_resetting_a_password_without_a_script_asks_first(client, login, make_admin, make_volunteer):
    person = make_volunteer("周丽华")
    before = person.password_hash
    login(make_admin())
    body = client.get(f"/admin/users/{person.id}/password").get_data(as_text=True)
    assert "要给 周丽华 一个新的临时密码吗？" in body
    assert db.session.get(User, person.id).password_hash == before
    client.post(f"/admin/users/{person.id}/password")
    assert db.session.get(User, person.id).password_hash != before


def test_only_an_admin_sees_the_reset_confirmation(client, login, make_coordinator, make_volunteer):
    person = make_volunteer()
    login(make_coordinator())
    assert client.get(f"/admin/users/{person.id}/password").status_code == 403


def test_the_admin_s_own_row_offers_no_password_reset(client, login, make_admin, make_volunteer):
    admin, person = make_admin("王管理"), make_volunteer("周丽华")
    login(admin)
    body = client.get("/admin/users").get_data(as_text=True)
    assert f'href="/admin/users/{person.id}/password"' in body
    assert f'href="/admin/users/{admin.id}/password"' not in body
    assert 'href="/password"' in body  # their own goes through "change password", in the menu


@pytest.mark.parametrize(("language", "message"), [
    ("zh_CN", "不能在这里重置您自己的密码，请使用“修改密码”。"),
    ("en", "You cannot reset your own password here; please use “Change password” instead."),
])
def test_an_admin_cannot_reset_their_own_password_through_the_admin_page(client, login, make_admin, language,
                                                                         message):
    admin = make_admin()
    before = admin.password_hash
    login(admin)
    client.post(f"/language/{language}")
    for method in (client.get, client.post):
        response = method(f"/admin/users/{admin.id}/password")
        assert response.status_code == 302 and response.location.endswith("/admin/users")
        assert message in client.get("/admin/users").get_data(as_text=True)
    assert db.session.get(User, admin.id).password_hash == before
    assert client.get("/home").status_code == 200  # still signed in: the session was not ended


# --- 13: larger text ----------------------------------------------------------------------------------------

def test_larger_text_is_kept_with_the_account(app, client, login, make_volunteer):
    volunteer = make_volunteer()
    login(volunteer)
    assert 'class="large-text"' not in client.get("/volunteer/me").get_data(as_text=True)
    client.post("/text-size", data={"large": "1", "next": "/volunteer/me"})
    assert db.session.get(User, volunteer.id).large_text is True
    other_phone = app.test_client()
    other_phone.post("/login", data={"mobile": volunteer.mobile, "password": "Correct-Horse-42"})
    assert '<html lang="zh-CN" class="large-text">' in other_phone.get("/home").get_data(as_text=True)
    client.post("/text-size", data={"large": "0"})
    assert db.session.get(User, volunteer.id).large_text is False


def test_larger_text_without_an_account_is_kept_for_the_browser(client):
    assert 'class="large-text"' not in client.get("/login").get_data(as_text=True)
    response = client.post("/text-size", data={"large": "1", "next": "/register"})
    assert response.headers["Location"] == "/register"
    assert '<html lang="zh-CN" class="large-text">' in client.get("/login").get_data(as_text=True)


# --- 8 without a script: the upload section stays open after a refusal --------------------------------------

@pytest.mark.usefixtures("photos")
def test_a_refused_upload_without_a_script_reopens_the_upload_section(client, login, make_volunteer):
    from tests.facekit import jpeg
    from volunteer.services import face_id

    volunteer = make_volunteer()
    face_id.give_consent(volunteer.id)
    login(volunteer)
    assert "<details class=\"fallback card\" >" in client.get("/faces/enrol").get_data(as_text=True)
    photos = [(jpeg("dogs.jpg"), f"p{i}.jpg") for i in range(3)]
    response = client.post("/faces/enrol", data={"photo": photos}, content_type="multipart/form-data")
    assert response.status_code == 400  # no face in the pictures
    assert "<details class=\"fallback card\" open>" in response.get_data(as_text=True)


# --- a known problem is said before the press, with the next step -----------------------------------------

def test_too_few_points_shows_the_shortfall_and_the_shifts_instead_of_the_button(client, login, make_volunteer,
                                                                                  make_reward):
    volunteer, reward = make_volunteer(points=540), make_reward(cost=600, title="北山街停车场月卡")
    login(volunteer)
    page = client.get(f"/volunteer/rewards/{reward.id}").get_data(as_text=True)
    assert "积分不足：还差 60 分。" in page and "去报名班次赚积分" in page and 'href="/volunteer/shifts"' in page
    assert "data-redeem" not in page and f"/volunteer/rewards/{reward.id}/redeem" not in page
    confirm = client.get(f"/volunteer/rewards/{reward.id}/redeem").get_data(as_text=True)
    assert "积分不足：还差 60 分。" in confirm and "去报名班次赚积分" in confirm and 'href="/volunteer/shifts"' in confirm
    assert ">返回</a>" in confirm and "不了，返回" not in confirm and "data-confirm-redeem" not in confirm


def test_enough_points_keeps_the_button_and_no_next_step(client, login, make_volunteer, make_reward):
    volunteer, reward = make_volunteer(points=600), make_reward(cost=600)
    login(volunteer)
    page = client.get(f"/volunteer/rewards/{reward.id}").get_data(as_text=True)
    assert "data-redeem" in page and "data-problem" not in page and "data-next-step" not in page
    confirm = client.get(f"/volunteer/rewards/{reward.id}/redeem").get_data(as_text=True)
    assert "data-confirm-redeem" in confirm and "不了，返回" in confirm and "data-next-step" not in confirm


@pytest.mark.parametrize("case", ["stars", "stock", "limit"])
def test_other_known_problems_show_their_reason_on_the_reward_page(client, login, make_volunteer, make_reward, case):
    volunteer = make_volunteer(points=500)
    reward = make_reward(cost=100, min_star=3 if case == "stars" else 0, stock=0 if case == "stock" else 10,
                         per_volunteer_limit=1 if case == "limit" else None)
    if case == "limit":
        rewards.redeem_reward(volunteer.id, reward.id, "first", seen_voucher_id=0)
    login(volunteer)
    client.post("/language/en")
    page = client.get(f"/volunteer/rewards/{reward.id}").get_data(as_text=True)
    reason, step = {"stars": ("This reward needs 3 stars; you have 0.", "Sign up for shifts to earn points"),
                    "stock": ("Sorry, this reward is out of stock.", "See other rewards"),
                    "limit": ("You have reached the limit for this reward (1 per 30 days).", "See other rewards")}[case]
    assert reason in page and step in page and "data-redeem" not in page
    confirm = client.get(f"/volunteer/rewards/{reward.id}/redeem").get_data(as_text=True)
    assert reason in confirm and step in confirm and ">Back</a>" in confirm


def test_a_sale_not_yet_open_still_counts_down_with_the_button(client, login, make_volunteer, make_reward):
    volunteer = make_volunteer(points=500)
    reward = make_reward(cost=100, on_sale_from=NOON + timedelta(minutes=5))
    with time_machine.travel(NOON, tick=False):
        login(volunteer)
        page = client.get(f"/volunteer/rewards/{reward.id}").get_data(as_text=True)
        confirm = client.get(f"/volunteer/rewards/{reward.id}/redeem").get_data(as_text=True)
    assert "data-countdown" in page and "data-redeem" in page and "data-problem" not in page
    assert "data-countdown" in confirm and "data-confirm-redeem" in confirm
