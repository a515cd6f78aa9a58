"""What a new volunteer, coordinator and admin meet first: an invalid certificate said plainly, the next shift
that is still ahead, my sign-ups marked in the shift list, a demo with real sponsors, no "disable" button on my
own account, and the address the demo is served on."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from volunteer.extensions import db
from volunteer.models import Category, Merchant, Reward, Role, User, VoucherStatus
from volunteer.services import merchants, rewards, shifts


# --- /verify ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["NOSUCHCODE99", "abc", "<b>x</b>", "9" * 300])
def test_an_unknown_certificate_code_is_said_to_be_not_valid(client, code):
    response = client.get(f"/verify/{code}")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "此证明无效：没有验证码为" in page and "请核对证明上印的验证码" in page
    assert "<b>x</b>" not in page  # what was typed is shown as text
    assert "这份证明是真实的" not in page and "页面不存在" not in page


# --- home ---------------------------------------------------------------------------------------------------

def test_home_never_offers_a_finished_shift_as_the_next(client, login, make_volunteer, make_shift, end_shift):
    volunteer = make_volunteer()
    finished = make_shift(title="昨天的巡逻")
    shifts.sign_up(volunteer, finished.id)
    end_shift(finished, ago=timedelta(hours=1))  # ended an hour ago: still among "my sign-ups" (12 hours)
    login(volunteer)
    page = client.get("/home").get_data(as_text=True)
    assert "昨天的巡逻" not in page and "您的下一个班次" not in page
    later = make_shift(title="明天的巡逻", start_in=timedelta(days=1))
    shifts.sign_up(volunteer, later.id)
    page = client.get("/home").get_data(as_text=True)
    assert "您的下一个班次" in page and "明天的巡逻" in page and "昨天的巡逻" not in page


def test_home_skips_a_waitlisted_shift(client, login, make_volunteer, make_shift):
    first, volunteer = make_volunteer("先到的人"), make_volunteer()
    full = make_shift(title="满员的巡逻", capacity=1)
    shifts.sign_up(first, full.id)
    shifts.sign_up(volunteer, full.id)  # on the waitlist
    login(volunteer)
    page = client.get("/home").get_data(as_text=True)
    assert "满员的巡逻" not in page and "您的下一个班次" not in page


# --- the shift list -------------------------------------------------------------------------------------------

def test_the_shift_list_marks_my_sign_ups_and_waitlist_place(client, login, make_volunteer, make_shift):
    me, seated, waiting = make_volunteer("我"), make_volunteer("已报名的人"), make_volunteer("先候补的人")
    joined = make_shift(title="我报了名的巡逻", capacity=5, start_in=timedelta(days=1))
    full = make_shift(title="满员的巡逻", capacity=1, start_in=timedelta(days=2))
    untouched = make_shift(title="没报名的巡逻", capacity=5, start_in=timedelta(days=3))
    shifts.sign_up(me, joined.id)
    shifts.sign_up(seated, full.id)
    shifts.sign_up(waiting, full.id)
    shifts.sign_up(me, full.id)  # second in line
    login(me)
    page = client.get("/volunteer/shifts").get_data(as_text=True)
    upcoming = page.split("我所在队伍的近期班次", 1)[1]

    def item(title: str) -> str:
        return upcoming.split(f"<b>{title}</b>", 1)[1].split("</li>", 1)[0]

    assert "已报名" in item("我报了名的巡逻") and "</button>" not in item("我报了名的巡逻")
    assert "候补第 2 位" in item("满员的巡逻")
    assert "已报名" not in item("没报名的巡逻") and "候补" not in item("没报名的巡逻")
    my_list = page.split("<h1>", 1)[1].split("</section>", 1)[0]
    assert "候补第 2 位" in my_list and untouched.title not in my_list


# --- the demo -----------------------------------------------------------------------------------------------

def test_the_demo_rewards_come_from_their_own_sponsors(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    sponsor = dict(db.session.execute(select(Reward.category, Merchant.name).join(Merchant)).all())
    assert sponsor == {Category.PARKING: "西湖停车服务公司", Category.SCENIC: "西湖景区灵隐管理处",
                       Category.HEALTH: "西湖区健康体检中心", Category.LOAN: "西湖农商银行北山支行",
                       Category.SHOPPING: "联华超市保俶路店", Category.GOODS: "北山街平安文创小店"}
    staff = db.session.scalar(select(User).where(User.role == Role.MERCHANT))
    assert staff.merchant.name == "西湖停车服务公司"


def test_a_demo_volunteer_can_redeem_a_reward_of_the_demo_merchant_right_away(app, runner):
    """So a new user can try the whole round: redeem as a volunteer, then honour the voucher at the demo till."""
    output = runner.invoke(args=["seed-demo"]).output
    staff = db.session.scalar(select(User).where(User.role == Role.MERCHANT))
    volunteers = db.session.scalars(select(User).where(User.role == Role.VOLUNTEER)).all()
    at_the_till = [r for r in db.session.scalars(select(Reward).where(Reward.merchant_id == staff.merchant_id))
                   if any(rewards.quote_redemption(v, r.id).problem is None for v in volunteers)]
    assert at_the_till
    richest = max(volunteers, key=lambda v: v.points_balance)
    assert f"{richest.mobile}  {richest.name}" in output and f"{staff.mobile}  {staff.name}" in output
    voucher = rewards.redeem_reward(richest.id, at_the_till[0].id, "demo-try", seen_voucher_id=0)
    assert merchants.honour_voucher(staff, voucher.code).status == VoucherStatus.REDEEMED


@pytest.mark.parametrize(("args", "config", "address"), [
    ([], {}, "http://127.0.0.1:5000"),
    (["--port", "8123"], {}, "http://127.0.0.1:8123"),
    ([], {"PORT": 5055}, "http://127.0.0.1:5055"),
    (["--port", "8123"], {"PORT": 5055}, "http://127.0.0.1:8123"),
])
def test_seed_demo_prints_the_port_the_app_runs_on(app_factory, args, config, address):
    app = app_factory(**config)
    output = app.test_cli_runner().invoke(args=["seed-demo", *args]).output
    assert f"Open {address}\n" in output
    assert re.findall(r"http://\S+", output) == [address]


def test_the_port_comes_from_the_environment(monkeypatch, tmp_path):
    from volunteer import config

    monkeypatch.setenv("VOLUNTEER_PORT", "8080")
    assert config.load(tmp_path, {"SECRET_KEY": "x", "FACE_KEY": "x"})["PORT"] == 8080


# --- the admin's own account ------------------------------------------------------------------------------

def test_no_disable_button_on_my_own_row(client, login, make_admin, make_volunteer):
    me, other = make_admin("我自己"), make_volunteer("别人")
    login(me)
    page = client.get("/admin/users").get_data(as_text=True)
    rows = {name: row for row in page.split("<tr>")[1:] for name in ("我自己", "别人") if f"<td>{name}<br>" in row}
    assert f"/admin/users/{me.id}/enabled" not in page and "这是您本人" in rows["我自己"]
    assert f"/admin/users/{other.id}/enabled" in rows["别人"] and "停用" in rows["别人"]
