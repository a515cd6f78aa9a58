"""The points and hours ledgers. Helpers only: they add and flush; the calling use case commits.

Every change is a new entry plus an update of the cached balance in the same transaction. A debit is one
conditional UPDATE whose row count is checked, never read-decide-write.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from volunteer.errors import DomainError
from volunteer.extensions import db
from volunteer.models import EntryKind, HourEntry, PointEntry, User


class InsufficientPointsError(DomainError):
    message = _l("Not enough points: you need %(missing)d more.")
    status_code = 409


def credit(user_id: int, amount: int, kind: EntryKind | str, source_key: str, note: str = "",
           actor_id: int | None = None) -> PointEntry:
    """Add points. The unique source key makes a second credit for the same cause fail."""
    if amount <= 0:
        raise ValueError("credit amount must be positive")
    entry = PointEntry(user_id=user_id, amount=amount, kind=EntryKind(kind), source_key=source_key, note=note,
                       actor_id=actor_id)
    db.session.add(entry)
    db.session.flush()
    db.session.execute(update(User).where(User.id == user_id)
                       .values(points_balance=User.points_balance + amount))
    return entry


def debit(user_id: int, amount: int, kind: EntryKind | str, source_key: str, note: str = "",
          actor_id: int | None = None) -> PointEntry:
    """Take points in one conditional UPDATE; InsufficientPointsError when the balance is short."""
    if amount <= 0:
        raise ValueError("debit amount must be positive")
    result = db.session.execute(
        update(User).where(User.id == user_id, User.points_balance >= amount)
        .values(points_balance=User.points_balance - amount)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        balance = db.session.scalar(select(User.points_balance).where(User.id == user_id)) or 0
        raise InsufficientPointsError(missing=amount - balance)
    entry = PointEntry(user_id=user_id, amount=-amount, kind=EntryKind(kind), source_key=source_key, note=note,
                       actor_id=actor_id)
    db.session.add(entry)
    db.session.flush()
    return entry


def add_minutes(user_id: int, minutes: int, kind: EntryKind | str, source_key: str, note: str = "",
                actor_id: int | None = None) -> HourEntry:
    """Add (or, negative, reverse) approved service minutes."""
    entry = HourEntry(user_id=user_id, minutes=minutes, kind=EntryKind(kind), source_key=source_key, note=note,
                      actor_id=actor_id)
    db.session.add(entry)
    db.session.flush()
    db.session.execute(update(User).where(User.id == user_id)
                       .values(service_minutes=User.service_minutes + minutes)
                       .execution_options(synchronize_session=False))
    return entry


@dataclass(frozen=True)
class Mismatch:
    """A cached balance that differs from the sum of its entries."""

    user_id: int
    what: str
    cached: int
    summed: int


def find_mismatches() -> list[Mismatch]:
    """Every user whose cached points or minutes differ from their ledgers (two grouped queries)."""
    points = (select(PointEntry.user_id, func.sum(PointEntry.amount).label("total"))
              .group_by(PointEntry.user_id).subquery())
    minutes = (select(HourEntry.user_id, func.sum(HourEntry.minutes).label("total"))
               .group_by(HourEntry.user_id).subquery())
    mismatches: list[Mismatch] = []
    for what, sub, column in (("points", points, User.points_balance), ("minutes", minutes, User.service_minutes)):
        summed = func.coalesce(sub.c.total, 0)
        rows = db.session.execute(
            select(User.id, column, summed).outerjoin(sub, sub.c.user_id == User.id).where(column != summed)
        )
        mismatches += [Mismatch(uid, what, int(cached), int(total)) for uid, cached, total in rows]
    return mismatches
