"""What the patrol-report modules share: errors, labels, who sees which report, the timeline and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, or_, select, true

from volunteer.db import utcnow
from volunteer.errors import DomainError, NotFoundError, PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import (
    EventAction,
    RejectReason,
    Report,
    ReportCategory,
    ReportEvent,
    ReportState,
    Role,
    Team,
    User,
    team_coordinators,
)
from volunteer.services import teams


class ReportNotFoundError(NotFoundError):
    """Missing and not-yours look the same: the id says nothing about other people's reports."""

    message = _l("This report does not exist, or it is not yours to see.")


class AlreadySignedError(DomainError):
    message = _l("%(name)s already signed for this report (%(time)s). Nothing was changed.")
    status_code = 409


class AlreadyDispatchedError(DomainError):
    message = _l("%(name)s already dispatched this report to %(to)s (%(time)s). Nothing was changed.")
    status_code = 409


class ReportStateError(DomainError):
    message = _l("This report is now “%(state)s”: that step is no longer possible. Please reload the page.")
    status_code = 409


class NoTeamError(DomainError):
    message = _l("No team can receive reports yet. Please ask an administrator to set up the teams.")
    status_code = 409


STATE_LABELS = {
    ReportState.NEW: _l("new — waiting for the team"),
    ReportState.SIGNED: _l("taken on by the team"),
    ReportState.DISPATCHED: _l("passed to a handler"),
    ReportState.HANDLED: _l("dealt with — being checked"),
    ReportState.CLOSED: _l("closed"),
    ReportState.REJECTED: _l("not taken up"),
}

REJECT_LABELS = {
    RejectReason.DUPLICATE: _l("already reported (duplicate)"),
    RejectReason.INVALID: _l("not a real problem"),
    RejectReason.OUT_OF_SCOPE: _l("not for this platform"),
}

ACTION_LABELS = {
    EventAction.CREATED: _l("Report sent"),
    EventAction.SIGNED: _l("Signed for"),
    EventAction.DISPATCHED: _l("Dispatched"),
    EventAction.HANDLED: _l("Handled"),
    EventAction.CLOSED: _l("Closed"),
    EventAction.REJECTED: _l("Not taken up"),
    EventAction.REOPENED: _l("Reopened"),
    EventAction.MERGED: _l("Added to another report"),
    EventAction.MERGED_IN: _l("Another report was added to this one"),
}

#: the timeline lines whose note is public: what was done (办结) and why it was not taken up. They are the report's
#: ``status_note``, which the reporter reads and Open311 publishes as ``status_notes``; every other note (dispatch,
#: close, reopen, merge) is between handlers.
PUBLIC_NOTE_ACTIONS = frozenset({EventAction.HANDLED, EventAction.REJECTED})

#: the step whose deadline runs in each open state
STAGES = {ReportState.NEW: "sign", ReportState.SIGNED: "dispatch", ReportState.DISPATCHED: "close",
          ReportState.HANDLED: "close"}

STAGE_LABELS = {"sign": _l("to sign for"), "dispatch": _l("to dispatch"), "close": _l("to close")}


def state_label(state: ReportState | str) -> str:
    """The state in the reader's language."""
    return str(STATE_LABELS[ReportState(state)])


def deadline(category: ReportCategory, state: ReportState, clock_from: datetime) -> datetime | None:
    """When the step of ``state`` is due (None once closed or rejected)."""
    stage = STAGES.get(ReportState(state))
    if stage is None:
        return None
    seconds = {"sign": category.sign_seconds, "dispatch": category.dispatch_seconds,
               "close": category.close_seconds}[stage]
    return clock_from + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Clock:
    """Where a report stands against its deadline (computed, never stored)."""

    stage: str
    due_at: datetime
    seconds_left: int  # negative once overdue

    @property
    def overdue(self) -> bool:
        """Past its deadline: escalated to the parent team."""
        return self.seconds_left < 0

    @property
    def stage_label(self) -> str:
        """"to sign for", "to dispatch", "to close"."""
        return str(STAGE_LABELS[self.stage])


def report_clock(report: Report, now: datetime | None = None) -> Clock | None:
    """The report's clock now (None when closed or rejected)."""
    stage = STAGES.get(ReportState(report.state))
    if stage is None or report.due_at is None:
        return None
    left = (report.due_at - (now or utcnow())).total_seconds()
    return Clock(stage, report.due_at, int(left // 1))


def is_handler(actor: User) -> bool:
    """Coordinators handle their teams' reports; admins all. No separate handler role."""
    return actor.role in (Role.COORDINATOR, Role.ADMIN)


def direct_team_ids(actor: User) -> set[int]:
    """Teams the actor coordinates directly (their queue); an admin: every team."""
    if actor.role == Role.ADMIN:
        return set(db.session.scalars(select(Team.id)))
    if actor.role != Role.COORDINATOR:
        return set()
    return set(db.session.scalars(select(team_coordinators.c.team_id).where(team_coordinators.c.user_id == actor.id)))


def handles_clause(actor: User, team_ids: set[int] | None = None) -> ColumnElement[bool]:
    """Reports the actor may act on: routed or dispatched into the subtrees they coordinate, or to them."""
    if actor.role == Role.ADMIN:
        return true()
    if actor.role != Role.COORDINATOR:
        return Report.id.is_(None)  # never true
    ids = teams.managed_team_ids(actor) if team_ids is None else team_ids
    return or_(Report.team_id.in_(ids), Report.assigned_team_id.in_(ids), Report.assigned_user_id == actor.id)


def visible_clause(actor: User) -> ColumnElement[bool]:
    """Reports the actor may read: their own, and those they handle."""
    return or_(Report.reporter_id == actor.id, handles_clause(actor))


def load_report(actor: User, report_id: int) -> Report:
    """The report if the actor may read it; ReportNotFoundError otherwise (the same for missing and not allowed)."""
    report = db.session.scalar(select(Report).where(Report.id == report_id, visible_clause(actor)))
    if report is None:
        raise ReportNotFoundError()
    return report


def can_handle(actor: User, report: Report) -> bool:
    """Whether the actor may act on this report as a handler."""
    if actor.role == Role.ADMIN:
        return True
    if actor.role != Role.COORDINATOR:
        return False
    ids = teams.managed_team_ids(actor)
    return (report.team_id in ids or report.assigned_team_id in ids or report.assigned_user_id == actor.id)


def load_handled_report(actor: User, report_id: int) -> Report:
    """The report if the actor may act on it: 404 when they cannot see it, 403 when they may only read it."""
    report = load_report(actor, report_id)
    if not can_handle(actor, report):
        raise PermissionDeniedError()
    return report


def add_event(report_id: int, actor_id: int | None, action: EventAction, from_state: ReportState | None,
              to_state: ReportState, note: str = "", *, team_id: int | None = None, user_id: int | None = None,
              other_report_id: int | None = None, at: datetime | None = None) -> ReportEvent:
    """One timeline line in the current transaction (a helper: adds and flushes)."""
    event = ReportEvent(report_id=report_id, actor_id=actor_id, action=action, from_state=from_state,
                        to_state=to_state, note=note, team_id=team_id, user_id=user_id,
                        other_report_id=other_report_id, created_at=at or utcnow())
    db.session.add(event)
    db.session.flush()
    return event
