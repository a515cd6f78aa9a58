"""Append-only ledgers of points and service hours."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from volunteer.extensions import db
from volunteer.db import CreatedMixin
from volunteer.models.people import enum_column


class EntryKind(StrEnum):
    """Why a ledger entry exists."""

    SHIFT_AWARD = "shift_award"
    REDEMPTION = "redemption"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    EXPIRY = "expiry"
    LEGACY_IMPORT = "legacy_import"
    REVERSAL = "reversal"
    REPORT_AWARD = "report_award"


class PointEntry(CreatedMixin, db.Model):
    """A change of spendable points. Never updated or deleted."""

    __tablename__ = "point_entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int] = mapped_column()
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind))
    #: what caused it, e.g. "attendance:12" or "voucher:7:refund"; unique, so nothing is credited twice
    source_key: Mapped[str] = mapped_column(String(80), unique=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class HourEntry(CreatedMixin, db.Model):
    """A change of approved service time, in minutes. Never updated or deleted."""

    __tablename__ = "hour_entries"
    __table_args__ = (CheckConstraint("minutes <> 0", name="minutes_not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    minutes: Mapped[int] = mapped_column()
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind))
    source_key: Mapped[str] = mapped_column(String(80), unique=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
