"""The dashboard's figures and the CSV exports, scoped to what the reader manages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import force_locale
from sqlalchemy import String, and_, case, cast, distinct, exists, func, literal, select
from sqlalchemy.orm import joinedload

from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.localtime import format_local, local_day_bounds, month_bounds, recent_months
from volunteer.models import (
    Attendance,
    AttendanceStatus,
    EntryKind,
    HourEntry,
    PointEntry,
    Reward,
    Role,
    Shift,
    Team,
    User,
    Voucher,
    team_members,
)
from volunteer.services import attendance, points, rewards, stars, teams


def scope_users(team_ids: set[int]):
    """Volunteers belonging to any of these teams (a subquery of user ids)."""
    return select(team_members.c.user_id).where(team_members.c.team_id.in_(team_ids))


@dataclass(frozen=True)
class MonthFigure:
    """One month's value for a chart."""

    label: str
    value: int


@dataclass
class Dashboard:
    """Everything the dashboard shows."""

    registered: int
    active_this_month: int
    hours_by_month: list[MonthFigure]
    points_issued_by_month: list[MonthFigure]
    points_redeemed_by_month: list[MonthFigure]
    redemptions_by_category: list[tuple[str, int]]
    top_teams: list[tuple[str, int]]
    underfilled: list[Shift]
    stale_pending: int


def _by_month(column, value, where, months: list[tuple[int, int]]) -> list[MonthFigure]:
    """One sum per local month, in one statement.

    Each month's UTC bounds come from the configured zone (localtime.month_bounds), so grouping is by the local
    month on any database and under daylight saving; EXTRACT(month) would group by the UTC month.
    """
    bounds = [month_bounds(y, m) for y, m in months]
    sums = [func.coalesce(func.sum(case((and_(column >= start, column < end), value), else_=0)), 0)
            for start, end in bounds]
    row = db.session.execute(select(*sums).where(column >= bounds[0][0], column < bounds[-1][1], *where)).one()
    return [MonthFigure(f"{y}-{m:02d}", int(v)) for (y, m), v in zip(months, row, strict=True)]


def not_refunded():
    """SQL condition on Voucher: its points were not given back (a cancelled voucher, or one that expired with a
    refund, has a refund entry in the ledger; the entry's unique source key says which voucher it was for)."""
    refund_key = literal("voucher:") + cast(Voucher.id, String) + literal(":refund")
    return ~exists().where(PointEntry.source_key == refund_key)


def dashboard(reader: User) -> Dashboard:
    """Figures for an admin (everything) or a coordinator (their subtree). A fixed number of queries."""
    team_ids = teams.managed_team_ids(reader)
    people = scope_users(team_ids)
    months = recent_months(6)
    month_start, month_end = month_bounds(*months[-1])
    registered = db.session.scalar(select(func.count(User.id)).where(User.role == Role.VOLUNTEER,
                                                                     User.id.in_(people)))
    active = db.session.scalar(select(func.count(distinct(Attendance.user_id))).where(
        Attendance.check_in_at >= month_start, Attendance.check_in_at < month_end, Attendance.user_id.in_(people)))
    hours = _by_month(HourEntry.created_at, HourEntry.minutes, [HourEntry.user_id.in_(people)], months)
    issued = _by_month(PointEntry.created_at, PointEntry.amount,
                       [PointEntry.user_id.in_(people), PointEntry.kind == EntryKind.SHIFT_AWARD], months)
    # by the month the voucher was issued, net of refunds: a cancelled or refunded voucher spent nothing
    redeemed = _by_month(Voucher.created_at, Voucher.points_cost, [Voucher.user_id.in_(people), not_refunded()],
                         months)
    by_category = list(db.session.execute(
        select(Reward.category, func.count(Voucher.id)).join(Voucher, Voucher.reward_id == Reward.id)
        .where(Voucher.user_id.in_(people), not_refunded()).group_by(Reward.category)
        .order_by(func.count(Voucher.id).desc(), Reward.category)))
    top = list(db.session.execute(
        select(Team.name, func.sum(HourEntry.minutes) / 60)
        .join(team_members, team_members.c.team_id == Team.id)
        .join(HourEntry, HourEntry.user_id == team_members.c.user_id)
        .where(Team.id.in_(team_ids)).group_by(Team.id, Team.name)
        .order_by(func.sum(HourEntry.minutes).desc()).limit(5)))
    now = utcnow()
    underfilled = list(db.session.scalars(
        select(Shift).options(joinedload(Shift.team)).where(
            Shift.team_id.in_(team_ids), Shift.cancelled_at.is_(None), Shift.starts_at > now,
            Shift.starts_at < now + timedelta(days=7), Shift.confirmed_count * 2 < Shift.capacity)
        .order_by(Shift.starts_at).limit(20)))
    stale = db.session.scalar(select(func.count(Attendance.id)).join(Shift).where(
        Attendance.status == AttendanceStatus.PENDING, Shift.team_id.in_(team_ids),
        Attendance.created_at < now - timedelta(hours=24)))
    return Dashboard(registered, active, [MonthFigure(f.label, f.value // 60) for f in hours], issued, redeemed,
                     [(str(c), int(n)) for c, n in by_category], [(n, int(h or 0)) for n, h in top], underfilled,
                     stale)


# --- exports ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportFilter:
    """Team subtree and inclusive local dates."""

    team_id: int | None
    start: date | None
    end: date | None


def _dates(column, f: ExportFilter) -> list:
    clauses = []
    if f.start:
        clauses.append(column >= local_day_bounds(f.start)[0])
    if f.end:
        clauses.append(column < local_day_bounds(f.end)[1])
    return clauses


#: the columns of each export by their codes: the header of the English export (``lang="en"``), stable for scripts
EXPORT_COLUMNS = {
    "volunteers": ["id", "name", "mobile", "teams", "approved_hours", "stars", "points", "registered_at"],
    "attendance": ["id", "shift", "team", "starts_at", "volunteer", "mobile", "method", "status", "check_in",
                   "check_out", "minutes_credited", "points_awarded", "flags"],
    "ledger": ["id", "time", "volunteer", "mobile", "kind", "amount", "note", "source"],
    "redemptions": ["id", "issued_at", "volunteer", "mobile", "reward", "category", "merchant", "points", "status",
                    "redeemed_at"],
}
#: languages of an export: "zh" has Chinese headers and labels for Excel; "en" has the codes above, as stored
EXPORT_LANGUAGES = ("zh", "en")


def _headers(kind: str) -> list[str]:
    """The export's column headers in the current language (EXPORT_COLUMNS, one for one)."""
    from flask_babel import gettext as _

    return {
        "volunteers": [_("Volunteer no."), _("Full name"), _("Mobile number"), _("Teams"),
                       _("Approved hours (h)"), _("Star level"), _("Points balance"), _("Registered at")],
        "attendance": [_("Record no."), _("Shift"), _("Team"), _("Shift starts"), _("Volunteer"), _("Mobile number"),
                       _("Method"), _("Status"), _("Check-in time"), _("Check-out time"), _("Minutes credited"),
                       _("Points awarded"), _("Flags")],
        "ledger": [_("Entry no."), _("Time"), _("Volunteer"), _("Mobile number"), _("Kind"), _("Points"), _("Note"),
                   _("Source")],
        "redemptions": [_("Voucher no."), _("Issued at"), _("Volunteer"), _("Mobile number"), _("Reward"),
                        _("Category"), _("Merchant"), _("Points"), _("Status"), _("Redeemed at")],
    }[kind]


def export_table(reader: User, kind: str, f: ExportFilter, lang: str) -> tuple[list[str], list[list]]:
    """Headers and rows of one export: in Chinese (headers, statuses and kinds as labels) or with the codes."""
    if lang == "en":
        return EXPORT_COLUMNS[kind], export_rows(reader, kind, f)
    with force_locale("zh_CN"):
        return _headers(kind), export_rows(reader, kind, f, labelled=True)


def export_rows(reader: User, kind: str, f: ExportFilter, labelled: bool = False) -> list[list]:
    """Rows of one export (see EXPORT_COLUMNS), in the reader's scope: statuses and kinds as codes, or as labels in
    the current language."""

    def label(labels: dict, code) -> str:
        return str(labels[code]) if labelled else code.value

    scope = teams.managed_subtree_ids(reader, f.team_id)
    people = scope_users(scope)
    if kind == "volunteers":
        users = db.session.scalars(select(User).options(joinedload(User.teams)).where(
            User.role == Role.VOLUNTEER, User.id.in_(people), *_dates(User.created_at, f)).order_by(User.id)).unique()
        return [[u.id, u.name, u.mobile, "/".join(t.name for t in u.teams), round(u.service_minutes / 60, 1),
                 stars.star_level(u.service_minutes), u.points_balance, format_local(u.created_at)] for u in users]
    if kind == "attendance":
        records = db.session.scalars(
            select(Attendance).join(Shift).options(joinedload(Attendance.shift).joinedload(Shift.team),
                                                    joinedload(Attendance.user))
            .where(Shift.team_id.in_(scope), *_dates(Shift.starts_at, f)).order_by(Attendance.id))
        return [[a.id, a.shift.title, a.shift.team.name, format_local(a.shift.starts_at), a.user.name, a.user.mobile,
                 label(attendance.METHOD_LABELS, a.method), label(attendance.STATUS_LABELS, a.status),
                 format_local(a.check_in_at), format_local(a.check_out_at), a.minutes_credited, a.points_awarded,
                 _flags(a.flags) if labelled else a.flags] for a in records]
    if kind == "ledger":
        rows = db.session.execute(
            select(PointEntry, User.name, User.mobile).join(User, User.id == PointEntry.user_id)
            .where(PointEntry.user_id.in_(people), *_dates(PointEntry.created_at, f)).order_by(PointEntry.id))
        return [[e.id, format_local(e.created_at), name, mobile, label(points.ENTRY_LABELS, e.kind), e.amount,
                 points.note_label(e) if labelled else e.note, e.source_key] for e, name, mobile in rows]
    if kind == "redemptions":
        vouchers = db.session.scalars(
            select(Voucher).options(joinedload(Voucher.user), joinedload(Voucher.reward).joinedload(Reward.merchant))
            .where(Voucher.user_id.in_(people), *_dates(Voucher.created_at, f)).order_by(Voucher.id))
        return [[v.id, format_local(v.created_at), v.user.name, v.user.mobile, v.reward.title,
                 label(rewards.CATEGORY_LABELS, v.reward.category), v.reward.merchant.name, v.points_cost,
                 label(rewards.VOUCHER_STATUS_LABELS, v.status), format_local(v.redeemed_at)] for v in vouchers]
    raise KeyError(kind)


def _flags(flags: str) -> str:
    """"manual,far" as the coordinator's labels, joined the Chinese way."""
    return "、".join(str(attendance.FLAG_LABELS.get(f, f)) for f in flags.split(",") if f)
