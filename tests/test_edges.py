"""The holes a probe over HTTP found (issue 12): open redirects, limits behind a proxy, lockout, registration
answers, till guessing, caching and status codes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import FaceTemplate, RewardStatus, User, Voucher
from volunteer.services import attendance, face_id, shifts
from volunteer.views.common import safe_target

ATTACKER = {"REMOTE_ADDR": "203.0.113.5"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}
PROXY = {"REMOTE_ADDR": "10.0.0.2"}


# --- open redirects -----------------------------------------------------------------------------------------

#: what arrives in ``next``/``back`` (already percent-decoded by the server) → where a browser would have gone
OFF_SITE = [
    "/\t/evil.example/phish",  # the probe's /%09/evil.example/phish: the browser drops the tab → //evil.example
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "\x00//evil.example",
    "/\n/evil.example",
    "///evil.example",  # what ?next=/%2F%2Fevil.example arrives as
    "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_the_helper_refuses_every_way_off_the_site(app, target):
    with app.test_request_context():
        assert safe_target(target) == "/home"
        assert safe_target(target, "coordinator.approval_queue") == "/coordinator/approvals"


@pytest.mark.parametrize("target, expected", [
    ("/volunteer/shifts?day=2026-11-30", "/volunteer/shifts?day=2026-11-30"),
    ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # still a path on this site: browsers do not decode %2F
    ("/home\r\nSet-Cookie: x=1", "/homeSet-Cookie: x=1"),  # the browser's reading: no header, a harmless 404
    ("  /volunteer/rewards ", "/volunteer/rewards"),
])
def test_the_helper_keeps_paths_on_this_site(app, target, expected):
    with app.test_request_context():
        assert safe_target(target) == expected


@pytest.mark.parametrize("query", ["next=/%09/evil.example/phish", "next=//evil.example/", "next=/%5Cevil.example",
                                   "next=%5C%5Cevil.example", "next=https://evil.example", "next=/%2F%2Fevil.example",
                                   "next=javascript:alert(1)", "next=%20//evil.example"])
def test_login_never_sends_anyone_off_the_site(client, make_volunteer, query):
    user = make_volunteer()
    response = client.post(f"/login?{query}", data={"mobile": user.mobile, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/home"


def test_login_returns_to_the_page_that_asked(client, make_volunteer):
    user = make_volunteer()
    response = client.post("/login?next=/volunteer/shifts%3Fday%3D2026-11-30",
                           data={"mobile": user.mobile, "password": PASSWORD})
    assert response.headers["Location"] == "/volunteer/shifts?day=2026-11-30"


def test_a_newline_in_next_neither_injects_a_header_nor_fails(client, make_volunteer):
    user = make_volunteer()
    response = client.post("/login?next=/home%0D%0ASet-Cookie:%20x=1",
                           data={"mobile": user.mobile, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/homeSet-Cookie:%20x=1"
    assert not any("x=1" in value for value in response.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize("target", ["/\t/evil.example/phish", "//evil.example/", "/\\evil.example"])
def test_the_language_switch_stays_on_the_site(client, target):
    assert client.post("/language/en", data={"next": target}).headers["Location"] == "/home"
    assert client.post("/language/en", data={"next": "/rewards?x=1"}).headers["Location"] == "/rewards?x=1"


@pytest.fixture
def coordinator_client(client, login, make_coordinator, make_volunteer, make_shift, end_shift):
    coordinator, volunteer = make_coordinator(), make_volunteer()
    shift = make_shift()
    shifts.sign_up(volunteer, shift.id)
    end_shift(shift)
    record = attendance.record_manual(coordinator, shift.id, volunteer.id)
    login(coordinator)
    return client, record, volunteer


@pytest.mark.parametrize("back", ["//evil.example/", "/\t/evil.example/phish", "/\\evil.example"])
def test_reject_goes_back_only_within_the_site(coordinator_client, back):
    client, record, _ = coordinator_client
    response = client.post(f"/coordinator/approvals/{record.id}/reject", data={"reason": "不在现场", "back": back})
    assert response.status_code == 302 and response.headers["Location"] == "/coordinator/approvals"


@pytest.mark.parametrize("back", ["//evil.example/", "/\t/evil.example/phish", "/\\evil.example"])
def test_adjust_points_goes_back_only_within_the_site(coordinator_client, back):
    client, _, volunteer = coordinator_client
    response = client.post(f"/coordinator/volunteers/{volunteer.id}/adjust",
                           data={"amount": "5", "reason": "补录", "back": back})
    assert response.status_code == 302 and response.headers["Location"] == "/home"
    response = client.post(f"/coordinator/volunteers/{volunteer.id}/adjust",
                           data={"amount": "5", "reason": "补录", "back": "/coordinator/approvals"})
    assert response.headers["Location"] == "/coordinator/approvals"


# --- behind a proxy -----------------------------------------------------------------------------------------

def _fail_login(client, mobile: str, environ: dict, forwarded_for: str | None = None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"mobile": mobile, "password": "wrong-wrong"}, environ_base=environ,
                       headers=headers)


@pytest.mark.app_config(PROXY_HOPS=1, LOGIN_LIMIT_PER_IP="3 per 15 minutes")
def test_behind_a_proxy_the_address_limit_counts_each_client_not_the_proxy(client, make_volunteer):
    user = make_volunteer()
    for n in range(3):
        assert _fail_login(client, f"1380000000{n}", PROXY, "203.0.113.5").status_code == 401
    assert _fail_login(client, "13800000009", PROXY, "203.0.113.5").status_code == 429
    # a client that adds its own X-Forwarded-For cannot pose as another: the proxy appends the real address
    assert _fail_login(client, "13800000009", PROXY, "192.0.2.1, 203.0.113.5").status_code == 429
    signed_in = client.post("/login", data={"mobile": user.mobile, "password": PASSWORD}, environ_base=PROXY,
                            headers={"X-Forwarded-For": "198.51.100.7"})
    assert signed_in.status_code == 302


@pytest.mark.app_config(LOGIN_LIMIT_PER_IP="3 per 15 minutes")
def test_without_a_proxy_a_forged_forwarded_header_changes_nothing(client):
    for n in range(3):
        assert _fail_login(client, f"1380000000{n}", ATTACKER, f"192.0.2.{n}").status_code == 401
    assert _fail_login(client, "13800000009", ATTACKER, "192.0.2.99").status_code == 429


@pytest.mark.app_config(PROXY_HOPS=1)
def test_behind_a_proxy_the_app_sees_the_browser_s_address_and_scheme(app, client):
    from flask import request, url_for

    @app.route("/_seen")
    def seen():
        return f"{request.remote_addr} {url_for('main.home', _external=True)}"

    response = client.get("/_seen", environ_base=PROXY,
                          headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"})
    assert response.get_data(as_text=True) == "198.51.100.7 https://localhost/home"


# --- lockout without denial of service -------------------------------------------------------------------------

def test_a_stranger_cannot_lock_the_owner_out(client, make_volunteer):
    user = make_volunteer()
    client.post("/language/en")
    for _ in range(5):
        assert _fail_login(client, user.mobile, ATTACKER).status_code == 401
    blocked = client.post("/login", data={"mobile": user.mobile, "password": PASSWORD}, environ_base=ATTACKER)
    assert blocked.status_code == 429 and "Please try again in 15 minutes" in blocked.get_data(as_text=True)
    owner = client.post("/login", data={"mobile": user.mobile, "password": PASSWORD}, environ_base=OWNER)
    assert owner.status_code == 302 and owner.headers["Location"] == "/home"


@pytest.mark.app_config(LOGIN_LIMIT_PER_ACCOUNT="8 per day")
def test_guessing_from_many_addresses_meets_the_account_ceiling(client, make_volunteer):
    user = make_volunteer()
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(5):
            assert _fail_login(client, user.mobile, ATTACKER).status_code == 401
        assert _fail_login(client, user.mobile, ATTACKER).status_code == 429
        clock.shift(timedelta(minutes=16))  # the address may try again, the account's day still counts
        for _ in range(2):
            assert _fail_login(client, user.mobile, ATTACKER).status_code == 401
        assert _fail_login(client, user.mobile, {"REMOTE_ADDR": "192.0.2.77"}).status_code == 401
        # eight failures today, from two addresses: now nobody gets in until tomorrow, not even the owner
        owner = client.post("/login", data={"mobile": user.mobile, "password": PASSWORD}, environ_base=OWNER)
        assert owner.status_code == 429


def test_the_account_ceiling_is_higher_and_slower_than_the_address_limit(app):
    assert app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS"] == "5 per 15 minutes"
    assert app.config["LOGIN_LIMIT_PER_ACCOUNT"] == "50 per day"


# --- registration -------------------------------------------------------------------------------------------

GOOD = {"name": "周丽华", "password": "Xihu-patrol-77", "confirm": "Xihu-patrol-77"}


def _register(app, mobile: str, team, **changes):
    browser = app.test_client()
    browser.post("/language/en")
    response = browser.post("/register", data={**GOOD, "mobile": mobile, "team_id": team.id, **changes})
    page = browser.get(response.headers["Location"]) if response.status_code == 302 else response
    return response, re.sub(r'name="csrf_token" value="[^"]*"', "", page.get_data(as_text=True))


def test_registration_answers_alike_for_new_and_registered_mobiles(app, team, make_volunteer):
    existing = make_volunteer()
    new, new_page = _register(app, "13812345678", team)
    known, known_page = _register(app, existing.mobile, team)
    assert new.status_code == known.status_code == 302
    assert new.headers["Location"] == known.headers["Location"] == "/login"
    message = "Thank you. If this mobile number was new, your account is ready: please sign in."
    assert message in new_page and message in known_page
    assert "already registered. Please sign in instead" not in known_page
    assert new_page.replace("13812345678", existing.mobile) == known_page
    # the new account works; the existing one is untouched (its password still the owner's)
    assert db.session.scalar(select(func.count(User.id)).where(User.mobile == existing.mobile)) == 1
    owner = app.test_client()
    assert owner.post("/login", data={"mobile": existing.mobile, "password": GOOD["password"]}).status_code == 401
    assert owner.post("/login", data={"mobile": existing.mobile, "password": PASSWORD}).status_code == 302
    assert owner.post("/login", data={"mobile": "13812345678", "password": GOOD["password"]}).status_code == 302


def test_a_form_with_mistakes_says_nothing_about_the_mobile(app, team, make_volunteer):
    existing = make_volunteer()
    new, new_page = _register(app, "13812345678", team, confirm="Something-else-1")
    known, known_page = _register(app, existing.mobile, team, confirm="Something-else-1")
    assert new.status_code == known.status_code == 400
    assert "The two passwords are not the same." in known_page and 'id="e-mobile"' not in known_page
    assert new_page.replace("13812345678", existing.mobile) == known_page


def test_registration_is_rate_limited_per_address(app, team):
    for n in range(10):
        response, _ = _register(app, f"1381234{n:04d}", team)
        assert response.status_code == 302
    response, page = _register(app, "13812349999", team)
    assert response.status_code == 429 and "Please try again in" in page
    elsewhere = app.test_client().post("/register", data={**GOOD, "mobile": "13812349999", "team_id": team.id},
                                       environ_base=OWNER)
    assert elsewhere.status_code == 302


@pytest.mark.app_config(REGISTER_LIMIT_PER_IP="2 per hour")
def test_forms_sent_back_with_mistakes_do_not_use_up_the_limit(app, team):
    for _ in range(4):
        assert _register(app, "13812345678", team, password="short")[0].status_code == 400
    assert _register(app, "13812345678", team)[0].status_code == 302
    assert _register(app, "13812345679", team)[0].status_code == 302
    assert _register(app, "13812345670", team)[0].status_code == 429


# --- till guessing ------------------------------------------------------------------------------------------

@pytest.mark.app_config(VOUCHER_LOOKUP_LIMIT="3 per 10 minutes")
def test_one_guessing_budget_across_the_three_code_routes(client, login, make_staff):
    login(make_staff())
    assert client.post("/merchant/", data={"code": "GUESS000000000000001"}).status_code == 404
    assert client.get("/merchant/v/GUESS000000000000002").status_code == 404
    assert client.post("/merchant/v/GUESS000000000000003/redeem").status_code == 404
    assert client.get("/merchant/v/GUESS000000000000004").status_code == 429
    assert client.post("/merchant/", data={"code": "GUESS000000000000005"}).status_code == 429


@pytest.mark.app_config(VOUCHER_LOOKUP_LIMIT="3 per 10 minutes")
def test_signing_in_again_does_not_reset_the_budget(client, login, make_staff):
    staff = make_staff()
    login(staff)
    for n in range(3):
        assert client.post("/merchant/", data={"code": f"GUESS{n:015d}"}).status_code == 404
    client.post("/logout")
    login(staff)
    assert client.post("/merchant/", data={"code": "GUESS999999999999999"}).status_code == 429
    colleague = make_staff(merchant=staff.merchant, name="另一位店员")
    client.post("/logout")
    login(colleague)  # each staff account has its own budget
    assert client.post("/merchant/", data={"code": "GUESS999999999999999"}).status_code == 404


# --- caching, HSTS, status codes, unapproved rewards ------------------------------------------------------------

def test_signed_in_pages_and_downloads_are_not_stored(client, login, make_staff):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    login(make_staff())
    assert client.get("/merchant/history").headers["Cache-Control"] == "no-store"
    csv = client.get("/merchant/settlement.csv")
    assert csv.status_code == 200 and csv.headers["Cache-Control"] == "no-store"
    static = client.get("/static/js/camera.js")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_the_certificate_download_is_not_stored(client, login, make_volunteer):
    login(make_volunteer())
    response = client.post("/volunteer/certificate", follow_redirects=True)
    assert response.mimetype == "application/pdf" and response.headers["Cache-Control"] == "no-store"


def test_hsts_only_with_secure_cookies(app_factory):
    assert "Strict-Transport-Security" not in app_factory().test_client().get("/login").headers
    secure = app_factory(SESSION_COOKIE_SECURE=True).test_client().get("/login")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.fixture
def enrolled(client, login, make_volunteer):
    """A volunteer with consent and a (never decrypted) template: a forged challenge fails before matching."""
    user = make_volunteer()
    face_id.give_consent(user.id)
    db.session.add(FaceTemplate(user_id=user.id, model_name="test", model_version="1", ciphertext=b"unused"))
    db.session.commit()
    login(user)
    client.post("/language/en")
    return client, user


JSON = {"Accept": "application/json"}


def test_a_refused_verification_is_a_4xx_with_its_message(enrolled):
    client, _ = enrolled
    response = client.post("/faces/verify", data={"token": "forged"}, headers=JSON)
    assert response.status_code == 422
    assert response.json["ok"] is False and response.json["reason"] == "challenge_invalid"
    assert response.json["message"]


def test_a_refused_check_in_is_a_4xx_with_its_message(enrolled, make_shift):
    client, user = enrolled
    shift = make_shift()
    shifts.sign_up(user, shift.id)
    shift.starts_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    response = client.post(f"/volunteer/shifts/{shift.id}/check-in", data={"token": "forged"}, headers=JSON)
    assert response.status_code == 422
    assert response.json["ok"] is False and response.json["message"] and response.json["next"] is None


@pytest.mark.parametrize("status", [RewardStatus.PROPOSED, RewardStatus.RETIRED])
def test_volunteers_cannot_open_or_redeem_a_reward_that_is_not_active(client, login, make_volunteer, make_reward,
                                                                     status):
    user = make_volunteer(points=500)
    hidden = make_reward(cost=10, title="商户提议的奖励", status=status)
    login(user)
    page = client.get(f"/volunteer/rewards/{hidden.id}")
    assert page.status_code == 404 and "商户提议的奖励" not in page.get_data(as_text=True)
    client.post(f"/volunteer/rewards/{hidden.id}/redeem", data={"key": "k" * 32})
    assert db.session.scalar(select(func.count(Voucher.id))) == 0
    assert db.session.get(User, user.id).points_balance == 500
    shown = make_reward(cost=10, title="北山街停车月卡")
    assert client.get(f"/volunteer/rewards/{shown.id}").status_code == 200
