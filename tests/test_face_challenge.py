"""Liveness challenges as signed, stateless tokens: issued on GET without a write, spent once (UNIQUE nonce)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from tests.concurrency import kinds, race
from tests.conftest import postgres_only
from tests.facekit import obama_enrolment, obama_live
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import SpentChallenge
from volunteer.services import face_id, shifts

pytestmark = [pytest.mark.usefixtures("photos"), pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")]


@pytest.fixture
def enrolled(app, make_volunteer):
    user = make_volunteer()
    face_id.give_consent(user.id)
    face_id.enrol(user.id, obama_enrolment())
    return user


def _spent() -> int:
    return db.session.scalar(select(func.count(SpentChallenge.id)))


@contextmanager
def writes() -> Iterator[list[str]]:
    """The INSERT, UPDATE and DELETE statements sent to the database while the block runs."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def test_issuing_a_challenge_writes_nothing(app, enrolled):
    with writes() as seen:
        challenge = face_id.issue_challenge(enrolled.id)
    assert seen == [] and _spent() == 0
    assert sorted(challenge.steps.split(",")) == ["left", "right", "straight"]


def test_the_pages_issue_their_challenge_on_get_without_a_write(app, client, login, enrolled, make_shift):
    shift = make_shift(start_in=timedelta(minutes=5))
    shifts.sign_up(enrolled, shift.id)
    login(enrolled)
    for path in ("/faces/verify", f"/volunteer/shifts/{shift.id}/check-in"):
        with writes() as seen:
            page = client.get(path).get_data(as_text=True)
        assert 'name="token"' in page, path
        assert seen == [], (path, seen)


def test_a_token_is_spent_once_and_a_replay_is_refused(app, enrolled):
    token = face_id.issue_challenge(enrolled.id).token
    assert face_id.verify(enrolled.id, obama_live(trim=2), token).accepted
    assert _spent() == 1
    again = face_id.verify(enrolled.id, obama_live(trim=4), token)
    assert not again.accepted and again.reason == "challenge_invalid"
    assert _spent() == 1


def test_a_token_expires_after_two_minutes(app, enrolled, time_machine):
    assert app.config["FACE_CHALLENGE_SECONDS"] == 120
    time_machine.move_to(utcnow(), tick=False)
    fresh, old = face_id.issue_challenge(enrolled.id).token, face_id.issue_challenge(enrolled.id).token
    time_machine.shift(timedelta(seconds=119))
    assert face_id._use_challenge(enrolled.id, fresh) is not None  # still valid just before the end
    time_machine.shift(timedelta(seconds=2))
    assert face_id._use_challenge(enrolled.id, old) is None
    db.session.rollback()


def test_another_persons_token_is_refused_and_not_spent(app, enrolled, make_volunteer):
    other = make_volunteer("别人")
    token = face_id.issue_challenge(other.id).token
    result = face_id.verify(enrolled.id, obama_live(), token)
    assert not result.accepted and result.reason == "challenge_invalid"
    assert _spent() == 0  # still the other volunteer's to use


def test_a_forged_or_altered_token_is_refused(app, enrolled):
    token = face_id.issue_challenge(enrolled.id).token
    payload, rest = token.split(".", 1)
    tampered = ("A" if payload[0] != "A" else "B") + payload[1:] + "." + rest
    forged = URLSafeTimedSerializer("not the app's secret", salt=face_id.CHALLENGE_SALT).dumps(
        {"u": enrolled.id, "s": "straight", "n": "x" * 22})
    for bad in (tampered, forged, "", "garbage", token + "x"):
        assert face_id._use_challenge(enrolled.id, bad) is None, bad
    assert _spent() == 0


def test_the_database_refuses_a_nonce_twice(app, enrolled):
    db.session.add(SpentChallenge(nonce="n" * 22, user_id=enrolled.id))
    db.session.commit()
    db.session.add(SpentChallenge(nonce="n" * 22, user_id=enrolled.id))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_expire_forgets_nonces_of_expired_tokens_only(app, enrolled, runner, time_machine):
    time_machine.move_to(utcnow(), tick=False)
    token = face_id.issue_challenge(enrolled.id).token
    assert face_id._use_challenge(enrolled.id, token) is not None
    db.session.commit()
    assert face_id.expire_spent_challenges() == 0
    time_machine.shift(timedelta(seconds=app.config["FACE_CHALLENGE_SECONDS"] + 61))
    out = runner.invoke(args=["expire"])
    assert "spent liveness challenges forgotten: 1" in out.output, out.output
    assert _spent() == 0
    assert face_id._use_challenge(enrolled.id, token) is None  # the token itself has expired by then
    db.session.rollback()


@postgres_only
def test_two_requests_racing_with_one_token_spend_it_once(app, enrolled):
    token = face_id.issue_challenge(enrolled.id).token
    user_id = enrolled.id

    def work(_: int):
        steps = face_id._use_challenge(user_id, token)
        db.session.commit()
        return steps is not None

    results = race(app, work, 4)
    assert sorted(results, key=str) == [False, False, False, True], kinds(results)
    assert _spent() == 1
