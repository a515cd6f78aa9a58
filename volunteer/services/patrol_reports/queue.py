"""Reading reports: the handler queue by time left (with escalations from child teams), one report's page, the
figures of open and overdue reports. Nothing here writes: overdue and escalated are read from ``due_at``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import OPEN_STATES, Report, ReportEvent, ReportPhoto, Role, Team, User, team_coordinators
from volunteer.services.paging import Page, paginate
from volunteer.services.patrol_reports.common import (
    PUBLIC_NOTE_ACTIONS,
    Clock,
    can_handle,
    direct_team_ids,
    handles_clause,
    is_handler,
    load_report,
    report_clock,
)
from volunteer.services.patrol_reports.workflow import allowed_steps


@dataclass(frozen=True)
class QueueRow:
    """One report in a handler's queue."""

    report: Report
    clock: Clock | None
    #: overdue in a child team, so listed for its parent team
    escalated: bool


@dataclass
class ReportDetail:
    """Everything one report's page shows, already scope-checked."""

    report: Report
    clock: Clock | None
    events: list[ReportEvent]
    photo_ids: list[tuple[int, str]]
    steps: set[str]
    is_handler: bool
    #: reports merged into this one (ids), for handlers
    merged_ids: list[int] = field(default_factory=list)

    def note(self, event: ReportEvent) -> str:
        """The event's note as this reader may see it: all of them for its handlers, else only the public ones."""
        return event.note if self.is_handler or event.action in PUBLIC_NOTE_ACTIONS else ""


def _escalated_clause(actor: User, own: set[int], now: datetime):
    """Open, overdue reports of the child teams of the actor's own teams (every overdue one for an admin)."""
    overdue = and_(Report.state.in_(OPEN_STATES), Report.due_at < now)
    if actor.role == Role.ADMIN:
        return overdue
    return and_(overdue, Report.team_id.in_(select(Team.id).where(Team.parent_id.in_(own))))


def _queue_clause(actor: User, own: set[int], now: datetime):
    """Open reports of the teams the actor coordinates directly, dispatched to them, or overdue one level down."""
    if actor.role == Role.ADMIN:
        return Report.state.in_(OPEN_STATES)
    return or_(and_(Report.state.in_(OPEN_STATES), or_(
        Report.team_id.in_(own), Report.assigned_team_id.in_(own), Report.assigned_user_id == actor.id)),
        _escalated_clause(actor, own, now))


def _rows(actor: User, own: set[int], now: datetime, reports: list[Report]) -> list[QueueRow]:
    mine = {r.id for r in reports if actor.role == Role.ADMIN or r.team_id in own or r.assigned_team_id in own
            or r.assigned_user_id == actor.id}
    return [QueueRow(r, report_clock(r, now), r.id not in mine) for r in reports]


def list_queue(actor: User, page: int = 1, now: datetime | None = None) -> Page[QueueRow]:
    """The handler's open reports, least time left first (overdue at the top); a page with the total."""
    now = now or utcnow()
    own = direct_team_ids(actor)
    statement = (select(Report).options(joinedload(Report.category), joinedload(Report.team))
                 .where(_queue_clause(actor, own, now), handles_clause(actor))
                 .order_by(Report.due_at, Report.id))
    return paginate(statement, page).map(lambda reports: _rows(actor, own, now, reports))


def list_escalated(actor: User, page: int = 1, now: datetime | None = None) -> Page[QueueRow]:
    """Overdue reports of the child teams of the teams the actor coordinates (all overdue ones for an admin)."""
    now = now or utcnow()
    statement = (select(Report).options(joinedload(Report.category), joinedload(Report.team))
                 .where(_escalated_clause(actor, direct_team_ids(actor), now), handles_clause(actor))
                 .order_by(Report.due_at, Report.id))
    return paginate(statement, page).map(lambda reports: [QueueRow(r, report_clock(r, now), True) for r in reports])


@dataclass(frozen=True)
class ReportFigures:
    """Counts for a home page or dashboard: open reports the actor handles, overdue ones, and those escalated to
    the actor's teams from the teams under them."""

    open: int
    overdue: int
    escalated: int


def count_reports(actor: User, now: datetime | None = None) -> ReportFigures:
    """Open, overdue and escalated reports in the actor's scope (two counting queries)."""
    now = now or utcnow()
    open_, overdue = db.session.execute(
        select(func.count(Report.id), func.count(Report.id).filter(Report.due_at < now))
        .where(Report.state.in_(OPEN_STATES), handles_clause(actor))).one()
    escalated = db.session.scalar(select(func.count(Report.id)).where(
        _escalated_clause(actor, direct_team_ids(actor), now), handles_clause(actor))) if is_handler(actor) else 0
    return ReportFigures(int(open_ or 0), int(overdue or 0), int(escalated or 0))


def get_report(actor: User, report_id: int, now: datetime | None = None) -> ReportDetail:
    """One report with its timeline, photos and the steps the actor may take (reporter, handlers, admins)."""
    report = load_report(actor, report_id)
    events = list(db.session.scalars(select(ReportEvent).options(joinedload(ReportEvent.actor),
                                                                 joinedload(ReportEvent.team))
                                     .where(ReportEvent.report_id == report.id).order_by(ReportEvent.id)))
    photos = [(pid, kind) for pid, kind in db.session.execute(
        select(ReportPhoto.id, ReportPhoto.kind).where(ReportPhoto.report_id == report.id)
        .order_by(ReportPhoto.kind.desc(), ReportPhoto.position))]
    handler = can_handle(actor, report)
    merged = list(db.session.scalars(select(Report.id).where(Report.duplicate_of_id == report.id)
                                     .order_by(Report.id))) if handler else []
    return ReportDetail(report, report_clock(report, now), events, photos, allowed_steps(actor, report), handler,
                        merged)


def list_dispatch_choices(actor: User, report_id: int) -> tuple[list[Team], list[User]]:
    """Teams of the report's team subtree and their coordinators, for the dispatch form (handlers only)."""
    report = load_report(actor, report_id)
    if not can_handle(actor, report):
        return [], []
    root = db.session.get(Team, report.team_id)
    subtree = list(db.session.scalars(select(Team).where(Team.path.startswith(root.path)).order_by(Team.path)))
    handlers = list(db.session.scalars(
        select(User).join(team_coordinators, team_coordinators.c.user_id == User.id)
        .where(team_coordinators.c.team_id.in_([t.id for t in subtree]), User.is_enabled)
        .distinct().order_by(User.name, User.id)))
    ancestors = [int(i) for i in root.path.strip("/").split("/") if i]
    handlers += [u for u in db.session.scalars(
        select(User).join(team_coordinators, team_coordinators.c.user_id == User.id)
        .where(team_coordinators.c.team_id.in_(ancestors), User.is_enabled).distinct().order_by(User.id))
        if u not in handlers]
    return subtree, handlers
