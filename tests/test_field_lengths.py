"""Every typed text field is limited by its column: one character too many gets that field's message and saves
nothing; exactly the limit is stored whole. On PostgreSQL (the second run of `make test`) the second half proves
the column really holds what the form accepts; SQLite never checks lengths."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.localtime import to_local
from volunteer.models import Attendance, PointEntry, Reward, Shift, User
from volunteer.services import attendance, shifts
from volunteer.services.text import clean_text, max_length


def test_limits_come_from_the_columns():
    """The numbers the forms enforce are the columns' (written down here, so a change to either is noticed)."""
    assert [max_length(c) for c in (User.name, Shift.title, Shift.place_name, Reward.title,
                                    Attendance.reject_reason, PointEntry.note)] == [50, 100, 100, 100, 200, 200]


@pytest.mark.parametrize("raw, problem", [
    ("a\x00b", "Please remove the invisible control characters from this field."),
    ("a\x1bb", "Please remove the invisible control characters from this field."),
    ("a\nb", "Please remove the invisible control characters from this field."),
    ("\ud800", "Please remove the invisible control characters from this field."),
    ("名" * 51, "At most 50 characters."),
    ("   ", "needed"),
])
def test_clean_text_names_each_problem(app, raw, problem):
    errors: dict = {}
    clean_text(errors, "name", raw, User.name, required="needed")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert str(errors["name"]) == problem


def test_multiline_text_keeps_line_breaks_but_not_nul(app):
    errors: dict = {}
    assert clean_text(errors, "description", " 第一行\n第二行\t! ", multiline=True) == "第一行\n第二行\t!"
    assert errors == {}
    clean_text(errors, "description", "a\x00b", multiline=True)
    assert "description" in errors


def _shift_form(team) -> dict:
    start = to_local(utcnow() + timedelta(days=2))
    return {"team_id": team.id, "title": "北山街巡逻", "place_name": "北山街", "latitude": "30.259",
            "longitude": "120.145", "radius_m": "300", "capacity": "4", "points_per_hour": "10",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")}


@pytest.mark.parametrize("field", ["title", "place_name"])
def test_shift_text_fields(client, login, team, make_coordinator, field):
    login(make_coordinator())
    client.post("/language/en")
    too_long = client.post("/coordinator/shifts/new", data={**_shift_form(team), field: "巡" * 101})
    assert too_long.status_code == 400 and "At most 100 characters." in too_long.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Shift.id))) == 0
    fits = client.post("/coordinator/shifts/new", data={**_shift_form(team), field: "巡" * 100})
    assert fits.status_code == 302
    assert db.session.scalar(select(getattr(Shift, field))) == "巡" * 100


def test_shift_description_is_bounded(client, login, team, make_coordinator):
    login(make_coordinator())
    client.post("/language/en")
    response = client.post("/coordinator/shifts/new", data={**_shift_form(team), "description": "x" * 2001})
    assert response.status_code == 400 and "At most 2000 characters." in response.get_data(as_text=True)


def test_registration_name(client, team):
    client.post("/language/en")
    form = {"mobile": "13712345678", "password": "Qiantang-River-9", "confirm": "Qiantang-River-9",
            "team_id": team.id}
    too_long = client.post("/register", data={**form, "name": "名" * 51})
    assert too_long.status_code == 400 and "At most 50 characters." in too_long.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id)).where(User.mobile == "13712345678")) == 0
    assert client.post("/register", data={**form, "name": "名" * 50}).status_code == 302
    assert db.session.scalar(select(User.name).where(User.mobile == "13712345678")) == "名" * 50


def _reward_form(**extra) -> dict:
    return {"title": "西湖游船票", "category": "scenic", "points_cost": "50", "stock": "5", "validity_days": "30",
            "min_star": "0", "limit_period_days": "30", **extra}


def test_reward_title_proposed_by_a_merchant(client, login, make_staff):
    login(make_staff())
    client.post("/language/en")
    too_long = client.post("/merchant/rewards", data=_reward_form(title="票" * 101))
    assert too_long.status_code == 400 and "At most 100 characters." in too_long.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Reward.id))) == 0
    assert client.post("/merchant/rewards", data=_reward_form(title="票" * 100)).status_code == 302
    assert db.session.scalar(select(Reward.title)) == "票" * 100


def test_reward_title_added_by_an_admin(client, login, make_admin, make_merchant):
    merchant = make_merchant()
    login(make_admin())
    client.post("/language/en")
    too_long = client.post("/admin/rewards", data=_reward_form(title="票" * 101, merchant_id=merchant.id))
    assert too_long.status_code == 400 and "At most 100 characters." in too_long.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Reward.id))) == 0


def test_reject_reason(client, login, make_shift, make_volunteer, make_coordinator, end_shift):
    user, shift, coordinator = make_volunteer(), make_shift(), make_coordinator()
    shifts.sign_up(user, shift.id)
    end_shift(shift)
    record = attendance.record_manual(coordinator, shift.id, user.id)
    login(coordinator)
    client.post("/language/en")
    too_long = client.post(f"/coordinator/approvals/{record.id}/reject", data={"reason": "因" * 201},
                           follow_redirects=True)
    assert "At most 200 characters." in too_long.get_data(as_text=True)
    assert db.session.get(Attendance, record.id).status == "pending"
    client.post(f"/coordinator/approvals/{record.id}/reject", data={"reason": "因" * 200})
    db.session.expire_all()
    assert db.session.get(Attendance, record.id).reject_reason == "因" * 200  # stored whole, not cut


def test_points_adjustment_reason(client, login, make_volunteer, make_coordinator):
    user, coordinator = make_volunteer(), make_coordinator()
    login(coordinator)
    client.post("/language/en")
    too_long = client.post(f"/coordinator/volunteers/{user.id}/adjust", data={"amount": "5", "reason": "补" * 201},
                           follow_redirects=True)
    assert "At most 200 characters." in too_long.get_data(as_text=True)
    assert db.session.scalar(select(func.count(PointEntry.id))) == 0
    client.post(f"/coordinator/volunteers/{user.id}/adjust", data={"amount": "5", "reason": "补" * 200})
    assert db.session.scalar(select(PointEntry.note)) == "补" * 200


@pytest.mark.parametrize("key", ["k" * 49, "key;1", ""])
def test_a_forged_redeem_key_is_refused_with_a_message(client, login, make_volunteer, make_reward, key):
    user, reward = make_volunteer(points=500), make_reward(cost=100)
    login(user)
    client.post("/language/en")
    response = client.post(f"/volunteer/rewards/{reward.id}/redeem", data={"key": key}, follow_redirects=True)
    assert "This form has expired. Please reload the page and try again." in response.get_data(as_text=True)
    assert db.session.get(User, user.id).points_balance == 500


@pytest.mark.parametrize("path, field, limit, extra", [
    ("/admin/teams", "name", 100, {"kind": "district"}),
    ("/admin/merchants", "name", 100, {}),
    ("/admin/merchants", "address", 200, {"name": "灵隐景区"}),
    ("/admin/users", "name", 50, {"mobile": "13712345600", "password": "Qiantang-River-9", "role": "admin"}),
])
def test_admin_text_fields(client, login, make_admin, path, field, limit, extra):
    from volunteer.models import Merchant, Team

    login(make_admin())
    client.post("/language/en")
    counts = lambda: [db.session.scalar(select(func.count(m.id))) for m in (Team, Merchant, User)]  # noqa: E731
    before = counts()
    too_long = client.post(path, data={**extra, field: "名" * (limit + 1)})
    assert too_long.status_code == 400 and f"At most {limit} characters." in too_long.get_data(as_text=True)
    assert f'value="{"名" * (limit + 1)}"' in too_long.get_data(as_text=True)  # what was typed is kept
    assert counts() == before
    assert client.post(path, data={**extra, field: "名" * limit}).status_code == 302
    assert counts() != before


@pytest.mark.parametrize("method, path, data", [
    ("GET", "/verify/AB%00CD", None),
    ("POST", "/login", {"mobile": "138\x0000000004", "password": "x"}),
    ("GET", "/login?next=/home%00", None),
    ("POST", "/register", {"name": "张\x00三", "mobile": "13712345678", "password": "Qiantang-River-9",
                           "confirm": "Qiantang-River-9", "team_id": "1"}),
])
def test_a_nul_anywhere_is_a_400_with_a_message(client, method, path, data):
    """PostgreSQL refuses NUL in text (a 500 before); SQLite stores it. Refused before anything reads it."""
    client.post("/language/en")
    response = client.open(path, method=method, data=data)
    assert response.status_code == 400
    assert "invisible character that cannot be stored" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id)).where(User.mobile == "13712345678")) == 0
