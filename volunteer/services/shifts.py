"""Shifts and sign-ups: creation by coordinators, sign-up with capacity and waitlist, cancellation."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload

from volunteer.db import utcnow
from volunteer.errors import DomainError, FieldErrors, InvalidStateError, NotFoundError
from volunteer.extensions import db
from volunteer.localtime import local_day_bounds, parse_local, to_local
from volunteer.models import Shift, Signup, SignupStatus, Team, User
from volunteer.services import audit, teams
from volunteer.services.paging import Page, paginate
from volunteer.services.text import clean_text


class ShiftCancelledError(DomainError):
    message = _l("This shift was cancelled.")
    status_code = 409


class ShiftStartedError(DomainError):
    message = _l("This shift has already started; sign-up is closed.")
    status_code = 409


class OverlapError(DomainError):
    message = _l("You are already signed up for “%(title)s” at that time.")
    status_code = 409


class DailyCapError(DomainError):
    message = _l("That would make more than %(cap)d hours of patrol on one day.")
    status_code = 409


class CancelCutoffError(DomainError):
    message = _l("It is too late to cancel: cancellations close %(hours)d hours before the start. Please tell your "
                 "coordinator.")
    status_code = 409


@dataclass(frozen=True)
class SignupResult:
    """What sign-up gave: a place, or a waitlist position."""

    signup: Signup
    position: int  # 0 when confirmed


# --- creation and editing -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShiftDetails:
    """What a coordinator sets on a shift, already typed (see ``forms.ShiftForm``)."""

    title: str
    place_name: str
    description: str
    latitude: float
    longitude: float
    radius_m: int
    capacity: int
    points_per_hour: int
    starts_at: datetime
    ends_at: datetime
    team_id: int | None = None  # only when creating
    repeat_weeks: int = 0  # only when creating: N more weekly copies


def _check(details: ShiftDetails, actor: User, existing: Shift | None = None) -> dict:
    """The rules of the domain on typed values; the column values to store."""
    errors: dict = {}
    starts, ends = details.starts_at, details.ends_at
    if starts <= utcnow() and (existing is None or starts != existing.starts_at):
        errors["starts_at"] = _l("The start cannot be in the past.")
    if ends <= starts:
        errors["ends_at"] = _l("The end must be after the start.")
    elif ends - starts > timedelta(hours=24):
        errors["ends_at"] = _l("A shift can last at most 24 hours.")
    values = {name: getattr(details, name) for name in ("title", "place_name", "description", "latitude",
                                                          "longitude", "radius_m", "capacity", "points_per_hour",
                                                          "starts_at", "ends_at")}
    if existing is None:
        if details.team_id not in teams.managed_team_ids(actor):
            errors["team_id"] = _l("Choose one of your teams.")
        values["team_id"] = details.team_id
    elif details.capacity < existing.confirmed_count:
        errors["capacity"] = _l("%(count)d volunteers are already signed up; the capacity cannot be lower.",
                                count=existing.confirmed_count)
    if errors:
        raise FieldErrors(errors)
    return values


def create_shifts(actor: User, details: ShiftDetails) -> list[Shift]:
    """A coordinator creates a shift for one of their teams, optionally repeated weekly for N more weeks."""
    values = _check(details, actor)
    repeat = details.repeat_weeks
    series = secrets.token_hex(8) if repeat else None
    created = []
    for week in range(repeat + 1):
        shift = Shift(**{**values, "starts_at": values["starts_at"] + timedelta(weeks=week),
                         "ends_at": values["ends_at"] + timedelta(weeks=week)},
                      series=series, created_by_id=actor.id)
        db.session.add(shift)
        created.append(shift)
    db.session.flush()
    audit.record(actor.id, "shift.create", f"shift:{created[0].id}", count=len(created), title=values["title"])
    db.session.commit()
    return created


def get_managed_shift(actor: User, shift_id: int) -> Shift:
    """A shift of one of the actor's teams; otherwise PermissionDenied (403)."""
    shift = db.session.get(Shift, shift_id)
    if shift is None:
        raise NotFoundError()
    teams.require_manages(actor, shift.team_id)
    return shift


def update_shift(actor: User, shift_id: int, details: ShiftDetails) -> Shift:
    """Edit a shift; volunteers already signed up see the change. More places promote the waitlist."""
    shift = get_managed_shift(actor, shift_id)
    if shift.cancelled_at is not None:
        raise ShiftCancelledError()
    values = _check(details, actor, existing=shift)
    before = {k: str(getattr(shift, k)) for k in values}
    for name, value in values.items():
        setattr(shift, name, value)
    shift.updated_at = utcnow()
    db.session.flush()
    _promote_waitlist(shift.id)
    audit.record(actor.id, "shift.edit", f"shift:{shift.id}", before=before, after={k: str(v) for k, v in values.items()})
    db.session.commit()
    return shift


def cancel_shift(actor: User, shift_id: int) -> Shift:
    """Cancel a shift; signed-up volunteers see it as cancelled."""
    shift = get_managed_shift(actor, shift_id)
    if shift.cancelled_at is None:
        shift.cancelled_at = utcnow()
        audit.record(actor.id, "shift.cancel", f"shift:{shift.id}")
        db.session.commit()
    return shift


# --- what volunteers see ----------------------------------------------------------------------------------

def visible_team_clause(user: User):
    """Shifts of the volunteer's teams and of their ancestors (a street shift is open to its communities)."""
    paths = [t.path for t in user.teams]
    if not paths:
        return Shift.id.is_(None)
    return Shift.team_id.in_(select(Team.id).where(or_(*[func.substr(p, 1, func.length(Team.path)) == Team.path
                                                          for p in paths])))


@dataclass(frozen=True)
class ShiftRow:
    """A shift in a volunteer's list."""

    shift: Shift
    signup: Signup | None
    joinable: bool
    #: the volunteer's place on the waitlist (1 for the first in line), 0 when not waitlisted
    position: int = 0

    @property
    def signed_up(self) -> bool:
        """Whether the volunteer holds a place or waits for one (a cancelled sign-up is neither)."""
        return self.signup is not None and self.signup.status != SignupStatus.CANCELLED


def upcoming_for(user: User, day: date | None = None, place: str = "", page: int = 1) -> Page[ShiftRow]:
    """One page of the upcoming shifts of the volunteer's teams: those they can still join first, then by time."""
    now = utcnow()
    own = aliased(Signup)
    joinable = and_(Shift.cancelled_at.is_(None), Shift.starts_at > now, Shift.confirmed_count < Shift.capacity,
                    or_(own.id.is_(None), own.status == SignupStatus.CANCELLED))
    query = (select(Shift).options(joinedload(Shift.team))
             .outerjoin(own, and_(own.shift_id == Shift.id, own.user_id == user.id))
             .where(visible_team_clause(user), Shift.ends_at > now)
             .order_by(case((joinable, 0), else_=1), Shift.starts_at, Shift.id))
    if day is not None:
        start, end = local_day_bounds(day)
        query = query.where(Shift.starts_at >= start, Shift.starts_at < end)
    if place:
        query = query.where(Shift.place_name.contains(place))
    return paginate(query, page).map(lambda shift_list: _shift_rows(user, shift_list, now))


def _shift_rows(user: User, shift_list: list[Shift], now) -> list[ShiftRow]:
    """Each shift with the volunteer's own sign-up and waitlist place (two queries for the whole page)."""
    mine = {s.shift_id: s for s in db.session.scalars(select(Signup).where(
        Signup.user_id == user.id, Signup.shift_id.in_([s.id for s in shift_list])))}
    positions = waitlist_positions([s for s in mine.values() if s.status == SignupStatus.WAITLISTED])
    rows = []
    for shift in shift_list:
        signup = mine.get(shift.id)
        active = signup is not None and signup.status != SignupStatus.CANCELLED
        joinable = shift.cancelled_at is None and shift.starts_at > now and not active
        rows.append(ShiftRow(shift, signup, joinable and shift.confirmed_count < shift.capacity,
                             positions.get(signup.id, 0) if signup else 0))
    return rows


def waitlist_position(signup: Signup) -> int:
    """1 for the first in line."""
    return db.session.scalar(select(func.count(Signup.id)).where(
        Signup.shift_id == signup.shift_id, Signup.status == SignupStatus.WAITLISTED,
        or_(Signup.queued_at < signup.queued_at, and_(Signup.queued_at == signup.queued_at, Signup.id <= signup.id))))


def waitlist_positions(signups: list[Signup]) -> dict[int, int]:
    """The waitlist place of each of these waitlisted sign-ups, by sign-up id, in one query."""
    if not signups:
        return {}
    ahead = aliased(Signup)
    rows = db.session.execute(
        select(Signup.id, func.count(ahead.id)).join(ahead, and_(
            ahead.shift_id == Signup.shift_id, ahead.status == SignupStatus.WAITLISTED,
            or_(ahead.queued_at < Signup.queued_at, and_(ahead.queued_at == Signup.queued_at, ahead.id <= Signup.id))))
        .where(Signup.id.in_([s.id for s in signups])).group_by(Signup.id))
    return {signup_id: int(count) for signup_id, count in rows}


# --- sign-up and cancellation -----------------------------------------------------------------------------

def sign_up(user: User, shift_id: int) -> SignupResult:
    """Take a place if one is free (one conditional UPDATE), else join the waitlist in order."""
    shift = db.session.get(Shift, shift_id)
    if shift is None or not db.session.scalar(select(func.count(Shift.id)).where(
            Shift.id == shift_id, visible_team_clause(user))):
        raise NotFoundError()
    if shift.cancelled_at is not None:
        raise ShiftCancelledError()
    now = utcnow()
    if shift.starts_at <= now:
        raise ShiftStartedError()
    existing = db.session.scalar(select(Signup).where(Signup.shift_id == shift_id, Signup.user_id == user.id))
    if existing is not None and existing.status != SignupStatus.CANCELLED:
        return SignupResult(existing, waitlist_position(existing) if existing.status == SignupStatus.WAITLISTED else 0)
    _check_overlap_and_cap(user.id, shift)
    seated = db.session.execute(
        update(Shift).where(Shift.id == shift_id, Shift.confirmed_count < Shift.capacity)
        .values(confirmed_count=Shift.confirmed_count + 1).execution_options(synchronize_session=False)).rowcount == 1
    status = SignupStatus.CONFIRMED if seated else SignupStatus.WAITLISTED
    if existing is None:
        signup = Signup(shift_id=shift_id, user_id=user.id, status=status, queued_at=now)
        db.session.add(signup)
    else:
        signup = existing
        signup.status, signup.queued_at = status, now
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # a double click raced us: report the sign-up that won
        signup = db.session.scalar(select(Signup).where(Signup.shift_id == shift_id, Signup.user_id == user.id))
        return SignupResult(signup, waitlist_position(signup) if signup.status == SignupStatus.WAITLISTED else 0)
    position = 0 if seated else waitlist_position(signup)
    db.session.commit()
    return SignupResult(signup, position)


def _check_overlap_and_cap(user_id: int, shift: Shift) -> None:
    taken = db.session.scalars(
        select(Shift).join(Signup, Signup.shift_id == Shift.id).where(
            Signup.user_id == user_id, Signup.status != SignupStatus.CANCELLED, Shift.cancelled_at.is_(None),
            Shift.id != shift.id, Shift.ends_at > shift.starts_at - timedelta(days=1),
            Shift.starts_at < shift.ends_at + timedelta(days=1))).all()
    for other in taken:
        if other.starts_at < shift.ends_at and shift.starts_at < other.ends_at:
            raise OverlapError(title=other.title)
    cap = current_app.config["DAILY_HOURS_CAP"]
    day_start, day_end = local_day_bounds(to_local(shift.starts_at).date())
    same_day = sum(((o.ends_at - o.starts_at) for o in taken if day_start <= o.starts_at < day_end), timedelta())
    if (same_day + (shift.ends_at - shift.starts_at)).total_seconds() > cap * 3600:
        raise DailyCapError(cap=cap)


def cancel_signup(user: User, shift_id: int) -> Signup:
    """Cancel until the cut-off; a freed place goes to the first on the waitlist."""
    signup = db.session.scalar(select(Signup).options(joinedload(Signup.shift))
                               .where(Signup.shift_id == shift_id, Signup.user_id == user.id))
    if signup is None or signup.status == SignupStatus.CANCELLED:
        raise NotFoundError()
    cutoff_hours = current_app.config["CANCEL_CUTOFF_HOURS"]
    if signup.status == SignupStatus.CONFIRMED and utcnow() > signup.shift.starts_at - timedelta(hours=cutoff_hours):
        raise CancelCutoffError(hours=cutoff_hours)
    was = signup.status
    changed = db.session.execute(
        update(Signup).where(Signup.id == signup.id, Signup.status == was)
        .values(status=SignupStatus.CANCELLED).execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        db.session.rollback()
        raise InvalidStateError()
    if was == SignupStatus.CONFIRMED:
        db.session.execute(update(Shift).where(Shift.id == shift_id)
                           .values(confirmed_count=Shift.confirmed_count - 1)
                           .execution_options(synchronize_session=False))
        _promote_waitlist(shift_id)
    db.session.commit()
    db.session.refresh(signup)
    return signup


def _promote_waitlist(shift_id: int) -> int:
    """Fill free places from the waitlist, oldest first. Each step is conditional, so racing cancels are safe."""
    promoted = 0
    while True:
        seat = db.session.execute(
            update(Shift).where(Shift.id == shift_id, Shift.confirmed_count < Shift.capacity,
                                Shift.cancelled_at.is_(None))
            .values(confirmed_count=Shift.confirmed_count + 1).execution_options(synchronize_session=False)).rowcount
        if seat != 1:
            return promoted
        while True:
            first = db.session.scalar(select(Signup.id).where(
                Signup.shift_id == shift_id, Signup.status == SignupStatus.WAITLISTED)
                .order_by(Signup.queued_at, Signup.id).limit(1))
            if first is None:  # nobody waiting: give the seat back
                db.session.execute(update(Shift).where(Shift.id == shift_id)
                                   .values(confirmed_count=Shift.confirmed_count - 1)
                                   .execution_options(synchronize_session=False))
                return promoted
            taken = db.session.execute(
                update(Signup).where(Signup.id == first, Signup.status == SignupStatus.WAITLISTED)
                .values(status=SignupStatus.CONFIRMED).execution_options(synchronize_session=False)).rowcount
            if taken == 1:
                promoted += 1
                break


def _my_signups_statement(user: User) -> Select[tuple[Signup]]:
    return (select(Signup).options(joinedload(Signup.shift).joinedload(Shift.team))
            .join(Shift, Shift.id == Signup.shift_id)
            .where(Signup.user_id == user.id, Signup.status != SignupStatus.CANCELLED,
                   Shift.ends_at > utcnow() - timedelta(hours=12))
            .order_by(Shift.starts_at, Signup.id))


def my_signups(user: User) -> list[Signup]:
    """The volunteer's upcoming and current sign-ups (cancelled shifts included, so they see the change)."""
    return list(db.session.scalars(_my_signups_statement(user)))


def my_signups_page(user: User, page: int = 1) -> Page[Signup]:
    """One page of the volunteer's upcoming and current sign-ups, soonest first (the list "My shifts")."""
    return paginate(_my_signups_statement(user), page)


def managed_shifts(actor: User, include_past: bool = False, page: int = 1) -> Page[Shift]:
    """One page of the coordinator's shifts, soonest first."""
    query = (select(Shift).options(joinedload(Shift.team))
             .where(Shift.team_id.in_(teams.managed_team_ids(actor))).order_by(Shift.starts_at, Shift.id))
    if not include_past:
        query = query.where(Shift.ends_at > utcnow() - timedelta(days=1))
    return paginate(query, page)


def roster(shift_id: int, page: int = 1) -> Page[Signup]:
    """One page of who is signed up (confirmed first, then the waitlist in order)."""
    return paginate(
        select(Signup).options(joinedload(Signup.user)).where(
            Signup.shift_id == shift_id, Signup.status != SignupStatus.CANCELLED)
        .order_by(Signup.status, Signup.queued_at, Signup.id), page)
