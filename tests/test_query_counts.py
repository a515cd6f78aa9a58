"""SQL statements per page stay constant as rows grow (no N+1). A count is deterministic, unlike a time."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event

from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import Attendance, AttendanceMethod, AttendanceStatus, Shift
from volunteer.services import merchants, rewards


@contextmanager
def counting():
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_for(client, path: str) -> int:
    with counting() as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    return len([s for s in statements if not s.startswith(("BEGIN", "PRAGMA"))])


def _shifts(team, creator, count: int, start_in: timedelta) -> list[Shift]:
    now = utcnow()
    made = [Shift(team_id=team.id, title=f"巡逻{i}", place_name="北山街", latitude=30.259, longitude=120.145,
                  radius_m=300, starts_at=now + start_in + timedelta(hours=3 * i),
                  ends_at=now + start_in + timedelta(hours=3 * i + 2), capacity=5, points_per_hour=10,
                  created_by_id=creator.id) for i in range(count)]
    db.session.add_all(made)
    db.session.commit()
    return made


def _pending(team, coordinator, volunteers, count: int) -> None:
    shifts = _shifts(team, coordinator, 1, timedelta(days=-2))
    for i in range(count):
        volunteer = volunteers[i % len(volunteers)]
        shift = shifts[0] if i < len(volunteers) else _shifts(team, coordinator, 1, timedelta(days=-3 - i))[0]
        db.session.add(Attendance(shift_id=shift.id, user_id=volunteer.id, method=AttendanceMethod.MANUAL,
                                  status=AttendanceStatus.PENDING, check_in_at=shift.starts_at,
                                  check_out_at=shift.ends_at, minutes_credited=120, flags="manual"))
    db.session.commit()


def _measure(client, login, user, path) -> int:
    client.post("/logout")
    login(user)
    return statements_for(client, path)


def test_pages_do_not_grow_with_rows(app, client, login, team, make_volunteer, make_coordinator, make_staff,
                                     make_reward, make_admin):
    """Each page is measured with few rows, then with many; the statement counts must be equal."""
    coordinator, staff, admin = make_coordinator(), make_staff(), make_admin()
    volunteers = [make_volunteer(f"v{i}", points=100_000) for i in range(10)]
    reward = make_reward(merchant=staff.merchant, cost=10, stock=None)
    pages = [("/volunteer/shifts", volunteers[0]), ("/home", volunteers[0]), ("/coordinator/approvals", coordinator),
             ("/merchant/history", staff), ("/admin/dashboard", admin), ("/volunteer/vouchers", volunteers[0]),
             ("/coordinator/shifts", coordinator), ("/volunteer/points", volunteers[0]),
             ("/volunteer/history", volunteers[0]), ("/admin/users", admin), ("/admin/audit", admin)]

    def grow(shift_count: int, pending: int, redeemed: int) -> None:
        _shifts(team, coordinator, shift_count, timedelta(days=1 + len(grow.calls)))
        _pending(team, coordinator, volunteers, pending)
        for i in range(redeemed):
            voucher = rewards.redeem_reward(volunteers[i % 10].id, reward.id, uuid.uuid4().hex)
            merchants.honour_voucher(staff, voucher.code)
        grow.calls.append(1)

    grow.calls = []
    grow(3, 3, 3)
    small = {path: _measure(client, login, user, path) for path, user in pages}
    grow(47, 197, 497)  # 50 shifts, 200 pending records, 500 redemptions: the sizes in the performance issue
    large = {path: _measure(client, login, user, path) for path, user in pages}
    assert large == small
    print("statements per page:", small)


def test_rosters_and_my_shifts_do_not_grow_with_sign_ups(app, client, login, team, make_volunteer, make_coordinator):
    """A roster of 3 or of 60 (some checked in, some on the waitlist), my shifts 3 or 60: the same statements."""
    from volunteer.models import Signup, SignupStatus

    coordinator, me = make_coordinator(), make_volunteer("我")
    others = [make_volunteer(f"v{i}") for i in range(60)]
    roster = _shifts(team, coordinator, 1, timedelta(hours=-1))[0]  # under way: the hand-recording forms show

    def grow(count: int) -> None:
        done = len(grow.people)
        for i, person in enumerate(others[done:done + count], start=done):
            db.session.add(Signup(shift_id=roster.id, user_id=person.id, queued_at=utcnow(),
                                  status=SignupStatus.WAITLISTED if i % 5 == 4 else SignupStatus.CONFIRMED))
            if i % 3 == 0:
                db.session.add(Attendance(shift_id=roster.id, user_id=person.id, method=AttendanceMethod.MANUAL,
                                          status=AttendanceStatus.PENDING, check_in_at=roster.starts_at,
                                          check_out_at=roster.ends_at, minutes_credited=120, flags="manual"))
            grow.people.append(person)
        for i, shift in enumerate(_shifts(team, coordinator, count, timedelta(days=1 + len(grow.people)))):
            db.session.add(Signup(shift_id=shift.id, user_id=me.id, queued_at=utcnow(),
                                  status=SignupStatus.WAITLISTED if i % 5 == 4 else SignupStatus.CONFIRMED))
        db.session.commit()

    grow.people = []
    grow(5)
    pages = [(f"/coordinator/shifts/{roster.id}", coordinator), ("/volunteer/shifts", me)]
    small = {path: _measure(client, login, user, path) for path, user in pages}
    grow(55)
    large = {path: _measure(client, login, user, path) for path, user in pages}
    assert large == small
