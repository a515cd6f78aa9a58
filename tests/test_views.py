"""Wiring: every page renders for its role, the role × endpoint matrix, object-level authorization."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD
from volunteer.demo import DEMO_PASSWORD
from volunteer.extensions import db
from volunteer.models import Role, Shift, User, Voucher
from volunteer.services import attendance, rewards, shifts

ROLES = [Role.VOLUNTEER, Role.COORDINATOR, Role.MERCHANT, Role.ADMIN]


@pytest.fixture
def demo(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "13800000004" in result.output and DEMO_PASSWORD in result.output
    return {role: db.session.scalar(select(User).where(User.role == role).order_by(User.id)) for role in ROLES}


def _login(client, user: User, password: str = DEMO_PASSWORD) -> None:
    response = client.post("/login", data={"mobile": user.mobile, "password": password})
    assert response.status_code == 302


def test_seed_demo_if_empty_keeps_data(app, runner, demo):
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "already loaded" in result.output
    assert db.session.scalar(select(User).where(User.mobile == "13800000004")) is not None


def test_demo_catalog_has_all_six_categories(app, demo):
    from volunteer.models import Reward

    assert {r.category for r in db.session.scalars(select(Reward))} == set(rewards.Category)


def _get_rules(app, role: Role):
    """Every GET endpoint without URL parameters that this role may use."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        allowed = getattr(view, "allowed_roles", None)
        if allowed and role in allowed and "GET" in rule.methods and not rule.arguments:
            yield rule


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_page_of_each_role_renders_with_demo_data(app, client, demo, role, locale):
    _login(client, demo[role])
    client.post(f"/language/{locale}")
    assert client.get("/home").status_code == 200
    for rule in _get_rules(app, role):
        response = client.get(rule.rule, follow_redirects=True)  # e.g. enrolment sends you to consent first
        assert response.status_code == 200, (rule.rule, response.status_code)
        if response.mimetype != "text/html":  # CSV exports, the certificate PDF
            continue
        body = response.get_data(as_text=True)
        assert "{{" not in body and "%(" not in body, rule.rule  # nothing left untranslated or unformatted


def _matrix():
    from volunteer import create_app

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"INSTANCE_PATH": tmp, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
        cases = []
        for rule in app.url_map.iter_rules():
            allowed = getattr(app.view_functions[rule.endpoint], "allowed_roles", None)
            if not allowed:
                continue
            method = "POST" if "POST" in rule.methods and "GET" not in rule.methods else "GET"
            path = re.sub(r"<int:[^>]+>", "1", rule.rule)
            path = re.sub(r"<[^>]+>", "ABCD", path)
            for role in ROLES:
                cases.append(pytest.param(method, path, role, role in allowed, id=f"{role.value}-{method}-{path}"))
        with app.app_context():
            db.engine.dispose()
        return cases


@pytest.mark.parametrize("method, path, role, allowed", _matrix())
def test_role_endpoint_matrix(client, make_volunteer, make_coordinator, make_staff, make_admin, method, path, role,
                              allowed):
    user = {Role.VOLUNTEER: make_volunteer, Role.COORDINATOR: make_coordinator, Role.MERCHANT: make_staff,
            Role.ADMIN: make_admin}[role]()
    client.post("/login", data={"mobile": user.mobile, "password": PASSWORD})
    response = client.open(path, method=method)
    if allowed:
        assert response.status_code != 403, (path, role)
    else:
        assert response.status_code == 403, (path, role, response.status_code)
        assert "您无权访问此页面" in response.get_data(as_text=True)  # the refusal page, in the default Chinese


@pytest.mark.parametrize("path", ["/volunteer/shifts", "/coordinator/approvals", "/merchant/", "/admin/users",
                                  "/faces/enrol"])
def test_anonymous_visitors_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- object level -------------------------------------------------------------------------------------------

@pytest.fixture
def other_team_shift(make_team, make_shift, make_coordinator):
    other = make_team("别的社区")
    return make_shift(team_=other, creator=make_coordinator("别队协调员", managed=[other]))


@pytest.mark.parametrize("method, template", [
    ("GET", "/coordinator/shifts/{id}"), ("GET", "/coordinator/shifts/{id}/edit"),
    ("POST", "/coordinator/shifts/{id}/edit"), ("POST", "/coordinator/shifts/{id}/cancel"),
    ("POST", "/coordinator/shifts/{id}/manual"),
])
def test_a_coordinator_cannot_touch_another_teams_shift(client, login, make_coordinator, other_team_shift, method,
                                                         template):
    login(make_coordinator())
    response = client.open(template.format(id=other_team_shift.id), method=method, data={"user_id": "1"})
    assert response.status_code == 403
    assert db.session.get(Shift, other_team_shift.id).cancelled_at is None


def test_a_coordinator_cannot_approve_another_teams_record(client, login, make_coordinator, make_volunteer,
                                                          other_team_shift, make_team, end_shift):
    volunteer = make_volunteer(teams=[other_team_shift.team])
    shifts.sign_up(volunteer, other_team_shift.id)
    end_shift(other_team_shift)
    owner = db.session.scalar(select(User).where(User.name == "别队协调员"))
    record = attendance.record_manual(owner, other_team_shift.id, volunteer.id)
    login(make_coordinator())
    for action in ("approve", "reject"):
        response = client.post(f"/coordinator/approvals/{record.id}/{action}", data={"reason": "x"})
        assert response.status_code == 403
    assert db.session.get(type(record), record.id).status == "pending"


def test_a_volunteer_cannot_see_or_cancel_another_volunteers_voucher(client, login, make_volunteer, make_reward):
    owner = make_volunteer(points=100)
    voucher = rewards.redeem_reward(owner.id, make_reward(cost=100).id, "k")
    login(make_volunteer("别人"))
    assert client.get(f"/volunteer/vouchers/{voucher.id}").status_code == 404
    assert client.post(f"/volunteer/vouchers/{voucher.id}/cancel").status_code == 404
    assert db.session.get(Voucher, voucher.id).status == "issued"


def test_a_volunteer_cannot_sign_up_for_another_teams_shift(client, login, make_volunteer, other_team_shift):
    login(make_volunteer())
    assert client.post(f"/volunteer/shifts/{other_team_shift.id}/signup").status_code == 404
