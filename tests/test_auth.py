"""Registration, sign-in, sign-out, rate limits, CSRF."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, require_redis
from volunteer.errors import FieldErrors
from volunteer.extensions import db
from volunteer.models import AuditEvent, User
from volunteer.services import accounts

GOOD = {"name": "周丽华", "mobile": "13812345678", "password": "Xihu-patrol-77", "confirm": "Xihu-patrol-77"}


def _users() -> int:
    return db.session.scalar(select(func.count(User.id)))


def test_register_creates_a_volunteer_who_then_signs_in(client, team):
    response = client.post("/register", data={**GOOD, "team_id": team.id})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    user = db.session.scalar(select(User).where(User.mobile == "13812345678"))
    assert user.name == "周丽华" and user.teams == [team] and user.role == "volunteer"
    assert user.password_hash != GOOD["password"]
    assert 'value="13812345678"' in client.get("/login").get_data(as_text=True)  # the number is filled in
    assert client.post("/login", data={"mobile": "13812345678", "password": GOOD["password"]}).status_code == 302
    assert "周丽华" in client.get("/home").get_data(as_text=True)


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "Please enter your real name."),
    ("name", "名" * 51, "At most 50 characters."),
    ("mobile", "12345", "Please enter an 11-digit mainland mobile number starting with 1."),
    ("mobile", "23812345678", "Please enter an 11-digit mainland mobile number starting with 1."),
    ("password", "short1", "The password needs at least 8 characters."),
    ("password", "x" * 129, "The password can have at most 128 characters."),
    ("password", "password123", "This password is too common and easy to guess. Please choose another."),
    ("confirm", "Different-pass-1", "The two passwords are not the same."),
])
def test_each_bad_field_has_its_own_message_and_nothing_is_saved(client, team, field, value, message):
    data = {**GOOD, "team_id": team.id, field: value}
    if field == "password":
        data["confirm"] = value
    client.post("/language/en")
    before = _users()
    response = client.post("/register", data=data)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body
    assert f'id="e-{field}"' in body
    assert _users() == before


def test_register_without_team_is_refused(client, team):
    client.post("/language/en")
    response = client.post("/register", data=GOOD)
    assert "Please choose your team." in response.get_data(as_text=True) and _users() == 0


def test_duplicate_mobile_is_refused_and_the_account_left_alone(app, team, make_volunteer):
    existing = make_volunteer()
    before = existing.password_hash
    with pytest.raises(accounts.AlreadyRegisteredError):
        accounts.register_volunteer("某人", existing.mobile, "Good-pass-123", "Good-pass-123", team.id)
    assert _users() == 1 and db.session.get(User, existing.id).password_hash == before


def test_a_duplicate_mobile_is_only_reported_when_every_other_field_is_right(app, team, make_volunteer):
    existing = make_volunteer()
    with pytest.raises(FieldErrors) as info:
        accounts.register_volunteer("某人", existing.mobile, "short", "short", team.id)
    assert set(info.value.fields) == {"password"}


def test_mobile_is_normalised(app, team):
    user = accounts.register_volunteer("某人", "+86 138-1234-5678", "Good-pass-123", "Good-pass-123", team.id)
    assert user.mobile == "13812345678"


def test_registration_message_in_chinese(client, team):
    response = client.post("/register", data={**GOOD, "team_id": team.id, "mobile": "1"})
    assert "请输入以 1 开头的 11 位手机号码" in response.get_data(as_text=True)


def test_login_and_logout(client, make_volunteer):
    user = make_volunteer()
    assert client.post("/login", data={"mobile": user.mobile, "password": PASSWORD}).status_code == 302
    assert client.get("/home").status_code == 200
    assert user.name in client.get("/home").get_data(as_text=True)
    client.post("/logout")
    assert client.get("/home").status_code == 200
    assert user.name not in client.get("/home").get_data(as_text=True)


def test_wrong_password_gives_one_message_for_both_cases(client, make_volunteer):
    user = make_volunteer()
    client.post("/language/en")
    wrong = client.post("/login", data={"mobile": user.mobile, "password": "nope-nope-nope"})
    unknown = client.post("/login", data={"mobile": "13700000000", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong mobile number or password." in wrong.get_data(as_text=True)
    assert "Wrong mobile number or password." in unknown.get_data(as_text=True)


def test_a_copied_cookie_stops_working_after_logout(app, make_volunteer):
    user = make_volunteer()
    browser = app.test_client()
    browser.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    cookie = browser.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert user.name in thief.get("/home").get_data(as_text=True)
    browser.post("/logout")
    thief.set_cookie("session", cookie)
    assert user.name not in thief.get("/home").get_data(as_text=True)


def test_session_is_renewed_at_login(app, make_volunteer):
    user = make_volunteer()
    browser = app.test_client()
    with browser.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    browser.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    with browser.session_transaction() as sess:
        assert "planted" not in sess


def test_disabled_account_cannot_sign_in_and_loses_sessions(app, client, make_volunteer, make_admin):
    user = make_volunteer()
    client.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    accounts.set_enabled(make_admin(), user.id, False)
    assert user.name not in client.get("/home").get_data(as_text=True)
    assert client.post("/login", data={"mobile": user.mobile, "password": PASSWORD}).status_code == 401
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.target == f"user:{user.id}")
                             .order_by(AuditEvent.id.desc())) == "account.disable"


def test_login_is_rate_limited_per_account(client, make_volunteer):
    user = make_volunteer()
    client.post("/language/en")
    for _ in range(5):
        assert client.post("/login", data={"mobile": user.mobile, "password": "wrong-wrong"}).status_code == 401
    blocked = client.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Please try again in 15 minutes" in blocked.get_data(as_text=True)
    # another account from the same place is still fine
    other = make_volunteer("另一人")
    assert client.post("/login", data={"mobile": other.mobile, "password": PASSWORD}).status_code == 302


def test_the_account_limit_cannot_be_dodged_by_writing_the_number_differently(client, make_volunteer):
    user = make_volunteer()
    spellings = [user.mobile, "+86" + user.mobile, f"{user.mobile[:3]} {user.mobile[3:7]} {user.mobile[7:]}",
                 f"{user.mobile[:3]}-{user.mobile[3:]}", " " + user.mobile]
    for spelling in spellings:
        assert client.post("/login", data={"mobile": spelling, "password": "wrong-wrong"}).status_code == 401
    assert client.post("/login", data={"mobile": user.mobile, "password": PASSWORD}).status_code == 429


@pytest.mark.app_config(LOGIN_LIMIT_PER_IP="3 per 15 minutes")
def test_login_is_rate_limited_per_ip(client):
    for n in range(3):
        client.post("/login", data={"mobile": f"1380000000{n}", "password": "wrong-wrong"})
    response = client.post("/login", data={"mobile": "13800000009", "password": "wrong-wrong"},
                           headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 429
    assert "尝试次数过多" in response.get_data(as_text=True)


def test_successful_logins_do_not_count_towards_the_limit(client, make_volunteer):
    user = make_volunteer()
    for _ in range(8):
        assert client.post("/login", data={"mobile": user.mobile, "password": PASSWORD}).status_code == 302
        client.post("/logout")


@pytest.mark.app_config(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15", LOGIN_LIMIT_PER_ACCOUNT="2 per minute")
def test_rate_limits_can_live_in_redis(app, make_volunteer):
    """Production shares limits between gunicorn workers through Redis."""
    require_redis("redis://127.0.0.1:6379/15")
    user = make_volunteer()
    first, second = app.test_client(), app.test_client()  # two "workers" sharing one store
    first.post("/login", data={"mobile": user.mobile, "password": "wrong-wrong"})
    second.post("/login", data={"mobile": user.mobile, "password": "wrong-wrong"})
    assert first.post("/login", data={"mobile": user.mobile, "password": PASSWORD}).status_code == 429


def test_open_redirect_is_refused(client, make_volunteer):
    user = make_volunteer()
    response = client.post("/login?next=//evil.example/", data={"mobile": user.mobile, "password": PASSWORD})
    assert response.headers["Location"] == "/home"


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_forms_without_csrf_token_are_refused(client):
    response = client.post("/login", data={"mobile": "13800000000", "password": "x"},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "This form has expired. Please reload the page and try again." in response.get_data(as_text=True)


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_forms_with_csrf_token_work(client, make_volunteer):
    import re

    user = make_volunteer()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"mobile": user.mobile, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_language_choice_is_remembered_for_the_account(app, make_volunteer):
    user = make_volunteer()
    first = app.test_client()
    first.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    first.post("/language/en")
    second = app.test_client()  # another phone
    second.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    assert "Sign out" in second.get("/volunteer/me").get_data(as_text=True)


def test_create_user_command(runner, make_merchant):
    merchant = make_merchant()
    result = runner.invoke(args=["create-user", "--role", "merchant", "--name", "收银员", "--mobile",
                                 "13912340000", "--password", "Till-staff-2026", "--merchant-id", str(merchant.id)])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).where(User.mobile == "13912340000")).merchant_id == merchant.id
    bad = runner.invoke(args=["create-user", "--role", "merchant", "--name", "x", "--mobile", "139",
                              "--password", "Till-staff-2026"])
    assert bad.exit_code == 1 and "merchant" in bad.output


def test_admin_reset_gives_a_working_temporary_password_and_ends_sessions(app, make_volunteer, make_admin):
    user, admin = make_volunteer(), make_admin()
    phone = app.test_client()
    phone.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    desk = app.test_client()
    desk.post("/login", data={"mobile": admin.mobile, "password": PASSWORD})
    desk.post("/language/en")
    body = desk.post(f"/admin/users/{user.id}/password", follow_redirects=True).get_data(as_text=True)
    temporary = body.split("Temporary password: ", 1)[1].split(" ", 1)[0]
    assert len(temporary) == 14
    assert user.name not in phone.get("/home").get_data(as_text=True)  # the old session is over
    assert phone.post("/login", data={"mobile": user.mobile, "password": PASSWORD}).status_code == 401
    assert phone.post("/login", data={"mobile": user.mobile, "password": temporary}).status_code == 302
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "account.reset_password"))


def test_only_admins_reset_passwords(client, login, make_coordinator, make_volunteer):
    target = make_volunteer("别人")
    login(make_coordinator())
    assert client.post(f"/admin/users/{target.id}/password").status_code == 403


@pytest.mark.parametrize("form, field, message", [
    ({"current": "wrong-wrong-1", "password": "New-pass-2026", "confirm": "New-pass-2026"}, "current",
     "The current password is not right."),
    ({"current": PASSWORD, "password": "short", "confirm": "short"}, "password",
     "The password needs at least 8 characters."),
    ({"current": PASSWORD, "password": "New-pass-2026", "confirm": "Other-pass-2026"}, "confirm",
     "The two passwords are not the same."),
    ({"current": PASSWORD, "password": PASSWORD, "confirm": PASSWORD}, "password",
     "Please choose a password different from the current one."),
])
def test_change_password_refusals(client, login, make_volunteer, form, field, message):
    user = make_volunteer()
    login(user)
    client.post("/language/en")
    response = client.post("/password", data=form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert f'id="e-{field}"' in response.get_data(as_text=True)


def test_change_password_keeps_this_device_and_signs_out_others(app, make_volunteer):
    user = make_volunteer()
    this, other = app.test_client(), app.test_client()
    for device in (this, other):
        device.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    response = this.post("/password", data={"current": PASSWORD, "password": "New-pass-2026",
                                             "confirm": "New-pass-2026"})
    assert response.status_code == 302
    assert user.name in this.get("/home").get_data(as_text=True)
    assert user.name not in other.get("/home").get_data(as_text=True)
    assert other.post("/login", data={"mobile": user.mobile, "password": "New-pass-2026"}).status_code == 302
