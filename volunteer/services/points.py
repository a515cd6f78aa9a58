"""Point use cases beyond shifts and rewards: adjustments, expiry, history, the audit."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from volunteer.errors import FieldErrors, NotFoundError
from volunteer.extensions import db
from volunteer.localtime import local_date, local_midnight
from volunteer.models import EntryKind, PointEntry, Report, ReportCategory, Role, User, team_members
from volunteer.services import audit, ledger, teams
from volunteer.services.ledger import InsufficientPointsError
from volunteer.services.paging import Page, paginate
from volunteer.services.text import clean_text


#: the largest correction at once, either way (a typo's extra zeros are refused, not booked)
MAX_ADJUSTMENT = 100_000


def adjustable_volunteer_ids(actor: User, user_ids: list[int]) -> set[int]:
    """Which of these volunteers the actor may adjust (a member of a team they manage): one query for a page."""
    managed = teams.managed_team_ids(actor)
    if not managed or not user_ids:
        return set()
    return set(db.session.scalars(select(team_members.c.user_id).where(
        team_members.c.user_id.in_(user_ids), team_members.c.team_id.in_(managed)).distinct()))


def volunteer_to_adjust(actor: User, user_id: int) -> User:
    """A volunteer whose points the actor may adjust, or NotFoundError (someone else's volunteer: reveal nothing)."""
    user = db.session.get(User, user_id)
    if user is None or user.role != Role.VOLUNTEER or not adjustable_volunteer_ids(actor, [user_id]):
        raise NotFoundError()
    return user


def adjust_points(actor: User, user_id: int, amount: int, reason: str, form_key: str | None = None) -> PointEntry:
    """A coordinator (for their teams) or an admin corrects a balance; the reason is required and audited.

    ``form_key`` is the one-time key of the form page: the same page sent twice (a double tap, a resend after a
    slow answer) makes one adjustment, and the second answer is the first one's entry.
    """
    errors: dict = {}
    reason = clean_text(errors, "reason", reason, PointEntry.note, required=_l("Please give a reason for the adjustment."))
    if amount == 0 or abs(amount) > MAX_ADJUSTMENT:
        errors["amount"] = _l("Please enter a number of points other than zero (at most %(max)d either way).",
                              max=MAX_ADJUSTMENT)
    if errors:
        raise FieldErrors(errors)
    user = volunteer_to_adjust(actor, user_id)
    key = f"adjust:{user_id}:{form_key or uuid.uuid4().hex}"
    done = db.session.scalar(select(PointEntry).where(PointEntry.source_key == key))
    if done is not None:
        return done
    try:
        if amount > 0:
            entry = ledger.credit(user_id, amount, EntryKind.ADJUSTMENT, key, note=reason, actor_id=actor.id)
        else:
            entry = ledger.debit(user_id, -amount, EntryKind.ADJUSTMENT, key, note=reason, actor_id=actor.id)
    except InsufficientPointsError:
        db.session.rollback()
        raise FieldErrors({"amount": _l(
            "That would take %(name)s below zero: they have %(balance)d points, so you can take at most %(balance)d.",
            name=user.name, balance=user.points_balance)}) from None
    except IntegrityError:  # the same page sent twice at once: the other request made the adjustment
        db.session.rollback()
        done = db.session.scalar(select(PointEntry).where(PointEntry.source_key == key))
        if done is None:
            raise
        return done
    except Exception:
        db.session.rollback()
        raise
    audit.record(actor.id, "points.adjust", f"user:{user_id}", amount=amount, reason=reason)
    db.session.commit()
    return entry


ENTRY_LABELS = {
    EntryKind.SHIFT_AWARD: _l("Patrol shift"),
    EntryKind.REDEMPTION: _l("Reward redeemed"),
    EntryKind.REFUND: _l("Voucher refunded"),
    EntryKind.ADJUSTMENT: _l("Adjustment by a coordinator"),
    EntryKind.EXPIRY: _l("Points expired"),
    EntryKind.LEGACY_IMPORT: _l("Imported from the old system"),
    EntryKind.REVERSAL: _l("Approval withdrawn"),
    EntryKind.REPORT_AWARD: _l("Patrol report confirmed useful"),
}


#: notes the system writes as codes (a refund says why), shown in the reader's language
REFUND_NOTES = {"cancelled": _l("cancelled"), "expired": _l("expired")}
#: the note of an expiry entry ("earned before 2026-01-01", see expire_points)
_EXPIRY_NOTE = re.compile(r"earned before (\d{4}-\d{2}-\d{2})")


def note_label(entry: PointEntry) -> str:
    """An entry's note in the reader's language: the system's codes translated, a person's words (a reason, a
    shift or reward title) as they were written."""
    if entry.kind == EntryKind.REFUND and entry.note in REFUND_NOTES:
        return str(REFUND_NOTES[entry.note])
    expiry = _EXPIRY_NOTE.fullmatch(entry.note) if entry.kind == EntryKind.EXPIRY else None
    if expiry:
        return str(_l("earned before %(date)s", date=expiry.group(1)))
    return entry.note


def entry_label(entry: PointEntry, note: str | None = None) -> str:
    """What an entry was, in the reader's language, with its note (``note``: the note already translated)."""
    label, note = str(ENTRY_LABELS[entry.kind]), note_label(entry) if note is None else note
    return str(_l("%(what)s: %(note)s", what=label, note=note)) if note else label


#: a patrol report's credit and its reversals: ``report:<id>``, ``report:<id>:<n>``, ``…:reversal[:<n>]``
_REPORT_KEY = re.compile(r"report:(\d+)(?::.*)?")


def entry_labels(entries: list[PointEntry], locale: str) -> dict[int, str]:
    """Each entry's label by id. A patrol report's points carry its category's Chinese name as their note; shown
    in the reader's language when the report still has that category (one query for the page, not one a row)."""
    report_ids = {}
    for entry in entries:
        found = _REPORT_KEY.fullmatch(entry.source_key or "")
        if found and entry.kind in (EntryKind.REPORT_AWARD, EntryKind.REVERSAL):
            report_ids[entry.id] = int(found.group(1))
    names = {}
    if report_ids:
        names = {report_id: (name_zh, name_en) for report_id, name_zh, name_en in db.session.execute(
            select(Report.id, ReportCategory.name_zh, ReportCategory.name_en).join(ReportCategory)
            .where(Report.id.in_(set(report_ids.values()))))}
    labels = {}
    for entry in entries:
        name_zh, name_en = names.get(report_ids.get(entry.id), (None, None))
        translated = (name_en if str(locale).startswith("en") else name_zh) if entry.note == name_zh else None
        labels[entry.id] = entry_label(entry, translated)
    return labels


def history(user_id: int, page: int = 1) -> Page[PointEntry]:
    """One page of a volunteer's point entries, newest first."""
    return paginate(select(PointEntry).where(PointEntry.user_id == user_id).order_by(PointEntry.id.desc()), page)


# --- expiry -------------------------------------------------------------------------------------------------

def expiry_cutoff(today: date, years: int) -> datetime:
    """Points earned before this moment have expired: "end of the N-th calendar year" counting the year earned.

    Calendar years are local: the cutoff is local midnight on 1 January (the previous evening in UTC).
    """
    return local_midnight(date(today.year - years + 1, 1, 1))


def _expirable(user_id: int, cutoff: datetime) -> int:
    """Points earned before the cutoff that no later spending used up (spending takes the oldest first).

    A reversal (``<credit key>:reversal…``: an approval withdrawn, a report reopened) is not spending: it takes back
    the credit it names, so it lowers what that credit earned, before the cutoff or after it, and never shields the
    oldest points from expiry.
    """
    earned_before = db.session.scalar(select(func.coalesce(func.sum(PointEntry.amount), 0)).where(
        PointEntry.user_id == user_id, PointEntry.amount > 0, PointEntry.created_at < cutoff))
    credit = aliased(PointEntry)
    taken_back_before = db.session.scalar(
        select(func.coalesce(-func.sum(PointEntry.amount), 0)).join(
            credit, (credit.user_id == PointEntry.user_id) & (credit.amount > 0)
            & PointEntry.source_key.like(credit.source_key + ":reversal%"))
        .where(PointEntry.user_id == user_id, PointEntry.kind == EntryKind.REVERSAL, PointEntry.amount < 0,
               credit.created_at < cutoff))
    spent = db.session.scalar(select(func.coalesce(-func.sum(PointEntry.amount), 0)).where(
        PointEntry.user_id == user_id, PointEntry.amount < 0, PointEntry.kind != EntryKind.REVERSAL))
    return max(0, int(earned_before) - int(taken_back_before) - int(spent))


def expire_points(today: date) -> int:
    """Expire what the rule says has expired by this local date (oldest points first). Returns points expired."""
    years = current_app.config["POINTS_EXPIRE_AFTER_YEARS"]
    if not years:
        return 0
    cutoff = expiry_cutoff(today, years)
    total = 0
    for user_id in db.session.scalars(select(User.id).where(User.points_balance > 0)):
        amount = min(_expirable(user_id, cutoff), db.session.get(User, user_id).points_balance)
        if amount > 0:
            ledger.debit(user_id, amount, EntryKind.EXPIRY, f"expiry:{user_id}:{local_date(cutoff).isoformat()}",
                         note=f"earned before {local_date(cutoff).isoformat()}")
            total += amount
    db.session.commit()
    return total


@dataclass(frozen=True)
class ExpiryNotice:
    """Points that will expire at a date."""

    points: int
    on: date


def upcoming_expiry(user_id: int, today: date) -> ExpiryNotice | None:
    """What expires next for this volunteer, if expiry is on."""
    years = current_app.config["POINTS_EXPIRE_AFTER_YEARS"]
    if not years:
        return None
    next_cutoff = expiry_cutoff(date(today.year + 1, 1, 1), years)
    amount = _expirable(user_id, next_cutoff)
    return ExpiryNotice(amount, date(today.year, 12, 31)) if amount else None
