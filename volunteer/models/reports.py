"""Patrol reports: what a volunteer finds on patrol (hazards, disputes, clues), routed to a team, and its clock.

Locations are WGS-84 (what a browser's geolocation gives); Chinese map tiles use GCJ-02, converted only for display.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from volunteer.db import CreatedMixin
from volunteer.extensions import db
from volunteer.models.people import Team, TeamKind, User, enum_column
from volunteer.models.shifts import Shift


class ReportState(StrEnum):
    """The life of a report: new → signed (签收) → dispatched (交办) → handled (办结) → closed, or rejected."""

    NEW = "new"
    SIGNED = "signed"
    DISPATCHED = "dispatched"
    HANDLED = "handled"
    CLOSED = "closed"
    REJECTED = "rejected"


#: states a handler still has to act on (the queue, the clock, the duplicate check)
OPEN_STATES = (ReportState.NEW, ReportState.SIGNED, ReportState.DISPATCHED, ReportState.HANDLED)


class RejectReason(StrEnum):
    """Why a report was not taken up."""

    DUPLICATE = "duplicate"
    INVALID = "invalid"
    OUT_OF_SCOPE = "out_of_scope"


class LocationSource(StrEnum):
    """Where the coordinates came from."""

    GPS = "gps"  # the browser's geolocation, with its accuracy
    PIN = "pin"  # typed or a pin moved by hand


class PhotoKind(StrEnum):
    """A photo sent with the report, or the handler's photo at 办结."""

    REPORT = "report"
    FEEDBACK = "feedback"


class EventAction(StrEnum):
    """One line of a report's timeline."""

    CREATED = "created"
    SIGNED = "signed"
    DISPATCHED = "dispatched"
    HANDLED = "handled"
    CLOSED = "closed"
    REJECTED = "rejected"
    REOPENED = "reopened"
    MERGED = "merged"  # on the duplicate: merged into another report
    MERGED_IN = "merged_in"  # on the kept report: another was merged into it


class ReportCategory(CreatedMixin, db.Model):
    """A node of the two-level category tree: a group (level 1) or a category under it (level 2)."""

    __tablename__ = "report_categories"
    __table_args__ = (
        CheckConstraint("level IN (1, 2)", name="two_levels"),
        CheckConstraint("(level = 1 AND parent_id IS NULL AND parent_level IS NULL)"
                        " OR (level = 2 AND parent_id IS NOT NULL AND parent_level = 1)", name="parent_one_level_up"),
        CheckConstraint("points >= 0", name="points_not_negative"),
        CheckConstraint("sign_seconds > 0 AND dispatch_seconds >= sign_seconds AND close_seconds >= dispatch_seconds",
                        name="clock_in_order"),
        UniqueConstraint("id", "level"),
        ForeignKeyConstraint(["parent_id", "parent_level"], ["report_categories.id", "report_categories.level"],
                             name="fk_report_categories_parent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stable identifier, e.g. "fire.ebike_indoor" (Open311 service_code)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(50))
    #: 1: a group; 2: a category under a group. Reports are filed under level 2 only.
    level: Mapped[int] = mapped_column()
    parent_id: Mapped[int | None] = mapped_column(index=True)
    #: always 1 when parent_id is set: with the composite foreign key the database keeps the tree two levels deep
    parent_level: Mapped[int | None] = mapped_column()
    #: the level of team that handles it (fire hazards: the street's command centre); None: the team of the place
    handler_kind: Mapped[TeamKind | None] = mapped_column(enum_column(TeamKind))
    #: points credited to the reporter when a handler confirms the report useful
    points: Mapped[int] = mapped_column(default=0)
    #: the clock, from the report's arrival (or reopening): sign within, dispatch within, close within
    sign_seconds: Mapped[int] = mapped_column(default=60)
    dispatch_seconds: Mapped[int] = mapped_column(default=1800)
    close_seconds: Mapped[int] = mapped_column(default=86400)
    #: partners' public output may carry this category's photos
    public_photos: Mapped[bool] = mapped_column(default=False)
    #: clues: location rounded in public output and never on a public map
    sensitive: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    parent: Mapped[ReportCategory | None] = relationship(remote_side=[id], foreign_keys=[parent_id])

    def name(self, locale: str) -> str:
        """The name in the reader's language (Chinese unless English is asked for)."""
        return self.name_en if str(locale).startswith("en") else self.name_zh


class Report(CreatedMixin, db.Model):
    """One report by a volunteer; ``created_at`` is its arrival. Changed only by one conditional UPDATE per step."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180", name="coordinates"),
        CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="accuracy_not_negative"),
        CheckConstraint("state NOT IN ('signed', 'dispatched', 'handled', 'closed')"
                        " OR (signed_at IS NOT NULL AND signed_by_id IS NOT NULL)", name="signed_has_signer"),
        CheckConstraint("state NOT IN ('dispatched', 'handled', 'closed') OR (dispatched_at IS NOT NULL"
                        " AND (assigned_team_id IS NOT NULL OR assigned_user_id IS NOT NULL))",
                        name="dispatched_has_assignee"),
        CheckConstraint("state NOT IN ('handled', 'closed') OR handled_at IS NOT NULL", name="handled_has_time"),
        CheckConstraint("state <> 'closed' OR closed_at IS NOT NULL", name="closed_has_time"),
        CheckConstraint("(state = 'rejected') = (reject_reason IS NOT NULL AND rejected_at IS NOT NULL)",
                        name="rejected_has_reason"),
        CheckConstraint("duplicate_of_id IS NULL OR (duplicate_of_id <> id AND state = 'rejected'"
                        " AND reject_reason = 'duplicate')", name="merged_is_rejected_duplicate"),
        CheckConstraint("NOT confirmed_useful OR state = 'closed'", name="useful_only_closed"),
        CheckConstraint("points_awarded >= 0", name="points_not_negative"),
        CheckConstraint("(due_at IS NULL) = (state IN ('closed', 'rejected'))", name="open_has_deadline"),
        Index("ix_reports_team_state_due", "team_id", "state", "due_at"),
        Index("ix_reports_state_due", "state", "due_at"),
        Index("ix_reports_category_state_created", "category_id", "state", "created_at"),
        Index("ix_reports_reporter_created", "reporter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("report_categories.id"))
    #: the team responsible: the most specific team whose area holds the point (raised to the category's
    #: handler level), else the reporter's team
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    #: WGS-84 degrees (convert to GCJ-02 only for display on Chinese tiles)
    latitude: Mapped[float] = mapped_column()
    longitude: Mapped[float] = mapped_column()
    #: the browser's stated accuracy radius in metres; None for a typed or hand-moved pin
    accuracy_m: Mapped[float | None] = mapped_column()
    location_source: Mapped[LocationSource] = mapped_column(enum_column(LocationSource), default=LocationSource.GPS)
    #: the shift the reporter was checked in to when sending it
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shifts.id"), index=True)
    state: Mapped[ReportState] = mapped_column(enum_column(ReportState), default=ReportState.NEW, index=True)
    #: start of the current clock: arrival, or the last reopening
    clock_from: Mapped[datetime] = mapped_column()
    #: deadline of the current step (new: sign; signed: dispatch; dispatched/handled: close), set by each
    #: transition from clock_from and the category's seconds; None once closed or rejected. Past it: overdue,
    #: escalated to the parent team (read from this column, never written by a page view)
    due_at: Mapped[datetime | None] = mapped_column()
    signed_at: Mapped[datetime | None] = mapped_column()
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the current dispatch (every re-dispatch writes it; a reopening clears it)
    dispatched_at: Mapped[datetime | None] = mapped_column()
    #: the first dispatch, kept through re-dispatches and reopenings: what the SLA's "dispatched in time" measures
    first_dispatched_at: Mapped[datetime | None] = mapped_column()
    #: dispatched to a sub-team (its coordinators handle it) and/or a handler
    assigned_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    handled_at: Mapped[datetime | None] = mapped_column()
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejected_at: Mapped[datetime | None] = mapped_column()
    reject_reason: Mapped[RejectReason | None] = mapped_column(enum_column(RejectReason))
    reopened_at: Mapped[datetime | None] = mapped_column()
    #: the public status note (Open311 status_notes): the feedback at 办结 or the reason of a rejection
    status_note: Mapped[str] = mapped_column(String(500), default="")
    #: set when merged into another report (this one is then rejected as a duplicate)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    #: a handler confirmed it true and useful at closing: the reporter earns the category's points
    confirmed_useful: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: points the reporter holds for it: less than the category's when the daily cap cut them; 0 when none or taken
    #: back at a reopening (more than 0 after a reopening only when the reporter had already spent them)
    points_awarded: Mapped[int] = mapped_column(default=0)
    #: the Open311 partner key it was filed with (None: the web form); a key reads back only its own filings
    partner_key_id: Mapped[int | None] = mapped_column(ForeignKey("partner_keys.id"), index=True)

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])
    category: Mapped[ReportCategory] = relationship()
    team: Mapped[Team] = relationship(foreign_keys=[team_id])
    shift: Mapped[Shift | None] = relationship()
    signed_by: Mapped[User | None] = relationship(foreign_keys=[signed_by_id])
    assigned_team: Mapped[Team | None] = relationship(foreign_keys=[assigned_team_id])
    assigned_user: Mapped[User | None] = relationship(foreign_keys=[assigned_user_id])
    duplicate_of: Mapped[Report | None] = relationship(remote_side=[id], foreign_keys=[duplicate_of_id])


class ReportPhoto(CreatedMixin, db.Model):
    """A photo of a report, re-encoded on the server: no EXIF (no GPS), only the pixels. Served by a checked route."""

    __tablename__ = "report_photos"
    __table_args__ = (
        UniqueConstraint("report_id", "kind", "position"),
        CheckConstraint("position >= 0 AND position < 3", name="at_most_three"),
        CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name="jpeg_or_png"),
        CheckConstraint("byte_size > 0 AND width > 0 AND height > 0", name="not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    kind: Mapped[PhotoKind] = mapped_column(enum_column(PhotoKind), default=PhotoKind.REPORT)
    position: Mapped[int] = mapped_column()
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    content_type: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    byte_size: Mapped[int] = mapped_column()
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    #: SHA-256 (hex) of the stored bytes (an ETag; the same upload twice is visible)
    sha256: Mapped[str] = mapped_column(String(64))


class ReportEvent(CreatedMixin, db.Model):
    """One line of a report's timeline, written in the same transaction as the change. Never updated."""

    __tablename__ = "report_events"
    __table_args__ = (Index("ix_report_events_report_id_id", "report_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    #: None: the system (never for a person's action)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[EventAction] = mapped_column(enum_column(EventAction))
    from_state: Mapped[ReportState | None] = mapped_column(enum_column(ReportState, "from_state"))
    to_state: Mapped[ReportState] = mapped_column(enum_column(ReportState, "to_state"))
    note: Mapped[str] = mapped_column(String(500), default="")
    #: the team a dispatch went to
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    #: the handler a dispatch went to
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the other report of a merge
    other_report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    team: Mapped[Team | None] = relationship(foreign_keys=[team_id])
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
