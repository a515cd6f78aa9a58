"""The audit log of sensitive actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from volunteer.extensions import db
from volunteer.db import CreatedMixin


class AuditEvent(CreatedMixin, db.Model):
    """Who did what to what, with the state before and after. Read-only once written."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(60), default="")
    #: {"before": ..., "after": ...} or other facts of the action
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Certificate(CreatedMixin, db.Model):
    """A service certificate as issued: a snapshot, so /verify shows exactly what the PDF said."""

    __tablename__ = "certificates"
    #: the same record gives the same certificate: downloading again reuses its code
    __table_args__ = (UniqueConstraint("user_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: printed on the PDF; the public verification page is /verify/<code>
    code: Mapped[str] = mapped_column(String(16), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    masked_name: Mapped[str] = mapped_column(String(50))
    masked_id: Mapped[str] = mapped_column(String(30))
    minutes: Mapped[int] = mapped_column()
    stars: Mapped[int] = mapped_column()
    shift_count: Mapped[int] = mapped_column()
    organisation: Mapped[str] = mapped_column(String(100))
    #: SHA-256 (hex) of everything the PDF states (name, ID, hours, stars, shift lines, organisation)
    fingerprint: Mapped[str] = mapped_column(String(64))
