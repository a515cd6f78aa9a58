"""The handlers' steps: sign (签收), dispatch (交办), handle (办结), close, reject, reopen, merge.

Each step is one conditional UPDATE (``WHERE state = <the state it starts from>``) whose row count is checked, plus
its timeline event and audit record, in one transaction. Two handlers signing at once: one wins, the other is told
who signed. A dispatch may start from "dispatched" (to redirect it), so its UPDATE also asks that the report is
still dispatched as the handler saw it (``dispatch_version``, carried by the page's form): of two handlers
re-dispatching at once, or one working from a page older than the other's dispatch, one wins and the other is told
who dispatched it to whom. Merging locks both reports (in id order) and re-reads the target, so two handlers
merging A into B and B into A at once cannot both succeed.

Points for a confirmed report go through the ledger once per closing (source key ``report:<id>`` for the first,
``report:<id>:<n>`` for the n-th), capped per volunteer per local day, counted net of reversals. A handler never
confirms their own report as useful. Reopening takes the points back (``<credit key>:reversal``), at most what the
reporter still holds: a balance never goes negative, and what was already spent stays with the reporter (audited).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import false, func, or_, select, update
from sqlalchemy.orm import aliased

from volunteer.db import utcnow
from volunteer.errors import DomainError, FieldErrors, InvalidStateError
from volunteer.extensions import db
from volunteer.localtime import format_local, local_date, local_day_bounds
from volunteer.models import (
    EntryKind,
    EventAction,
    PhotoKind,
    PointEntry,
    RejectReason,
    Report,
    ReportEvent,
    ReportPhoto,
    ReportState,
    Team,
    User,
)
from volunteer.services import audit, ledger, teams
from volunteer.services.patrol_reports.common import (
    AlreadyDispatchedError,
    AlreadySignedError,
    ReportStateError,
    add_event,
    can_handle,
    deadline,
    load_handled_report,
    state_label,
)
from volunteer.services.patrol_reports.photos import clean_photos
from volunteer.services.text import clean_text

S = ReportState
#: states a step may start from
SIGNABLE = (S.NEW,)
DISPATCHABLE = (S.SIGNED, S.DISPATCHED)
HANDLEABLE = (S.DISPATCHED,)
CLOSABLE = (S.HANDLED,)
REJECTABLE = (S.NEW, S.SIGNED, S.DISPATCHED, S.HANDLED)
REOPENABLE = (S.HANDLED, S.CLOSED, S.REJECTED)
MERGEABLE = REJECTABLE


class BadAssigneeError(DomainError):
    message = _l("Choose a team under this report's team, or a handler of it.")


class OwnReportError(DomainError):
    message = _l("You sent this report yourself, so you cannot confirm it as useful: close it without points, or "
                 "ask another handler to close it.")
    status_code = 403


class BadMergeError(DomainError):
    message = _l("Merge into a report that is itself not merged or rejected.")
    status_code = 409


def award_key(report_id: int, closing: int = 1) -> str:
    """The ledger source key of the points of a report's ``closing``-th paid closing (unique: credited once each);
    the first keeps the plain ``report:<id>``."""
    return f"report:{report_id}" if closing == 1 else f"report:{report_id}:{closing}"


def reversal_key(credit_key: str, nth: int = 1) -> str:
    """The ledger source key of the ``nth`` taking back of the credit ``credit_key`` (unique: once each). Only a
    credit whose first reversal found the points spent is taken back again (what is left, at a later reopening)."""
    return f"{credit_key}:reversal" if nth == 1 else f"{credit_key}:reversal:{nth}"


def _reversals_of(credit_key):
    """The condition "a reversal of the credit ``credit_key``" (a string or a column)."""
    return (PointEntry.kind == EntryKind.REVERSAL) & or_(
        PointEntry.source_key == credit_key + ":reversal", PointEntry.source_key.like(credit_key + ":reversal:%"))


def _credits_of(report_id: int):
    """The condition "a REPORT_AWARD credit of this report" (``report:<id>`` or ``report:<id>:<n>``)."""
    return (PointEntry.kind == EntryKind.REPORT_AWARD) & or_(
        PointEntry.source_key == award_key(report_id), PointEntry.source_key.like(f"report:{report_id}:%"))


def may_confirm_useful(actor: User, report: Report) -> bool:
    """Whether the actor may close this report as useful (never their own: nobody awards themselves)."""
    return report.reporter_id != actor.id


def allowed_steps(actor: User, report: Report) -> set[str]:
    """The steps the actor may take on this report now (for the page's buttons; the step functions re-check);
    "close_useful" when a closing may confirm it useful."""
    if not can_handle(actor, report):
        return set()
    state = ReportState(report.state)
    steps = {name for name, states in (("sign", SIGNABLE), ("dispatch", DISPATCHABLE), ("handle", HANDLEABLE),
                                       ("close", CLOSABLE), ("reject", REJECTABLE), ("reopen", REOPENABLE),
                                       ("merge", MERGEABLE)) if state in states}
    if state == S.REJECTED and report.duplicate_of_id is not None:
        steps.discard("reopen")  # a merged report lives on in the one it was merged into
    if "close" in steps and may_confirm_useful(actor, report):
        steps.add("close_useful")  # closing as "confirmed and useful" (never one's own report)
    return steps


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: the largest version a datetime can hold (9999-12-31 23:59:59.999999 UTC); a larger one is a forged page
MAX_VERSION = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def dispatch_version(report: Report) -> int:
    """Which dispatch the report is in, for a form to carry: 0 when not dispatched, else its ``dispatched_at`` in
    microseconds since 1970 (every dispatch, re-dispatch included, writes a new one)."""
    if report.dispatched_at is None:
        return 0
    return (report.dispatched_at - _EPOCH) // timedelta(microseconds=1)


def _as_dispatched(version: int):
    """The UPDATE's condition "still dispatched as version ``version`` said" (exact: the stored value itself)."""
    if version == 0:
        return Report.dispatched_at.is_(None)
    if not 0 < version <= MAX_VERSION:
        return false()  # no dispatch was ever that one (only a forged page says so): the step is refused
    return Report.dispatched_at == _EPOCH + timedelta(microseconds=version)


def _step(actor: User, report: Report, allowed: tuple[ReportState, ...], to: ReportState, action: EventAction,
          values: dict[str, Any], note: str = "", now: datetime | None = None, *, unchanged: tuple = (),
          **event: Any) -> ReportState:
    """Move the report in one conditional UPDATE from its current state (and ``unchanged``, further conditions
    on the row); timeline and audit in the same transaction (a helper: no commit). Raises when another handler
    moved it first."""
    was = ReportState(report.state)
    if was not in allowed:
        raise ReportStateError(state=state_label(was))
    now = now or utcnow()
    changed = db.session.execute(
        update(Report).where(Report.id == report.id, Report.state == was, *unchanged).values(state=to, **values)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        db.session.rollback()
        _raise_moved(report)
    add_event(report.id, actor.id, action, was, to, note, at=now, **event)
    audit.record(actor.id, f"report.{action.value}", f"report:{report.id}", before=was.value, after=to.value,
                 note=note[:200])
    return was


def _raise_moved(report: Report) -> None:
    """Tell the loser of a race what happened: who signed, who dispatched it to whom, or the report's new state."""
    db.session.refresh(report)
    if report.state == S.SIGNED and report.signed_by_id is not None:
        signer = db.session.get(User, report.signed_by_id)
        raise AlreadySignedError(name=signer.name if signer else "?", time=format_local(report.signed_at))
    if report.state == S.DISPATCHED:
        raise _already_dispatched(report)
    raise ReportStateError(state=state_label(report.state))


def _already_dispatched(report: Report) -> AlreadyDispatchedError:
    """"X already dispatched this report to Y (time)", from its newest dispatch on the timeline (the refusal path
    only: one more query)."""
    event = db.session.scalar(select(ReportEvent).where(
        ReportEvent.report_id == report.id, ReportEvent.action == EventAction.DISPATCHED)
        .order_by(ReportEvent.id.desc()).limit(1))
    to = " / ".join(name for name in ((event.team.name if event and event.team else None),
                                      (event.user.name if event and event.user else None)) if name)
    return AlreadyDispatchedError(name=event.actor.name if event and event.actor else "?", to=to or "?",
                                  time=format_local(report.dispatched_at) if report.dispatched_at else "?")


def _note(errors: dict, raw: str | None, required: Any = None) -> str:
    return clean_text(errors, "note", raw, Report.status_note, required=required, multiline=True)


def _finish(report: Report) -> Report:
    db.session.commit()
    db.session.refresh(report)
    return report


def sign_report(actor: User, report_id: int, now: datetime | None = None) -> Report:
    """签收: the handler takes the report; the dispatch clock runs."""
    report = load_handled_report(actor, report_id)
    now = now or utcnow()
    if report.state == S.SIGNED and report.signed_by_id is not None:
        _raise_moved(report)
    _step(actor, report, SIGNABLE, S.SIGNED, EventAction.SIGNED,
          {"signed_at": now, "signed_by_id": actor.id, "due_at": deadline(report.category, S.SIGNED,
                                                                          report.clock_from)}, now=now)
    return _finish(report)


def dispatch_report(actor: User, report_id: int, *, team_id: int | None, user_id: int | None, note: str | None,
                    seen_version: int | None = None, now: datetime | None = None) -> Report:
    """交办: to a team in the report's team subtree and/or a handler of it, with a note; again to redirect it.

    ``seen_version`` is the ``dispatch_version`` the handler's page showed (None: as loaded now). The report must
    still be in that dispatch when the UPDATE runs, so a second handler re-dispatching at the same time, or from an
    older page, is told who dispatched it to whom instead of silently overwriting it.
    """
    report = load_handled_report(actor, report_id)
    version = dispatch_version(report) if seen_version is None else seen_version
    if not 0 <= version <= MAX_VERSION:
        raise InvalidStateError()  # not a page we sent: "reload the page"
    errors: dict = {}
    text = _note(errors, note)
    if errors:
        raise FieldErrors(errors)
    if team_id is None and user_id is None:
        raise BadAssigneeError()
    root = db.session.get(Team, report.team_id)
    target_team = db.session.get(Team, team_id) if team_id is not None else None
    if team_id is not None and (target_team is None or not target_team.path.startswith(root.path)):
        raise BadAssigneeError()
    if user_id is not None:
        handler = db.session.get(User, user_id)
        if handler is None or (target_team or root).id not in teams.managed_team_ids(handler):
            raise BadAssigneeError()
    now = now or utcnow()
    _step(actor, report, DISPATCHABLE, S.DISPATCHED, EventAction.DISPATCHED,
          {"dispatched_at": now, "first_dispatched_at": func.coalesce(Report.first_dispatched_at, now),
           "assigned_team_id": team_id, "assigned_user_id": user_id,
           "due_at": deadline(report.category, S.DISPATCHED, report.clock_from)}, text, now,
          unchanged=(_as_dispatched(version),), team_id=team_id, user_id=user_id)
    return _finish(report)


def handle_report(actor: User, report_id: int, *, note: str | None, photo: bytes | None = None,
                  now: datetime | None = None) -> Report:
    """办结: the handler says what was done (the reporter reads it), optionally with a photo."""
    report = load_handled_report(actor, report_id)
    errors: dict = {}
    text = _note(errors, note, required=_l("Please say what was done."))
    cleaned = []
    if photo:
        try:
            cleaned = clean_photos([photo])
        except DomainError as exc:
            errors["photo"] = exc.text
    if errors:
        raise FieldErrors(errors)
    now = now or utcnow()
    _step(actor, report, HANDLEABLE, S.HANDLED, EventAction.HANDLED,
          {"handled_at": now, "handled_by_id": actor.id, "status_note": text}, text, now)
    if cleaned:
        from volunteer.services.patrol_reports.filing import _add_photos

        taken = db.session.scalar(select(func.count(ReportPhoto.id)).where(
            ReportPhoto.report_id == report.id, ReportPhoto.kind == PhotoKind.FEEDBACK)) or 0
        if taken < 3:  # a report handled again after reopening keeps its earlier feedback photos
            _add_photos(report.id, actor.id, PhotoKind.FEEDBACK, cleaned[:1], start=taken)
    return _finish(report)


def close_report(actor: User, report_id: int, *, useful: bool, note: str | None = None,
                 now: datetime | None = None) -> Report:
    """Close after 办结; "confirmed and useful" credits the reporter the category's points once (daily cap)."""
    report = load_handled_report(actor, report_id)
    errors: dict = {}
    text = _note(errors, note)
    if errors:
        raise FieldErrors(errors)
    if useful and not may_confirm_useful(actor, report):
        raise OwnReportError()
    now = now or utcnow()
    _step(actor, report, CLOSABLE, S.CLOSED, EventAction.CLOSED,
          {"closed_at": now, "closed_by_id": actor.id, "due_at": None, "confirmed_useful": useful}, text, now)
    if useful:
        awarded = _award(actor, report, now)
        if awarded:
            db.session.execute(update(Report).where(Report.id == report.id)
                               .values(points_awarded=Report.points_awarded + awarded)
                               .execution_options(synchronize_session=False))
    return _finish(report)


def _lock_reporter(report: Report) -> None:
    """Take the reporter's row lock (a no-op UPDATE): closings and reopenings for one volunteer run one at a time,
    so the daily cap and the balance they read stay true until they write."""
    db.session.execute(update(User).where(User.id == report.reporter_id)
                       .values(points_balance=User.points_balance).execution_options(synchronize_session=False))


def _award(actor: User, report: Report, now: datetime) -> int:
    """Credit the reporter for this closing, within the daily cap (a helper: no commit). Returns the points
    credited: the category's points less what the reporter still holds from an earlier closing whose reversal
    found them spent."""
    held = db.session.scalar(select(Report.points_awarded).where(Report.id == report.id)) or 0
    points = report.category.points - held
    if points <= 0:
        return 0  # nothing to earn, or still held from an earlier closing
    _lock_reporter(report)
    start, end = local_day_bounds(local_date(now))
    # today's credits net of their reversals (a credit reopened and taken back no longer counts)
    credit = aliased(PointEntry)
    taken_back = (select(func.coalesce(func.sum(PointEntry.amount), 0)).where(_reversals_of(credit.source_key))
                  .correlate(credit).scalar_subquery())
    earned = db.session.scalar(
        select(func.coalesce(func.sum(credit.amount + taken_back), 0))
        .where(credit.user_id == report.reporter_id, credit.kind == EntryKind.REPORT_AWARD,
               credit.created_at >= start, credit.created_at < end)) or 0
    amount = min(points, current_app.config["REPORT_DAILY_POINTS_CAP"] - int(earned))
    if amount <= 0:
        return 0
    closing = (db.session.scalar(select(func.count(PointEntry.id)).where(_credits_of(report.id))) or 0) + 1
    entry = ledger.credit(report.reporter_id, amount, EntryKind.REPORT_AWARD, award_key(report.id, closing),
                          note=report.category.name_zh[:200], actor_id=actor.id)
    entry.created_at = now
    db.session.flush()
    return amount


def reject_report(actor: User, report_id: int, *, reason: RejectReason | str, note: str | None,
                  now: datetime | None = None) -> Report:
    """Not taken up (duplicate, invalid, out of scope), with a reason the reporter reads. Earns nothing."""
    report = load_handled_report(actor, report_id)
    errors: dict = {}
    text = _note(errors, note, required=_l("Please tell the reporter why."))
    if reason not in set(RejectReason):
        errors["reason"] = _l("Choose a reason.")
    if errors:
        raise FieldErrors(errors)
    now = now or utcnow()
    _step(actor, report, REJECTABLE, S.REJECTED, EventAction.REJECTED,
          {"rejected_at": now, "reject_reason": RejectReason(reason), "status_note": text, "due_at": None},
          text, now)
    return _finish(report)


def reopen_report(actor: User, report_id: int, *, note: str | None, now: datetime | None = None) -> Report:
    """Reopen with a reason: back to "signed" when it had been signed for, else "new"; the clock starts again."""
    report = load_handled_report(actor, report_id)
    errors: dict = {}
    text = _note(errors, note, required=_l("Please say why it is reopened."))
    if errors:
        raise FieldErrors(errors)
    if report.duplicate_of_id is not None:
        raise ReportStateError(state=state_label(report.state))
    now = now or utcnow()
    to = S.SIGNED if report.signed_at is not None else S.NEW
    _step(actor, report, REOPENABLE, to, EventAction.REOPENED,
          {"reopened_at": now, "clock_from": now, "due_at": deadline(report.category, to, now),
           "dispatched_at": None, "assigned_team_id": None, "assigned_user_id": None, "handled_at": None,
           "handled_by_id": None, "closed_at": None, "closed_by_id": None, "rejected_at": None,
           "reject_reason": None, "confirmed_useful": False, "status_note": ""}, text, now)
    _take_back(actor, report)
    return _finish(report)


def _take_back(actor: User, report: Report) -> None:
    """Reverse the points of the closing a reopening undoes (a helper: no commit; the report's row is locked by
    the reopening's UPDATE). Takes at most the reporter's balance, never more: the points they already spent
    stay with them, recorded in the audit log, and ``points_awarded`` keeps that remainder (a later paid closing
    tops it up to the category's points, no more; a rejection leaves it)."""
    held = db.session.scalar(select(Report.points_awarded).where(Report.id == report.id)) or 0
    if held <= 0:
        return
    _lock_reporter(report)
    balance = db.session.scalar(select(User.points_balance).where(User.id == report.reporter_id)) or 0
    left = min(held, balance)
    taken = 0
    # each credit of the report, oldest first, up to what is still outstanding on it, under its own reversal key:
    # the daily cap nets every credit against its own reversals, so none may be taken back beyond itself
    for credit_key, amount in db.session.execute(select(PointEntry.source_key, PointEntry.amount)
                                                 .where(_credits_of(report.id)).order_by(PointEntry.id)).all():
        if left <= 0:
            break
        count, reversed_points = db.session.execute(
            select(func.count(PointEntry.id), func.coalesce(-func.sum(PointEntry.amount), 0))
            .where(_reversals_of(credit_key))).one()
        part = min(left, amount - int(reversed_points))
        if part <= 0:
            continue
        ledger.debit(report.reporter_id, part, EntryKind.REVERSAL, reversal_key(credit_key, count + 1),
                     note=report.category.name_zh[:200], actor_id=actor.id)  # as the credit's: the reporter
        # reads it in their points history, and the handler's reason for reopening is internal
        left -= part
        taken += part
    db.session.execute(update(Report).where(Report.id == report.id).values(points_awarded=held - taken)
                       .execution_options(synchronize_session=False))
    audit.record(actor.id, "report.points_reversed", f"report:{report.id}", user=report.reporter_id,
                 points=taken, kept=held - taken)


def merge_report(actor: User, report_id: int, into_report_id: int, *, note: str | None = None,
                 now: datetime | None = None) -> Report:
    """Merge a duplicate into another report the actor handles: it is closed as a duplicate pointing there."""
    report = load_handled_report(actor, report_id)
    target = load_handled_report(actor, into_report_id)
    errors: dict = {}
    text = _note(errors, note)
    if errors:
        raise FieldErrors(errors)
    merge_into(actor, report, target, text, now or utcnow())
    return _finish(report)


def merge_into(actor: User, report: Report, target: Report, note: str, now: datetime) -> None:
    """Reject ``report`` as a duplicate of ``target`` with an event on both (a helper: no commit).

    Both rows are locked in id order (SELECT ... FOR UPDATE) and the target is judged as it is now: of two handlers
    merging A into B and B into A at once, the second waits for the first, then finds its target merged away.
    """
    if target.id == report.id:
        raise BadMergeError()
    rows = {row.id: row for row in db.session.execute(
        select(Report.id, Report.state, Report.duplicate_of_id).where(Report.id.in_((report.id, target.id)))
        .order_by(Report.id).with_for_update())}
    now_target = rows.get(target.id)
    if now_target is None or now_target.duplicate_of_id is not None or now_target.state == S.REJECTED:
        db.session.rollback()
        raise BadMergeError()
    _step(actor, report, MERGEABLE, S.REJECTED, EventAction.MERGED,
          {"rejected_at": now, "reject_reason": RejectReason.DUPLICATE, "duplicate_of_id": target.id,
           # the public note is the fact, never the handler's words (they stay on the timeline, for handlers)
           "status_note": str(_l("Merged into report %(number)d.", number=target.id)), "due_at": None},
          note, now, other_report_id=target.id)
    add_event(target.id, actor.id, EventAction.MERGED_IN, ReportState(now_target.state), ReportState(now_target.state),
              note, other_report_id=report.id, at=now)
