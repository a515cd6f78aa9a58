"""Patrol shifts, sign-ups, attendance and the evidence of each check-in attempt."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from volunteer.extensions import db
from volunteer.db import CreatedMixin
from volunteer.models.people import Team, User, enum_column


class SignupStatus(StrEnum):
    """Where a volunteer stands for one shift."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class AttendanceStatus(StrEnum):
    """The life of one attendance record."""

    OPEN = "open"  # checked in, not yet out
    PENDING = "pending"  # waiting for a coordinator
    APPROVED = "approved"
    REJECTED = "rejected"


class AttendanceMethod(StrEnum):
    """How presence was established."""

    FACE = "face"
    REVIEW = "review"  # face or location unavailable: the coordinator decides
    MANUAL = "manual"  # recorded by the coordinator on the spot


class Shift(CreatedMixin, db.Model):
    """A patrol shift of one team at one place."""

    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("confirmed_count >= 0 AND confirmed_count <= capacity", name="not_overfull"),
        CheckConstraint("latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180", name="coordinates"),
        CheckConstraint("radius_m > 0", name="radius_positive"),
        CheckConstraint("points_per_hour >= 0", name="rate_not_negative"),
        Index("ix_shifts_team_start", "team_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    place_name: Mapped[str] = mapped_column(String(100))
    latitude: Mapped[float] = mapped_column()
    longitude: Mapped[float] = mapped_column()
    radius_m: Mapped[int] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    capacity: Mapped[int] = mapped_column()
    #: confirmed sign-ups, moved by one conditional UPDATE so capacity holds under concurrency
    confirmed_count: Mapped[int] = mapped_column(default=0)
    points_per_hour: Mapped[int] = mapped_column()
    #: shifts made together by a weekly repetition share this
    series: Mapped[str | None] = mapped_column(String(32), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column()

    team: Mapped[Team] = relationship()


class Signup(CreatedMixin, db.Model):
    """A volunteer's place (or waitlist position) on a shift."""

    __tablename__ = "signups"
    __table_args__ = (UniqueConstraint("shift_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[SignupStatus] = mapped_column(enum_column(SignupStatus))
    #: waitlist order; promotion takes the smallest
    queued_at: Mapped[datetime] = mapped_column()

    shift: Mapped[Shift] = relationship()
    user: Mapped[User] = relationship()


class Attendance(CreatedMixin, db.Model):
    """One volunteer's presence at one shift, and its review."""

    __tablename__ = "attendances"
    __table_args__ = (
        UniqueConstraint("shift_id", "user_id"),
        CheckConstraint("minutes_credited >= 0", name="minutes_not_negative"),
        Index("ix_attendances_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    method: Mapped[AttendanceMethod] = mapped_column(enum_column(AttendanceMethod))
    status: Mapped[AttendanceStatus] = mapped_column(enum_column(AttendanceStatus))
    check_in_at: Mapped[datetime] = mapped_column()
    check_out_at: Mapped[datetime | None] = mapped_column()
    #: comma-separated reasons a coordinator should look closer: "review", "auto_closed", "far", ...
    flags: Mapped[str] = mapped_column(String(200), default="")
    minutes_credited: Mapped[int] = mapped_column(default=0)
    points_awarded: Mapped[int] = mapped_column(default=0)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    reject_reason: Mapped[str] = mapped_column(String(200), default="")

    shift: Mapped[Shift] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class CheckAttempt(CreatedMixin, db.Model):
    """Evidence of one check-in or check-out attempt."""

    __tablename__ = "check_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out"
    face_distance: Mapped[float | None] = mapped_column()
    liveness: Mapped[str] = mapped_column(String(20), default="")
    latitude: Mapped[float | None] = mapped_column()
    longitude: Mapped[float | None] = mapped_column()
    distance_m: Mapped[float | None] = mapped_column()
    accepted: Mapped[bool] = mapped_column()
    reason: Mapped[str] = mapped_column(String(60), default="")
