"""People, their roles, teams and merchants."""

from __future__ import annotations

import secrets
from enum import StrEnum

from flask_login import UserMixin
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Enum, ForeignKey, String, Table, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from volunteer.extensions import db
from volunteer.db import CreatedMixin


class Role(StrEnum):
    """What a person does on the platform."""

    VOLUNTEER = "volunteer"
    COORDINATOR = "coordinator"
    MERCHANT = "merchant"
    ADMIN = "admin"


class TeamKind(StrEnum):
    """Levels of the team tree."""

    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


def enum_column(enum: type[StrEnum], name: str | None = None) -> Enum:
    """A portable enum column stored as its value (a VARCHAR with a CHECK).

    ``name`` names the CHECK when one table has two columns of the same enum (constraint names are per table).
    """
    return Enum(enum, native_enum=False, create_constraint=True, length=20, name=name,
                values_callable=lambda e: [m.value for m in e])


team_members = Table(
    "team_members",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True),
)

team_coordinators = Table(
    "team_coordinators",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
)


class Merchant(CreatedMixin, db.Model):
    """A sponsor that honours vouchers."""

    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(default=True)


class Team(CreatedMixin, db.Model):
    """A node of the district → street → community (→ grid) tree."""

    __tablename__ = "teams"
    __table_args__ = (
        CheckConstraint("(area_latitude IS NULL) = (area_longitude IS NULL)"
                        " AND (area_latitude IS NULL) = (area_radius_m IS NULL)", name="area_circle_whole"),
        CheckConstraint("area_latitude IS NULL OR (area_latitude BETWEEN -90 AND 90"
                        " AND area_longitude BETWEEN -180 AND 180 AND area_radius_m > 0)", name="area_circle_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[TeamKind] = mapped_column(enum_column(TeamKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    #: materialised path such as "/1/4/9/": a subtree is every team whose path starts with its root's
    path: Mapped[str] = mapped_column(String(200), default="", index=True)
    #: the area the team answers for (patrol reports are routed by it): a circle (WGS-84 centre, metres) ...
    area_latitude: Mapped[float | None] = mapped_column()
    area_longitude: Mapped[float | None] = mapped_column()
    area_radius_m: Mapped[int | None] = mapped_column()
    #: ... and/or a polygon, a list of [latitude, longitude] WGS-84 corners
    area_polygon: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))

    parent: Mapped[Team | None] = relationship(remote_side=[id])


class User(UserMixin, CreatedMixin, db.Model):
    """Anyone who signs in: volunteer, coordinator, merchant staff or admin."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("points_balance >= 0", name="points_not_negative"),
        CheckConstraint("service_minutes >= 0", name="minutes_not_negative"),
        CheckConstraint("role <> 'merchant' OR merchant_id IS NOT NULL", name="merchant_staff_has_merchant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the login: an 11-digit mainland mobile number
    mobile: Mapped[str] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.VOLUNTEER)
    locale: Mapped[str] = mapped_column(String(8), default="zh_CN")
    #: the "larger text" setting (适老化): every page in bigger type, on every device the person signs in on
    large_text: Mapped[bool] = mapped_column(default=False, server_default=false())
    is_enabled: Mapped[bool] = mapped_column(default=True)
    #: part of the login cookie; replaced at logout so a copied cookie stops working
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    #: cached sum of point_entries.amount, kept in the same transaction as each entry
    points_balance: Mapped[int] = mapped_column(default=0)
    #: cached sum of hour_entries.minutes
    service_minutes: Mapped[int] = mapped_column(default=0)
    #: last 4 characters of the ID card, for certificates (never the whole number)
    id_card_tail: Mapped[str | None] = mapped_column(String(4))

    merchant: Mapped[Merchant | None] = relationship()
    teams: Mapped[list[Team]] = relationship(secondary=team_members, order_by=Team.id)
    managed_teams: Mapped[list[Team]] = relationship(secondary=team_coordinators, order_by=Team.id)

    def get_id(self) -> str:
        """Flask-Login identity: id plus the current session token."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Disabled accounts cannot sign in and lose their sessions."""
        return self.is_enabled
