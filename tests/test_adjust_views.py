"""Point adjustments have a screen: the link on the roster for those who may adjust, the form, its messages."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from tests.conftest import postgres_only
from volunteer.extensions import db
from volunteer.models import AuditEvent, PointEntry, User
from volunteer.services import shifts


def balance(user: User) -> int:
    return db.session.scalar(select(User.points_balance).where(User.id == user.id))


@pytest.fixture
def roster(team, make_volunteer, make_coordinator, make_shift):
    """A coordinator of the team, a shift with one of the team's volunteers signed up (30 points)."""
    coordinator, volunteer = make_coordinator(), make_volunteer("赵秀英", points=30)
    shift = make_shift()
    shifts.sign_up(volunteer, shift.id)
    return coordinator, volunteer, shift


def test_the_roster_links_to_the_form_and_the_form_adjusts(client, login, roster):
    coordinator, volunteer, shift = roster
    login(coordinator)
    page = client.get(f"/coordinator/shifts/{shift.id}").get_data(as_text=True)
    assert "data-adjust-link" in page and "调整积分" in page
    link = html.unescape(re.search(r'data-adjust-link href="([^"]+)"', page).group(1))
    assert link.startswith(f"/coordinator/volunteers/{volunteer.id}/adjust?back=")
    form = client.get(link)
    body = form.get_data(as_text=True)
    assert form.status_code == 200 and "赵秀英现有 30 积分。" in body and 'name="reason"' in body
    assert f'name="back" value="/coordinator/shifts/{shift.id}?page=1"' in body
    done = client.post(f"/coordinator/volunteers/{volunteer.id}/adjust",
                       data={"amount": "-20", "reason": "重复登记", "back": f"/coordinator/shifts/{shift.id}"})
    assert done.status_code == 302 and done.headers["Location"] == f"/coordinator/shifts/{shift.id}"
    assert balance(volunteer) == 10
    assert db.session.scalar(select(AuditEvent.details).where(AuditEvent.action == "points.adjust")) == {
        "amount": -20, "reason": "重复登记"}


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("amount, reason, field, zh, en", [
    ("-31", "重复登记", "amount", "扣减后赵秀英的积分会低于零：现有 30 积分，最多只能扣 30。",
     "That would take 赵秀英 below zero: they have 30 points, so you can take at most 30."),
    ("100001", "补录", "amount", "请输入 -100000 到 100000 之间的数字。", "Please enter a number from -100000 to 100000."),
    ("0", "补录", "amount", "请输入不为零的积分数（增减都不能超过 100000）。",
     "Please enter a number of points other than zero (at most 100000 either way)."),
    ("abc", "补录", "amount", "请输入整数。", "Please enter a whole number."),
    ("", "补录", "amount", "请输入要增加的积分（扣减请在前面加减号）。",
     "Please enter the points to add (or, with a minus sign, to take away)."),
    ("5", "  ", "reason", "请填写调整原因。", "Please give a reason for the adjustment."),
])
def test_a_wrong_adjustment_is_explained_on_the_form_and_books_nothing(client, login, roster, locale, amount,
                                                                      reason, field, zh, en):
    coordinator, volunteer, _ = roster
    login(coordinator)
    client.post(f"/language/{locale}")
    response = client.post(f"/coordinator/volunteers/{volunteer.id}/adjust", data={"amount": amount, "reason": reason})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert (zh if locale == "zh_CN" else en) in body and f'id="e-{field}"' in body
    assert f'value="{amount}"' in body  # what was typed stays
    assert balance(volunteer) == 30
    assert db.session.scalar(select(PointEntry.id).where(PointEntry.user_id == volunteer.id,
                                                         PointEntry.source_key.like("adjust:%"))) is None


def test_the_link_shows_only_for_volunteers_the_coordinator_may_adjust(client, login, roster, make_team):
    """A volunteer signed up who has since moved to another team: the roster still lists them, without the link."""
    coordinator, volunteer, shift = roster
    volunteer.teams = [make_team("别的社区")]
    db.session.commit()
    login(coordinator)
    page = client.get(f"/coordinator/shifts/{shift.id}").get_data(as_text=True)
    assert "赵秀英" in page and "data-adjust-link" not in page
    assert client.get(f"/coordinator/volunteers/{volunteer.id}/adjust").status_code == 404


@pytest.mark.parametrize("who, status", [("volunteer", 403), ("merchant", 403), ("other_coordinator", 404),
                                         ("coordinator", 200), ("admin", 200)])
def test_who_may_open_the_adjustment_form(client, login, roster, make_volunteer, make_staff, make_coordinator,
                                          make_admin, make_team, who, status):
    coordinator, volunteer, _ = roster
    actor = {"volunteer": lambda: make_volunteer("刘国平"), "merchant": make_staff,
             "other_coordinator": lambda: make_coordinator("王明", managed=[make_team("别的社区")]),
             "coordinator": lambda: coordinator, "admin": make_admin}[who]()
    login(actor)
    assert client.get(f"/coordinator/volunteers/{volunteer.id}/adjust").status_code == status
    answer = client.post(f"/coordinator/volunteers/{volunteer.id}/adjust", data={"amount": "5", "reason": "补录"})
    assert answer.status_code == (302 if status == 200 else status)
    assert balance(volunteer) == (35 if status == 200 else 30)


def test_the_same_adjustment_page_sent_twice_adjusts_once(client, login, roster):
    """A double tap, or a resend after a slow answer: the page's one-time key makes it one adjustment."""
    coordinator, volunteer, _ = roster
    login(coordinator)
    page = client.get(f"/coordinator/volunteers/{volunteer.id}/adjust").get_data(as_text=True)
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page).group(1)
    for _ in range(2):
        sent = client.post(f"/coordinator/volunteers/{volunteer.id}/adjust",
                           data={"amount": "15", "reason": "补录", "key": key})
        assert sent.status_code == 302
    assert balance(volunteer) == 45
    again = client.get(f"/coordinator/volunteers/{volunteer.id}/adjust").get_data(as_text=True)
    assert key not in again  # a new page, a new adjustment
    forged = client.post(f"/coordinator/volunteers/{volunteer.id}/adjust",
                         data={"amount": "15", "reason": "补录", "key": "x' or 1=1"})
    assert forged.status_code == 400 and "表单已过期，请刷新页面后重试。" in forged.get_data(as_text=True)
    assert balance(volunteer) == 45


@postgres_only
def test_the_same_adjustment_sent_twice_at_once_adjusts_once(app, roster):
    """Two requests with one key at the same moment: the ledger's unique source key lets one write; the other
    answers with the entry it made. Catches the "look for the key, then write" check without the constraint
    fallback."""
    from tests.concurrency import race
    from volunteer.services import points

    coordinator, volunteer, _ = roster
    coordinator_id, volunteer_id, key = coordinator.id, volunteer.id, "ab" * 16

    def adjust(_index: int):
        actor = db.session.get(type(coordinator), coordinator_id)
        return points.adjust_points(actor, volunteer_id, 15, "补录", form_key=key).id

    results = race(app, adjust, 8)
    assert all(isinstance(r, int) for r in results) and len(set(results)) == 1, results  # every tap: one answer
    assert balance(volunteer) == 45
