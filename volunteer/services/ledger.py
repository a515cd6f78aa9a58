"""The points and hours ledgers. Helpers only: they add and flush; the calling use case commits.

Every change is a new entry plus an update of the cached balance in the same transaction. A debit is one
conditional UPDATE whose row count is checked, never read-decide-write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update

from volunteer.db import utcnow
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


#: (user_id, amount or minutes, source_key, note)
BulkEntry = tuple[int, int, str, str]


def credit_many(entries: Sequence[BulkEntry], kind: EntryKind | str, actor_id: int | None = None) -> None:
    """``credit`` for many entries at once (an import): one INSERT of every entry, one UPDATE of the balances."""
    if any(amount <= 0 for _, amount, _, _ in entries):
        raise ValueError("credit amount must be positive")
    _add_many(PointEntry, "amount", "points_balance", entries, kind, actor_id)


def add_minutes_many(entries: Sequence[BulkEntry], kind: EntryKind | str, actor_id: int | None = None) -> None:
    """``add_minutes`` for many entries at once (an import): one INSERT of every entry, one UPDATE of the balances."""
    _add_many(HourEntry, "minutes", "service_minutes", entries, kind, actor_id)


def _add_many(model, value: str, balance: str, entries: Sequence[BulkEntry], kind: EntryKind | str,
              actor_id: int | None) -> None:
    """Entries and their cached balances in the current transaction, without an ORM object per entry.

    The INSERT goes as one executemany; the UPDATE adds to each user the sum of exactly these entries (found by
    their unique source keys). The caller keeps a call to a few thousand entries, so the UPDATE's list of keys
    stays far below PostgreSQL's 65,535 bind parameters in one statement.
    """
    if not entries:
        return
    table, now, kind = model.__table__, utcnow(), EntryKind(kind)
    db.session.execute(insert(table), [
        {"user_id": user_id, value: amount, "kind": kind, "source_key": key, "note": note, "actor_id": actor_id,
         "created_at": now} for user_id, amount, key, note in entries])
    added = (select(table.c.user_id, func.sum(table.c[value]).label("total"))
             .where(table.c.source_key.in_([key for _, _, key, _ in entries])).group_by(table.c.user_id).subquery())
    users = User.__table__
    db.session.execute(update(users).where(users.c.id == added.c.user_id)
                       .values({balance: users.c[balance] + added.c.total}))


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
