"""Services decide who may act: each administrative use case refuses everyone but an admin by itself, whatever
the view in front of it does."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from volunteer.errors import PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import (
    AuditEvent,
    FaceConsent,
    Merchant,
    RestockRequest,
    Reward,
    RewardStatus,
    Team,
    TeamKind,
    User,
)
from volunteer.services import accounts, admin, face_id, legacy_import, merchants, rewards, teams

pytestmark = pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")

OUTSIDERS = ["volunteer", "coordinator of another team", "staff of another merchant", "staff of this merchant"]


@pytest.fixture
def world(app, team, make_team, make_volunteer, make_coordinator, make_merchant, make_staff, make_reward,
          make_admin):
    """A merchant with a reward and a pending restock request, a volunteer of the team, and people who must be
    refused (by name in OUTSIDERS) or allowed (the admin)."""
    merchant = make_merchant("宝石咖啡")
    reward = make_reward(merchant=merchant, stock=5)
    own_staff = make_staff(merchant, "咖啡店员")
    request = merchants.request_restock(own_staff, reward.id, 10)
    volunteer = make_volunteer("张建华")
    people = {
        "volunteer": make_volunteer("另一位志愿者"),
        "coordinator of another team": make_coordinator("外队协调员", managed=[make_team("别的社区")]),
        "staff of another merchant": make_staff(make_merchant("别家商户"), "别家店员"),
        "staff of this merchant": own_staff,
        "admin": make_admin(),
    }
    return {"people": people, "team": team, "reward": reward, "request": request, "volunteer": volunteer}


def _audited(action: str) -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action))


CSV = "record_id,name,mobile,team,hours,service_date\nA-1,王秀兰,13700000001,宝石社区,2,2020-01-01\n"


#: name → (do it as actor, what it changed: compared before and after)
def _cases(w):
    volunteer = w["volunteer"]
    return {
        "set_reward_status": (
            lambda actor: rewards.set_reward_status(actor, w["reward"].id, RewardStatus.RETIRED),
            lambda: db.session.scalar(select(Reward.status).where(Reward.id == w["reward"].id))),
        "decide_restock": (
            lambda actor: merchants.decide_restock(actor, w["request"].id, True),
            lambda: (db.session.scalar(select(RestockRequest.status).where(RestockRequest.id == w["request"].id)),
                     db.session.scalar(select(Reward.stock).where(Reward.id == w["reward"].id)))),
        "create_merchant": (
            lambda actor: admin.create_merchant(actor, "新商户", "北山街 1 号"),
            lambda: db.session.scalar(select(func.count(Merchant.id)))),
        "create_team": (
            lambda actor: teams.create_team(actor, "新网格", TeamKind.GRID.value, w["team"].id),
            lambda: db.session.scalar(select(func.count(Team.id)))),
        "create_user": (
            lambda actor: accounts.create_user(actor, "新协调员", "13911112222", "Strong-pass-9", accounts.Role.COORDINATOR,
                                               team_ids=(w["team"].id,)),
            lambda: db.session.scalar(select(func.count(User.id)))),
        "set_enabled": (
            lambda actor: accounts.set_enabled(actor, volunteer.id, False),
            lambda: db.session.scalar(select(User.is_enabled).where(User.id == volunteer.id))),
        "reset_password": (
            lambda actor: accounts.reset_password(actor, volunteer.id),
            lambda: db.session.scalar(select(User.password_hash).where(User.id == volunteer.id))),
        "import_legacy": (
            lambda actor: legacy_import.import_legacy(actor, CSV.encode()),
            lambda: db.session.scalar(select(func.count(User.id)))),
        "delete_face_data": (
            lambda actor: face_id.delete_face_data(actor, volunteer.id),
            lambda: db.session.scalar(select(func.count(FaceConsent.id)).where(
                FaceConsent.user_id == volunteer.id, FaceConsent.withdrawn_at.is_(None)))),
    }


CASES = ["set_reward_status", "decide_restock", "create_merchant", "create_team", "create_user", "set_enabled",
         "reset_password", "import_legacy", "delete_face_data"]


@pytest.mark.parametrize("who", OUTSIDERS)
@pytest.mark.parametrize("case", CASES)
def test_only_an_admin_may(world, case, who):
    face_id.give_consent(world["volunteer"].id)
    act, state = _cases(world)[case]
    before = state()
    with pytest.raises(PermissionDeniedError):
        act(world["people"][who])
    db.session.rollback()
    assert state() == before


@pytest.mark.parametrize("case", CASES)
def test_an_admin_may(world, case):
    face_id.give_consent(world["volunteer"].id)
    act, state = _cases(world)[case]
    before = state()
    act(world["people"]["admin"])
    db.session.rollback()
    assert state() != before


def test_a_volunteer_deletes_their_own_face_data(world):
    volunteer = world["volunteer"]
    face_id.give_consent(volunteer.id)
    face_id.delete_face_data(volunteer, volunteer.id)
    assert not face_id.has_consent(volunteer.id)


def test_an_admin_cannot_reset_their_own_password_through_the_admin_reset(world):
    me = world["people"]["admin"]
    before = me.password_hash
    with pytest.raises(accounts.OwnPasswordResetError) as info:
        accounts.reset_password(me, me.id)
    assert info.value.text == "You cannot reset your own password here; please use “Change password” instead."
    with pytest.raises(accounts.OwnPasswordResetError):
        accounts.person_to_reset(me, me.id)
    db.session.rollback()
    assert db.session.scalar(select(User.password_hash).where(User.id == me.id)) == before
    assert _audited("account.reset_password") == 0


def test_an_admin_cannot_disable_their_own_account(world):
    me = world["people"]["admin"]
    with pytest.raises(accounts.OwnAccountError) as info:
        accounts.set_enabled(me, me.id, False)
    assert info.value.text == "You cannot disable your own account."
    db.session.rollback()
    assert db.session.scalar(select(User.is_enabled).where(User.id == me.id)) is True
    assert _audited("account.disable") == 0
    accounts.set_enabled(me, me.id, True)  # harmless: re-enabling yourself changes nothing


def test_the_command_line_creates_users_without_an_acting_user(app, team):
    user = accounts.create_user(None, "首位管理员", "13911113333", "Strong-pass-9", accounts.Role.ADMIN)
    assert db.session.scalar(select(AuditEvent.actor_id).where(AuditEvent.target == f"user:{user.id}")) is None


def test_the_admin_page_refuses_disabling_yourself_with_the_services_message(client, login, make_admin):
    me = make_admin()
    login(me)
    response = client.post(f"/admin/users/{me.id}/enabled", data={"enabled": "0"}, follow_redirects=True)
    assert response.status_code == 200
    assert "不能停用自己的账号。" in response.get_data(as_text=True)
    assert db.session.get(User, me.id).is_enabled
