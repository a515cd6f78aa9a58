"""Attendance: face check-in and check-out at the patrol place, review and manual paths, approval, history."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from volunteer.db import utcnow
from volunteer.errors import DomainError, FieldErrors, NotFoundError
from volunteer.extensions import db
from volunteer.localtime import format_local
from volunteer.models import (
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    CheckAttempt,
    EntryKind,
    Shift,
    Signup,
    SignupStatus,
    User,
)
from volunteer.services import audit, face_evidence, face_id, ledger, teams
from volunteer.services.paging import Page, paginate
from volunteer.services.text import clean_text


class TooEarlyError(DomainError):
    message = _l("Too early: check-in opens at %(time)s.")
    status_code = 409


class ShiftOverError(DomainError):
    message = _l("This shift is over; check-in is closed. Ask your coordinator to record your attendance.")
    status_code = 409


class NotSignedUpError(DomainError):
    message = _l("You are not signed up for this shift (or you are still on the waitlist).")
    status_code = 409


class AlreadyCheckedInError(DomainError):
    message = _l("You have already checked in for this shift.")
    status_code = 409


class NotCheckedInError(DomainError):
    message = _l("You have not checked in for this shift yet.")
    status_code = 409


class AlreadyReviewedError(DomainError):
    message = _l("This record was already reviewed (%(status)s).")
    status_code = 409


class PointsAlreadySpentError(DomainError):
    message = _l("The volunteer has already spent these points (%(missing)d missing), so the approval cannot be "
                 "reversed. Use a points adjustment instead.")
    status_code = 409


# --- rules --------------------------------------------------------------------------------------------------

def round_minutes(minutes: int) -> int:
    """The rounding rule shown to volunteers: per started hour, under 15 min → 0, 15–44 → ½ hour, 45+ → 1 hour."""
    hours, rest = divmod(max(0, minutes), 60)
    return hours * 60 + (0 if rest < 15 else 30 if rest < 45 else 60)


def points_for(credited_minutes: int, rate: int) -> int:
    """Points for credited time at a rate per hour (whole points, rounded down)."""
    return credited_minutes * rate // 60


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def credited_minutes(shift: Shift, check_in: datetime, check_out: datetime) -> int:
    """Time inside the scheduled shift only, rounded by the rule."""
    start, end = max(check_in, shift.starts_at), min(check_out, shift.ends_at)
    return round_minutes(max(0, int((end - start).total_seconds() // 60)))


def explain(attendance: Attendance) -> str:
    """"2 h 30 min × 10 points/hour = 25 points" for the volunteer's history."""
    minutes = attendance.minutes_credited
    return str(_l("%(hours)d h %(minutes)02d min × %(rate)d points/hour = %(points)d points",
                  hours=minutes // 60, minutes=minutes % 60, rate=attendance.shift.points_per_hour,
                  points=attendance.points_awarded))


# --- check-in and check-out ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check-in or check-out attempt."""

    ok: bool
    message: str
    reason: str = ""
    can_request_review: bool = False
    #: accepted, but the face check was not clear-cut: a face_id.FLAG_REASONS key the record is flagged with
    flag: str = ""


def _confirmed_shift(user_id: int, shift_id: int) -> Shift:
    signup = db.session.scalar(select(Signup).options(joinedload(Signup.shift)).where(
        Signup.shift_id == shift_id, Signup.user_id == user_id))
    if signup is None:
        raise NotFoundError()
    if signup.status != SignupStatus.CONFIRMED:
        raise NotSignedUpError()
    if signup.shift.cancelled_at is not None:
        from volunteer.services.shifts import ShiftCancelledError

        raise ShiftCancelledError()
    return signup.shift


def checkin_open(shift: Shift, now: datetime) -> bool:
    """Whether check-in is open now (from shortly before the start to the end)."""
    opens = shift.starts_at - timedelta(minutes=current_app.config["CHECKIN_OPENS_MINUTES"])
    return opens <= now < shift.ends_at


def _check_window(shift: Shift, now: datetime) -> None:
    opens = shift.starts_at - timedelta(minutes=current_app.config["CHECKIN_OPENS_MINUTES"])
    if now < opens:
        raise TooEarlyError(time=format_local(opens, "%m-%d %H:%M"))
    if now >= shift.ends_at:
        raise ShiftOverError()


def _location(shift: Shift, latitude: float | None, longitude: float | None) -> tuple[float | None, str]:
    if latitude is None or longitude is None:
        return None, "no_location"
    metres = distance_m(shift.latitude, shift.longitude, latitude, longitude)
    return metres, "" if metres <= shift.radius_m else "outside"


def _attempt_count(user_id: int, shift_id: int, direction: str) -> int:
    return db.session.scalar(select(func.count(CheckAttempt.id)).where(
        CheckAttempt.user_id == user_id, CheckAttempt.shift_id == shift_id, CheckAttempt.direction == direction,
        CheckAttempt.accepted.is_(False)))


def _face_and_place(user: User, shift: Shift, direction: str, frames: list[bytes], token: str | None,
                    latitude: float | None, longitude: float | None
                    ) -> tuple[CheckResult, face_id.Verification]:
    """Verify face and location, add the evidence (a helper: flushes, does not commit), and say what happened."""
    verification = face_id.check_face(user.id, frames, token, purpose=f"check{direction}")
    metres, place_problem = _location(shift, latitude, longitude)
    accepted = verification.accepted and not place_problem
    reason = verification.reason if not verification.accepted else place_problem or verification.flag or "ok"
    db.session.add(CheckAttempt(shift_id=shift.id, user_id=user.id, direction=direction,
                                face_distance=verification.distance, liveness=verification.liveness,
                                latitude=latitude, longitude=longitude, distance_m=metres, accepted=accepted,
                                reason=reason[:60]))
    db.session.flush()
    if accepted:
        return CheckResult(True, "", "ok", flag=verification.flag), verification
    if not verification.accepted:
        message = verification.message
    elif place_problem == "outside":
        message = str(_l("You are outside the patrol area by %(metres)d metres.",
                         metres=math.ceil(metres - shift.radius_m)))
    else:
        message = str(_l("Your location is not available. Allow location access, or check in for review."))
    failures = _attempt_count(user.id, shift.id, direction)
    offer_review = place_problem == "no_location" or failures >= 2
    return CheckResult(False, message, reason, offer_review), verification


def check_in(user: User, shift_id: int, frames: list[bytes], token: str | None, latitude: float | None,
             longitude: float | None) -> CheckResult:
    """Face check-in at the patrol place, in one transaction: the spent challenge, the face attempt, the check
    attempt and the attendance record are committed together, or (on a double submit) none of them.

    A refused attempt is a result, not an error: it is committed on purpose together with the refusal (spent
    challenge, face attempt, check attempt), so the evidence stays for the coordinator and the failure counter
    that limits guessing (``face_id.check_failure_budget``) counts it.
    """
    shift = _confirmed_shift(user.id, shift_id)
    now = utcnow()
    _check_window(shift, now)
    if _attendance(user.id, shift_id) is not None:
        raise AlreadyCheckedInError()
    result, verification = _face_and_place(user, shift, "in", frames, token, latitude, longitude)
    if not result.ok:
        db.session.commit()  # the refusal and its evidence (see above)
        return result
    record = Attendance(shift_id=shift_id, user_id=user.id, method=AttendanceMethod.FACE,
                        status=AttendanceStatus.OPEN, check_in_at=now, flags=result.flag)
    db.session.add(record)
    try:
        db.session.flush()
    except IntegrityError:  # a double submit: the first one checked in
        db.session.rollback()
        raise AlreadyCheckedInError() from None
    face_evidence.keep_thumbnail(user.id, record.id, "in", verification.attempt_id, verification.evidence)
    if result.flag:  # accepted, but only the coordinator can decide: never a silent clean record
        return _commit_attendance(_l("Checked in at %(time)s. The face check was not clear-cut (%(reason)s): your "
                                     "coordinator will confirm it.", time=format_local(now, "%H:%M"),
                                     reason=face_id.FLAG_REASONS[result.flag]))
    return _commit_attendance(_l("Checked in at %(time)s. Have a safe patrol!", time=format_local(now, "%H:%M")))


def check_in_for_review(user: User, shift_id: int, latitude: float | None, longitude: float | None) -> CheckResult:
    """When location or the face check fails: check in anyway, flagged for the coordinator to decide."""
    shift = _confirmed_shift(user.id, shift_id)
    now = utcnow()
    _check_window(shift, now)
    if _attendance(user.id, shift_id) is not None:
        raise AlreadyCheckedInError()
    metres, problem = _location(shift, latitude, longitude)
    flags = ["review"] + (["far"] if problem == "outside" else []) + (["no_location"] if problem == "no_location" else [])
    db.session.add(CheckAttempt(shift_id=shift_id, user_id=user.id, direction="in", latitude=latitude,
                                longitude=longitude, distance_m=metres, accepted=False, reason="review_requested"))
    db.session.add(Attendance(shift_id=shift_id, user_id=user.id, method=AttendanceMethod.REVIEW,
                              status=AttendanceStatus.OPEN, check_in_at=now, flags=",".join(flags)))
    return _commit_attendance(_l("Checked in for review at %(time)s. Your coordinator will confirm it.",
                                 time=format_local(now, "%H:%M")))


def _commit_attendance(message) -> CheckResult:
    try:
        db.session.commit()
    except IntegrityError:  # a double submit: the first one checked in
        db.session.rollback()
        raise AlreadyCheckedInError() from None
    return CheckResult(True, str(message), "ok")


def _attendance(user_id: int, shift_id: int) -> Attendance | None:
    return db.session.scalar(select(Attendance).where(Attendance.user_id == user_id, Attendance.shift_id == shift_id))


def check_out(user: User, shift_id: int, frames: list[bytes], token: str | None, latitude: float | None,
              longitude: float | None, for_review: bool = False) -> CheckResult:
    """Face check-out (or, after failures, check-out for review); the record then waits for approval.

    One transaction, like ``check_in``: a refused face check commits only its evidence, on purpose; an accepted one
    commits the evidence and the check-out together.
    """
    attendance = _attendance(user.id, shift_id)
    if attendance is None or attendance.status != AttendanceStatus.OPEN:
        raise NotCheckedInError()
    shift = attendance.shift
    flags = set(filter(None, attendance.flags.split(",")))
    verification = None
    if attendance.method == AttendanceMethod.FACE and not for_review:
        result, verification = _face_and_place(user, shift, "out", frames, token, latitude, longitude)
        if not result.ok:
            db.session.commit()  # the refusal and its evidence
            return result
        if result.flag:
            flags.add(result.flag)
    elif for_review:
        flags.add("checkout_review")
    now = min(utcnow(), shift.ends_at + timedelta(hours=1))
    closed = db.session.execute(
        update(Attendance).where(Attendance.id == attendance.id, Attendance.status == AttendanceStatus.OPEN)
        .values(status=AttendanceStatus.PENDING, check_out_at=now, flags=",".join(sorted(flags)),
                minutes_credited=credited_minutes(shift, attendance.check_in_at, now))
        .execution_options(synchronize_session=False)).rowcount
    if closed != 1:
        db.session.rollback()
        raise NotCheckedInError()
    if verification is not None:
        face_evidence.keep_thumbnail(user.id, attendance.id, "out", verification.attempt_id, verification.evidence)
    db.session.commit()
    return CheckResult(True, str(_l("Checked out at %(time)s. Thank you! Your coordinator will approve the hours.",
                                    time=format_local(now, "%H:%M"))), "ok")


def is_overdue(attendance: Attendance, now: datetime) -> bool:
    """A check-in whose shift ended without a check-out (the scheduled job closes it; until then it is computed)."""
    return attendance.status == AttendanceStatus.OPEN and attendance.shift.ends_at <= now


def awaiting_decision(now: datetime):
    """SQL condition (Attendance joined with Shift) for what waits for a coordinator: pending records, and check-ins
    whose shift ended without a check-out (overdue, shown as "no check-out" before the job closes them)."""
    return or_(Attendance.status == AttendanceStatus.PENDING,
               and_(Attendance.status == AttendanceStatus.OPEN, Shift.ends_at <= now))


def _closing_values(attendance: Attendance) -> dict:
    """How an overdue check-in is closed: out at the scheduled end, flagged "no check-out"."""
    shift = attendance.shift
    return {"status": AttendanceStatus.PENDING, "check_out_at": shift.ends_at,
            "flags": ",".join(sorted(set(filter(None, attendance.flags.split(","))) | {"auto_closed"})),
            "minutes_credited": credited_minutes(shift, attendance.check_in_at, shift.ends_at)}


def _close(attendance: Attendance) -> bool:
    """Close one overdue check-in unless a check-out got there first (a helper: no commit)."""
    return db.session.execute(
        update(Attendance).where(Attendance.id == attendance.id, Attendance.status == AttendanceStatus.OPEN)
        .values(**_closing_values(attendance)).execution_options(synchronize_session=False)).rowcount == 1


def close_overdue(now: datetime | None = None) -> int:
    """Scheduled job (``flask expire``): close check-ins whose shift ended without a check-out, out at the
    scheduled end and flagged, in one transaction. Returns how many were closed."""
    now = now or utcnow()
    overdue = db.session.scalars(select(Attendance).join(Shift).options(joinedload(Attendance.shift)).where(
        Attendance.status == AttendanceStatus.OPEN, Shift.ends_at <= now)).all()
    closed = sum(_close(attendance) for attendance in overdue)
    db.session.commit()
    return closed


# --- coordinators -------------------------------------------------------------------------------------------

def manual_bounds(shift: Shift, now: datetime) -> tuple[datetime, datetime] | None:
    """The earliest and latest times a manual record of this shift may state now: within the shift and never in
    the future. None before the shift has started (nothing happened yet)."""
    if now <= shift.starts_at:
        return None
    return shift.starts_at, min(shift.ends_at, now)


def _manual_times(shift: Shift, check_in_at: datetime | None, check_out_at: datetime | None,
                  now: datetime) -> tuple[datetime, datetime]:
    """The times of a manual record: as given, else the schedule so far; each wrong one gets its own message."""
    bounds = manual_bounds(shift, now)
    if bounds is None:
        raise FieldErrors({"check_in_at": _l("This shift has not started yet: attendance can be recorded from "
                                             "%(time)s.", time=format_local(shift.starts_at, "%m-%d %H:%M"))})
    earliest, latest = bounds
    start, end = check_in_at or earliest, check_out_at or latest
    window = {"start": format_local(earliest, "%m-%d %H:%M"), "end": format_local(shift.ends_at, "%m-%d %H:%M")}
    errors: dict = {}
    for name, moment in (("check_in_at", start), ("check_out_at", end)):
        if moment > now:
            errors[name] = _l("This time is in the future; record what has happened so far.")
        elif not earliest <= moment <= shift.ends_at:
            errors[name] = _l("Please give a time within the shift (%(start)s – %(end)s).", **window)
    if not errors and end <= start:
        errors["check_out_at"] = _l("The check-out must be after the check-in.")
    if errors:
        raise FieldErrors(errors)
    return start, end


def record_manual(actor: User, shift_id: int, user_id: int, check_in_at: datetime | None = None,
                  check_out_at: datetime | None = None) -> Attendance:
    """The non-face path (required by law): the coordinator records a volunteer's check-in and check-out times.

    Only what has happened can be recorded: the times lie within the shift and not in the future; left out, they
    are the schedule so far (recorded during a shift, up to now, not the whole shift in advance). Audited.
    """
    from volunteer.services.shifts import get_managed_shift

    shift = get_managed_shift(actor, shift_id)
    signup = db.session.scalar(select(Signup).where(Signup.shift_id == shift_id, Signup.user_id == user_id,
                                                    Signup.status == SignupStatus.CONFIRMED))
    if signup is None:
        raise FieldErrors({"user_id": _l("This volunteer is not signed up for the shift.")})
    start, end = _manual_times(shift, check_in_at, check_out_at, utcnow())
    existing = _attendance(user_id, shift_id)
    if existing is not None:
        raise AlreadyReviewedError(status=status_label(existing.status)) if existing.status != AttendanceStatus.OPEN \
            else AlreadyCheckedInError()
    attendance = Attendance(shift_id=shift_id, user_id=user_id, method=AttendanceMethod.MANUAL,
                            status=AttendanceStatus.PENDING, check_in_at=start, check_out_at=end, flags="manual",
                            recorded_by_id=actor.id, minutes_credited=credited_minutes(shift, start, end))
    db.session.add(attendance)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyCheckedInError() from None
    audit.record(actor.id, "attendance.manual", f"attendance:{attendance.id}", shift=shift_id, volunteer=user_id,
                 check_in=format_local(start), check_out=format_local(end), minutes=attendance.minutes_credited)
    db.session.commit()
    return attendance


def _managed_attendance(actor: User, attendance_id: int) -> Attendance:
    """The record, if the actor manages its team; an overdue check-in is closed first, in the caller's transaction
    (the queue shows it before the scheduled job has closed it, so a coordinator can decide on it)."""
    attendance = db.session.get(Attendance, attendance_id)
    if attendance is None:
        raise NotFoundError()
    teams.require_manages(actor, attendance.shift.team_id)
    if is_overdue(attendance, utcnow()) and _close(attendance):
        db.session.refresh(attendance)
    return attendance


def _approve(actor: User, attendance: Attendance) -> bool:
    """Approve one pending record and credit it once (helper: no commit)."""
    now = utcnow()
    changed = db.session.execute(
        update(Attendance).where(Attendance.id == attendance.id, Attendance.status == AttendanceStatus.PENDING)
        .values(status=AttendanceStatus.APPROVED, reviewed_by_id=actor.id, reviewed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        return False
    minutes = attendance.minutes_credited
    awarded = points_for(minutes, attendance.shift.points_per_hour)
    if minutes:
        ledger.add_minutes(attendance.user_id, minutes, EntryKind.SHIFT_AWARD, f"attendance:{attendance.id}",
                           actor_id=actor.id)
    if awarded:
        ledger.credit(attendance.user_id, awarded, EntryKind.SHIFT_AWARD, f"attendance:{attendance.id}",
                      note=attendance.shift.title[:200], actor_id=actor.id)
    db.session.execute(update(Attendance).where(Attendance.id == attendance.id).values(points_awarded=awarded)
                       .execution_options(synchronize_session=False))
    audit.record(actor.id, "attendance.approve", f"attendance:{attendance.id}", minutes=minutes, points=awarded)
    return True


def approve_attendance(actor: User, attendance_id: int) -> Attendance:
    """Approve one record: points and hours are credited exactly once."""
    attendance = _managed_attendance(actor, attendance_id)
    try:
        approved = _approve(actor, attendance)
    except IntegrityError:
        approved = False  # another coordinator's approval won the race
    if not approved:
        db.session.rollback()
        db.session.refresh(attendance)
        raise AlreadyReviewedError(status=status_label(attendance.status))
    db.session.commit()
    db.session.refresh(attendance)
    return attendance


def approve_clean(actor: User) -> int:
    """Approve, in one transaction, every record of the coordinator's teams with nothing unusual (all of them, not
    one page; overdue check-ins are flagged "no check-out", so they are never among them)."""
    records = db.session.scalars(
        select(Attendance).join(Shift).options(joinedload(Attendance.shift))
        .where(Shift.team_id.in_(teams.managed_team_ids(actor)), clean_clause())
        .order_by(Attendance.created_at, Attendance.id)).all()
    count = sum(_approve(actor, a) for a in records)
    db.session.commit()
    return count


def reject_attendance(actor: User, attendance_id: int, reason: str) -> Attendance:
    """Reject with a reason the volunteer sees; after approval, reversal entries (never an edit)."""
    errors: dict = {}
    reason = clean_text(errors, "reason", reason, Attendance.reject_reason, required=_l("Please tell the volunteer why."))
    if errors:
        raise FieldErrors(errors)
    attendance = _managed_attendance(actor, attendance_id)
    was = attendance.status
    if was not in (AttendanceStatus.PENDING, AttendanceStatus.APPROVED):
        raise AlreadyReviewedError(status=status_label(was))
    changed = db.session.execute(
        update(Attendance).where(Attendance.id == attendance.id, Attendance.status == was)
        .values(status=AttendanceStatus.REJECTED, reject_reason=reason, reviewed_by_id=actor.id,
                reviewed_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if changed != 1:  # another coordinator decided first
        db.session.rollback()
        db.session.refresh(attendance)
        raise AlreadyReviewedError(status=status_label(attendance.status))
    if was == AttendanceStatus.APPROVED:
        try:
            if attendance.points_awarded:
                ledger.debit(attendance.user_id, attendance.points_awarded, EntryKind.REVERSAL,
                             f"attendance:{attendance.id}:reversal", note=reason, actor_id=actor.id)
        except ledger.InsufficientPointsError as exc:
            db.session.rollback()
            raise PointsAlreadySpentError(missing=exc.params["missing"]) from exc
        if attendance.minutes_credited:
            ledger.add_minutes(attendance.user_id, -attendance.minutes_credited, EntryKind.REVERSAL,
                               f"attendance:{attendance.id}:reversal", actor_id=actor.id)
    audit.record(actor.id, "attendance.reject", f"attendance:{attendance.id}", before=was, reason=reason)
    db.session.commit()
    db.session.refresh(attendance)
    return attendance


STATUS_LABELS = {AttendanceStatus.OPEN: _l("checked in"), AttendanceStatus.PENDING: _l("waiting for approval"),
                 AttendanceStatus.APPROVED: _l("approved"), AttendanceStatus.REJECTED: _l("rejected")}

METHOD_LABELS = {AttendanceMethod.FACE: _l("face check-in"), AttendanceMethod.REVIEW: _l("checked in for review"),
                 AttendanceMethod.MANUAL: _l("recorded by hand")}


def status_label(status: AttendanceStatus) -> str:
    """An attendance status in the reader's language."""
    return str(STATUS_LABELS[status])


FLAG_LABELS = {
    "review": _l("checked in for review"),
    "far": _l("outside the patrol area"),
    "no_location": _l("no location"),
    "auto_closed": _l("no check-out"),
    "checkout_review": _l("checked out for review"),
    "manual": _l("recorded by hand"),
    "retries": _l("several failed attempts"),
    **face_id.FLAG_REASONS,
}


@dataclass(frozen=True)
class QueueRow:
    """One record waiting for a decision with its evidence at a glance; an overdue check-in is shown as it will be
    closed (out at the scheduled end, flagged "no check-out"), computed here without writing."""

    attendance: Attendance
    face_distance: float | None
    distance_m: float | None
    failed_attempts: int
    flags: list[str]
    check_out_at: datetime | None
    minutes_credited: int
    #: the check-in (and check-out) face crops kept with the volunteer's consent: (id, direction) rows
    thumbnails: list = field(default_factory=list)


def _failed_attempts():
    """SQL: the refused check attempts of an attendance record's volunteer and shift (correlated subquery)."""
    return (select(func.count(CheckAttempt.id))
            .where(CheckAttempt.shift_id == Attendance.shift_id, CheckAttempt.user_id == Attendance.user_id,
                   CheckAttempt.accepted.is_(False)).correlate(Attendance).scalar_subquery())


def clean_clause():
    """SQL condition on Attendance for a record with nothing unusual: the queue's flags (``_queue_rows``) say the
    same in Python. Pending (an overdue check-in gets "no check-out"), no flag but "manual", fewer than two
    refused attempts (two make "several failed attempts")."""
    return and_(Attendance.status == AttendanceStatus.PENDING, Attendance.flags.in_(["", "manual"]),
                _failed_attempts() < 2)


def _queue_statement(actor: User, now: datetime):
    return (select(Attendance).join(Shift).options(joinedload(Attendance.shift), joinedload(Attendance.user))
            .where(awaiting_decision(now), Shift.team_id.in_(teams.managed_team_ids(actor)))
            .order_by(Attendance.created_at, Attendance.id))


def queue(actor: User, page: int = 1) -> Page[QueueRow]:
    """One page of the records of the coordinator's teams waiting for a decision, oldest first, with evidence (a
    fixed number of queries; read only: overdue check-ins are computed, the scheduled job closes them)."""
    now = utcnow()
    return paginate(_queue_statement(actor, now), page).map(lambda records: _queue_rows(records, now))


def count_clean(actor: User) -> int:
    """How many records of the coordinator's teams "approve all clean records" would approve (every page)."""
    return db.session.scalar(select(func.count(Attendance.id)).join(Shift).where(
        Shift.team_id.in_(teams.managed_team_ids(actor)), clean_clause()))


def _queue_rows(records: list[Attendance], now: datetime) -> list[QueueRow]:
    """The evidence of these records at a glance, in two more queries."""
    pairs = [(a.shift_id, a.user_id) for a in records]
    evidence: dict[tuple[int, int], list[CheckAttempt]] = {}
    if pairs:
        for attempt in db.session.scalars(select(CheckAttempt).where(
                tuple_(CheckAttempt.shift_id, CheckAttempt.user_id).in_(pairs)).order_by(CheckAttempt.id)):
            evidence.setdefault((attempt.shift_id, attempt.user_id), []).append(attempt)
    thumbnails = face_evidence.thumbnails_for([a.id for a in records])
    rows = []
    for a in records:
        attempts = evidence.get((a.shift_id, a.user_id), [])
        accepted = [x for x in attempts if x.accepted]
        best = accepted[0] if accepted else (attempts[-1] if attempts else None)
        failed = sum(1 for x in attempts if not x.accepted)
        closing = _closing_values(a) if is_overdue(a, now) else None
        flags = [f for f in (closing["flags"] if closing else a.flags).split(",") if f and f != "manual"]
        if failed >= 2 and "review" not in flags:
            flags.append("retries")
        rows.append(QueueRow(a, best.face_distance if best else None, best.distance_m if best else None, failed,
                             flags, closing["check_out_at"] if closing else a.check_out_at,
                             closing["minutes_credited"] if closing else a.minutes_credited,
                             thumbnails.get(a.id, [])))
    return rows


def history(user: User, page: int = 1) -> Page[Attendance]:
    """One page of the volunteer's attendance records, newest first."""
    return paginate(select(Attendance).options(joinedload(Attendance.shift)).where(Attendance.user_id == user.id)
                    .order_by(Attendance.check_in_at.desc(), Attendance.id.desc()), page)


def attended_shift_ids(user: User, shift_ids: list[int]) -> set[int]:
    """Which of these shifts the volunteer has an attendance record for (checked in, or recorded by hand)."""
    return set(db.session.scalars(select(Attendance.shift_id).where(Attendance.user_id == user.id,
                                                                    Attendance.shift_id.in_(shift_ids))))


def for_shift(shift_id: int, user_ids: list[int]) -> list[Attendance]:
    """The attendance records of these volunteers (one page of a roster) on one shift."""
    if not user_ids:
        return []
    return list(db.session.scalars(select(Attendance).where(Attendance.shift_id == shift_id,
                                                            Attendance.user_id.in_(user_ids))))


def open_attendance(user: User) -> list[Attendance]:
    """Check-ins waiting for a check-out."""
    return list(db.session.scalars(select(Attendance).options(joinedload(Attendance.shift)).where(
        Attendance.user_id == user.id, Attendance.status == AttendanceStatus.OPEN)))
