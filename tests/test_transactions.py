"""One transaction per use case, and pages that only read: check-in/out, bulk approval, the approval queue with
overdue check-ins, `flask expire`, certificates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event, func, select

from tests.conftest import both_databases
from tests.facekit import jpeg, obama_enrolment, obama_live
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import (
    Attendance,
    AttendanceStatus,
    Certificate,
    CheckAttempt,
    FaceAttempt,
    SpentChallenge,
)
from volunteer.services import attendance, face_id, shifts

PLACE = (30.2590, 120.1450)
#: a fixed instant (10:00 in Hangzhou) for the tests that need the clock to move
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@contextmanager
def counting_commits() -> Iterator[list[int]]:
    """Count the commits of the test's session while the block runs."""
    counted: list[int] = []
    session = db.session()

    def count(_session) -> None:
        counted.append(1)

    event.listen(session, "after_commit", count)
    try:
        yield counted
    finally:
        event.remove(session, "after_commit", count)


@contextmanager
def counting_database_commits() -> Iterator[list[int]]:
    """Count every COMMIT any connection sends (a request runs in its own session)."""
    counted: list[int] = []

    def count(_connection) -> None:
        counted.append(1)

    event.listen(db.engine, "commit", count)
    try:
        yield counted
    finally:
        event.remove(db.engine, "commit", count)


def _snapshot() -> list[tuple]:
    return [tuple(row) for row in db.session.execute(
        select(Attendance.id, Attendance.status, Attendance.check_out_at, Attendance.flags,
               Attendance.minutes_credited, Attendance.points_awarded).order_by(Attendance.id))]


# --- check-in and check-out ---------------------------------------------------------------------------------

@pytest.fixture
def on_shift(app, make_shift, make_volunteer, photos):
    """An enrolled volunteer signed up for a shift that started ten minutes ago."""
    user = make_volunteer()
    face_id.give_consent(user.id)
    face_id.enrol(user.id, obama_enrolment())
    shift = make_shift(start_in=timedelta(days=1), hours=2)
    shifts.sign_up(user, shift.id)
    shift.starts_at = utcnow() - timedelta(minutes=10)
    shift.ends_at = shift.starts_at + timedelta(hours=2)
    db.session.commit()
    return user, shift


def _token(user) -> str:
    return face_id.issue_challenge(user.id).token


def _spent(user) -> int:
    """How many of the volunteer's challenge tokens were spent (their nonces recorded)."""
    return db.session.scalar(select(func.count(SpentChallenge.id)).where(SpentChallenge.user_id == user.id))


@both_databases
def test_accepted_check_in_and_check_out_each_commit_once(app, on_shift):
    user, shift = on_shift
    token = _token(user)
    with counting_commits() as commits:
        result = attendance.check_in(user, shift.id, obama_live(trim=1), token, *PLACE)
    assert result.ok, result.message
    assert len(commits) == 1
    # the test photographs hold one turned photograph of Obama, used by the check-in; any second set made from it
    # is a replay (or a turned print), so the check-out is checked with liveness switched off, on another photo
    app.config["FACE_LIVENESS"] = False
    with counting_commits() as commits:
        result = attendance.check_out(user, shift.id, [jpeg("obama3.jpg")], None, *PLACE)
    assert result.ok, result.message
    assert len(commits) == 1
    assert db.session.scalar(select(Attendance.status)) == AttendanceStatus.PENDING


@both_databases
def test_a_failed_attendance_insert_leaves_no_trace_of_the_accepted_attempt(app, on_shift, monkeypatch):
    user, shift = on_shift
    attendance.check_in_for_review(user, shift.id, *PLACE)  # "the other request" of a double submit
    # the second request looked before the first one inserted: it does not see the record
    monkeypatch.setattr(attendance, "_attendance", lambda user_id, shift_id: None)
    token = _token(user)
    with pytest.raises(attendance.AlreadyCheckedInError):
        attendance.check_in(user, shift.id, obama_live(trim=1), token, *PLACE)
    db.session.rollback()
    assert _spent(user) == 0  # the challenge was not spent
    assert db.session.scalar(select(func.count(FaceAttempt.id)).where(FaceAttempt.purpose == "checkin")) == 0
    assert db.session.scalars(select(CheckAttempt.reason)).all() == ["review_requested"]
    assert db.session.scalars(select(Attendance.method)).all() == ["review"]


def test_a_refused_check_in_commits_once_with_its_evidence(app, on_shift):
    user, shift = on_shift
    token = _token(user)
    frames = [jpeg("biden.jpg", trim=t) for t in (1, 2, 3)]
    with counting_commits() as commits:
        result = attendance.check_in(user, shift.id, frames, token, *PLACE)
    assert not result.ok
    assert len(commits) == 1
    db.session.rollback()  # what was committed stays
    assert _spent(user) == 1
    assert db.session.scalars(select(FaceAttempt.accepted).where(FaceAttempt.purpose == "checkin")).all() == [False]
    assert db.session.scalars(select(CheckAttempt.accepted)).all() == [False]
    assert db.session.scalar(select(func.count(Attendance.id))) == 0


# --- approval -----------------------------------------------------------------------------------------------

@pytest.fixture
def overdue(app, make_shift, make_volunteer, make_coordinator):
    """At T0 + 2 h: a coordinator, two records recorded by hand (clean) and one check-in of a shift that ended at
    T0 + 50 min without a check-out (checked in at T0)."""
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        coordinator = make_coordinator()
        shift = make_shift(start_in=timedelta(days=1, minutes=-10), hours=1, capacity=10)
        clean = [make_volunteer(f"v{i}") for i in range(2)]
        late = make_volunteer("忘签退")
        for user in [*clean, late]:
            shifts.sign_up(user, shift.id)
    with time_machine.travel(T0, tick=False):
        attendance.check_in_for_review(late, shift.id, *PLACE)
        open_id = db.session.scalar(select(Attendance.id).where(Attendance.user_id == late.id))
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        for user in clean:
            attendance.record_manual(coordinator, shift.id, user.id)
        yield coordinator, shift, open_id


def test_the_queue_shows_an_overdue_check_in_as_it_will_be_closed_without_writing(app, overdue):
    coordinator, shift, open_id = overdue
    before = _snapshot()
    rows = {row.attendance.id: row for row in attendance.queue(coordinator)}
    row = rows[open_id]
    assert row.flags == ["auto_closed", "review"]
    assert row.check_out_at == T0 + timedelta(minutes=50)
    assert row.minutes_credited == 60  # 50 minutes inside the shift, rounded up from 45
    db.session.rollback()
    assert _snapshot() == before
    assert db.session.get(Attendance, open_id).status == AttendanceStatus.OPEN


def test_get_of_the_approval_queue_writes_nothing(app, client, login, overdue):
    coordinator, shift, open_id = overdue
    login(coordinator)
    before = _snapshot()
    db.session.commit()
    with counting_database_commits() as commits:
        response = client.get("/coordinator/approvals")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "忘签退" in page and "未签退" in page and "计入 60 分钟" in page
    assert commits == []
    assert _snapshot() == before


def test_approve_clean_is_one_transaction_and_leaves_overdue_check_ins(app, overdue):
    coordinator, shift, open_id = overdue
    with counting_commits() as commits:
        assert attendance.approve_clean(coordinator) == 2
    assert len(commits) == 1
    statuses = dict(db.session.execute(select(Attendance.id, Attendance.status)).all())
    assert statuses.pop(open_id) == AttendanceStatus.OPEN
    assert set(statuses.values()) == {AttendanceStatus.APPROVED}


def test_approve_clean_approves_nothing_or_everything(app, overdue, monkeypatch):
    coordinator, _, _ = overdue
    calls = []
    real_credit = attendance.ledger.credit

    def credit_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real_credit(*args, **kwargs)

    monkeypatch.setattr(attendance.ledger, "credit", credit_then_fail)
    with pytest.raises(RuntimeError):
        attendance.approve_clean(coordinator)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Attendance.id)).where(
        Attendance.status == AttendanceStatus.APPROVED)) == 0


def test_a_coordinator_decides_on_an_overdue_check_in_before_the_job_runs(app, overdue):
    coordinator, shift, open_id = overdue
    with counting_commits() as commits:
        record = attendance.approve_attendance(coordinator, open_id)
    assert len(commits) == 1
    assert record.status == AttendanceStatus.APPROVED and record.flags == "auto_closed,review"
    assert record.check_out_at == T0 + timedelta(minutes=50)
    assert (record.minutes_credited, record.points_awarded) == (60, 10)


def test_a_coordinator_of_another_team_approves_none_of_mine_in_bulk(app, overdue, make_coordinator, make_team):
    outsider = make_coordinator("外人", managed=[make_team("别的社区")])
    assert attendance.approve_clean(outsider) == 0
    assert attendance.queue(outsider).items == []
    assert db.session.scalar(select(func.count(Attendance.id)).where(
        Attendance.status == AttendanceStatus.APPROVED)) == 0


def test_flask_expire_closes_overdue_check_ins(app, runner, overdue):
    _, shift, open_id = overdue
    result = runner.invoke(args=["expire"])
    assert result.exit_code == 0, result.output
    assert "check-ins closed without check-out: 1" in result.output
    db.session.expire_all()
    record = db.session.get(Attendance, open_id)
    assert record.status == AttendanceStatus.PENDING and record.flags == "auto_closed,review"
    assert record.check_out_at == T0 + timedelta(minutes=50) and record.minutes_credited == 60
    again = runner.invoke(args=["expire"])
    assert "check-ins closed without check-out: 0" in again.output


# --- certificates -------------------------------------------------------------------------------------------

def _code(response) -> str:
    assert response.mimetype == "application/pdf", response.status_code
    return re.search(r'filename="certificate-(\w+)\.pdf"', response.headers["Content-Disposition"]).group(1)


def _certificates() -> int:
    return db.session.scalar(select(func.count(Certificate.id)))


@both_databases
def test_downloading_a_certificate_writes_nothing_and_keeps_its_code(app, client, login, make_volunteer,
                                                                      make_shift, make_coordinator, end_shift):
    volunteer, coordinator = make_volunteer(), make_coordinator()
    login(volunteer)
    db.session.commit()
    with counting_database_commits() as commits:
        first = client.get("/volunteer/certificate.pdf")
    assert first.status_code == 302 and "/volunteer/history" in first.headers["Location"]  # nothing issued yet
    assert commits == [] and _certificates() == 0
    code = _code(client.post("/volunteer/certificate", follow_redirects=True))
    assert _certificates() == 1
    db.session.commit()  # end the test's own read transaction: only the requests are counted
    with counting_database_commits() as commits:
        downloads = [_code(client.get("/volunteer/certificate.pdf")) for _ in range(2)]
    assert downloads == [code, code]
    assert commits == [] and _certificates() == 1
    assert _code(client.post("/volunteer/certificate", follow_redirects=True)) == code  # same record, same code
    assert _certificates() == 1

    shift = make_shift(hours=2)
    shifts.sign_up(volunteer, shift.id)
    end_shift(shift)
    attendance.approve_attendance(coordinator, attendance.record_manual(coordinator, shift.id, volunteer.id).id)
    assert client.get("/volunteer/certificate.pdf").status_code == 302  # the record changed: issue again
    newer = _code(client.post("/volunteer/certificate", follow_redirects=True))
    assert newer != code and _certificates() == 2
    public = app.test_client()
    assert "2.0" in public.get(f"/verify/{newer}").get_data(as_text=True)
    assert "0.0" in public.get(f"/verify/{code}").get_data(as_text=True)  # the old one stays verifiable


@both_databases
def test_issuing_at_once_from_several_tabs_gives_one_certificate(app, make_volunteer):
    from tests.concurrency import race
    from volunteer.models import User
    from volunteer.services import certificates

    user_id = make_volunteer().id

    def issue(_):
        return certificates.issue_certificate(db.session.get(User, user_id))[0].code

    codes = race(app, issue, 6)
    assert all(isinstance(code, str) for code in codes), codes
    assert len(set(codes)) == 1
    assert _certificates() == 1
