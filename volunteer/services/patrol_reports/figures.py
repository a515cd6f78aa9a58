"""Figures of patrol reports: the monthly SLA table per team ("西湖速度"), the dashboard's counts per category, the
CSV export with the clock figures, and the markers of the maps. Nothing here writes.

The SLA table counts reports by their arrival in the local month and the team responsible (``team_id``). For each
step (signed for, dispatched, closed) a report counts once its step is done or its deadline has passed:

- done in time: the step's moment minus the arrival is at most the category's seconds (default 1 min / 30 min /
  24 h, so the columns are 西湖码's promise when the defaults are kept);
- late: done later, or not done by the deadline (still waiting, or rejected after the deadline);
- not counted: not done and the deadline not yet passed (the clock still runs), or rejected before the deadline
  (left the pipeline in time with a reason).

"Closed" is the closing or the rejection with its reason, whichever came: both end the report with feedback to the
reporter. p50 and p90 are of the done steps' times (nearest rank), in seconds, measured from arrival; the dispatch
is the first one (``first_dispatched_at``, kept through re-dispatches and reopenings), as the signing is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.localtime import format_local, local_day_bounds, month_bounds, this_month
from volunteer.models import OPEN_STATES, Report, ReportCategory, ReportState, Team, User
from volunteer.services import teams
from volunteer.services.patrol_reports.common import STATE_LABELS, handles_clause, report_clock

#: the three steps of the clock: the moment that ends each, and the category's seconds for it
STEPS = ("sign", "dispatch", "close")


@dataclass
class StepFigure:
    """One step of one team's month: on time / counted, and the p50/p90 of the done ones (seconds)."""

    on_time: int = 0
    counted: int = 0
    times: list[float] = field(default_factory=list)

    @property
    def percent(self) -> float | None:
        """Share on time, 0–100 with one decimal (None when nothing was counted)."""
        return round(100 * self.on_time / self.counted, 1) if self.counted else None

    def percentile(self, p: float) -> float | None:
        """The nearest-rank percentile of the done times (None when none is done)."""
        if not self.times:
            return None
        ordered = sorted(self.times)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p90(self) -> float | None:
        return self.percentile(90)


@dataclass
class TeamMonth:
    """One team's row of the SLA table."""

    team_id: int | None  # None: the total row
    team_name: str
    arrived: int = 0
    steps: dict[str, StepFigure] = field(default_factory=lambda: {s: StepFigure() for s in STEPS})


@dataclass(frozen=True)
class SlaTable:
    """The month's table: one row per team with reports, then the total."""

    year: int
    month: int
    rows: list[TeamMonth]
    total: TeamMonth


def _limits(category: ReportCategory) -> dict[str, int]:
    return {"sign": category.sign_seconds, "dispatch": category.dispatch_seconds, "close": category.close_seconds}


def _done_at(report: Report, step: str) -> datetime | None:
    if step == "sign":
        return report.signed_at
    if step == "dispatch":
        return report.first_dispatched_at
    return report.closed_at or report.rejected_at


def _add(row: TeamMonth, report: Report, limits: dict[str, int], now: datetime) -> None:
    row.arrived += 1
    for step in STEPS:
        figure, limit = row.steps[step], limits[step]
        done = _done_at(report, step)
        if done is not None:
            seconds = (done - report.created_at).total_seconds()
            figure.counted += 1
            figure.on_time += seconds <= limit
            figure.times.append(seconds)
            continue
        ended = report.rejected_at or now
        if (ended - report.created_at).total_seconds() > limit:
            figure.counted += 1  # late: not done by its deadline


def sla_table(actor: User, month: tuple[int, int] | None = None, now: datetime | None = None) -> SlaTable:
    """The monthly SLA table of the teams the actor manages (all for an admin): two queries."""
    now = now or utcnow()
    year, month_no = month or this_month()
    start, end = month_bounds(year, month_no)
    scope = teams.managed_team_ids(actor)
    categories = {c.id: _limits(c) for c in db.session.scalars(select(ReportCategory))}
    reports = db.session.execute(
        select(Report.team_id, Report.category_id, Report.created_at, Report.signed_at, Report.first_dispatched_at,
               Report.closed_at, Report.rejected_at)
        .where(Report.team_id.in_(scope), Report.created_at >= start, Report.created_at < end)
        .order_by(Report.team_id, Report.id))
    rows: dict[int, TeamMonth] = {}
    total = TeamMonth(None, _("All teams"))
    for r in reports:
        row = rows.setdefault(r.team_id, TeamMonth(r.team_id, ""))
        _add(row, r, categories[r.category_id], now)
        _add(total, r, categories[r.category_id], now)
    names = dict(db.session.execute(select(Team.id, Team.name).where(Team.id.in_(list(rows)))).all()) if rows else {}
    for row in rows.values():
        row.team_name = names.get(row.team_id, "")
    return SlaTable(year, month_no, sorted(rows.values(), key=lambda r: (r.team_name, r.team_id or 0)), total)


@dataclass(frozen=True)
class CategoryCount:
    """Open and overdue reports of one category (the dashboard)."""

    name: str
    open: int
    overdue: int


def category_counts(actor: User, locale: str, now: datetime | None = None) -> list[CategoryCount]:
    """Open and overdue reports per category in the actor's scope, most open first (one query)."""
    now = now or utcnow()
    rows = db.session.execute(
        select(ReportCategory, func.count(Report.id), func.count(Report.id).filter(Report.due_at < now))
        .join(Report, Report.category_id == ReportCategory.id)
        .where(Report.state.in_(OPEN_STATES), handles_clause(actor))
        .group_by(ReportCategory.id).order_by(func.count(Report.id).desc(), ReportCategory.id))
    return [CategoryCount(c.name(locale), int(n), int(late)) for c, n, late in rows]


# --- the export ------------------------------------------------------------------------------------------------

#: the export's columns by their codes (the English export's header)
EXPORT_COLUMNS = ["id", "arrived_at", "category", "team", "state", "signed_at", "sign_seconds", "signed_in_time",
                  "dispatched_at", "dispatch_seconds", "dispatched_in_time", "closed_at", "close_seconds",
                  "closed_in_time", "overdue_now", "confirmed_useful", "points_awarded", "latitude", "longitude"]


def _headers() -> list[str]:
    return [_("Report no."), _("Arrived at"), _("Category"), _("Team"), _("State"), _("Signed for at"),
            _("Seconds to sign"), _("Signed in time"), _("Dispatched at"), _("Seconds to dispatch"),
            _("Dispatched in time"), _("Closed at"), _("Seconds to close"), _("Closed in time"), _("Overdue now"),
            _("Confirmed useful"), _("Points awarded"), _("Latitude (WGS-84)"), _("Longitude (WGS-84)")]


def export_table(actor: User, team_id: int | None, start: date | None, end: date | None,
                 lang: str, now: datetime | None = None) -> tuple[list[str], Iterable[list]]:
    """Headers and rows of the reports export, in the actor's team scope and local dates; no reporter in it."""
    now = now or utcnow()
    where = [Report.team_id.in_(teams.managed_subtree_ids(actor, team_id))]
    if start:
        where.append(Report.created_at >= local_day_bounds(start)[0])
    if end:
        where.append(Report.created_at < local_day_bounds(end)[1])
    reports = list(db.session.scalars(select(Report).options(joinedload(Report.category), joinedload(Report.team))
                                      .where(*where).order_by(Report.id)))
    if lang == "en":
        return EXPORT_COLUMNS, [_row(r, now, False) for r in reports]
    with force_locale("zh_CN"):
        return _headers(), [_row(r, now, True) for r in reports]


def _row(r: Report, now: datetime, labelled: bool) -> list:
    limits = _limits(r.category)

    def yes_no(value: bool | None):
        if value is None:
            return ""
        return (_("yes") if value else _("no")) if labelled else int(value)

    cells = [r.id, format_local(r.created_at), r.category.name_zh if labelled else r.category.code, r.team.name, str(STATE_LABELS[ReportState(r.state)]) if labelled else r.state.value]
    for step in STEPS:
        done = _done_at(r, step)
        seconds = int((done - r.created_at).total_seconds()) if done else None
        cells += [format_local(done), seconds, yes_no(None if seconds is None else seconds <= limits[step])]
    clock = report_clock(r, now)
    cells += [yes_no(clock.overdue if clock else False), yes_no(r.confirmed_useful), r.points_awarded,
              round(r.latitude, 6), round(r.longitude, 6)]
    return cells


# --- map markers -----------------------------------------------------------------------------------------------

def _marker(r: Report, locale: str, now: datetime) -> dict:
    clock = report_clock(r, now)
    return {"id": r.id, "lat": r.latitude, "lon": r.longitude, "category": r.category.name(locale),
            "state": str(STATE_LABELS[ReportState(r.state)]), "overdue": bool(clock and clock.overdue),
            "sensitive": r.category.sensitive, "at": format_local(r.created_at)}


def queue_markers(rows, locale: str, now: datetime | None = None) -> list[dict]:
    """The markers of a page of the handler queue (no reporter, no text)."""
    now = now or utcnow()
    return [_marker(row.report, locale, now) for row in rows]


def my_markers(reports, locale: str, now: datetime | None = None) -> list[dict]:
    """The markers of a page of my reports."""
    now = now or utcnow()
    return [_marker(r, locale, now) for r in reports]
