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
def coordinator_client(client, login, make_coordinator, make_volunteer, make_shift):
    coordinator, volunteer = make_coordinator(), make_volunteer()
    shift = make_shift()
    shifts.sign_up(volunteer, shift.id)
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
