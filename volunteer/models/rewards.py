"""The rewards catalog and the vouchers it issues."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from volunteer.extensions import db
from volunteer.db import CreatedMixin
from volunteer.models.people import Merchant, User, enum_column


class Category(StrEnum):
    """The six kinds of benefit."""

    PARKING = "parking"
    SCENIC = "scenic"
    HEALTH = "health"
    SHOPPING = "shopping"
    LOAN = "loan"
    GOODS = "goods"


class RewardStatus(StrEnum):
    """Whether volunteers can see a reward."""

    PROPOSED = "proposed"  # by a merchant, awaiting an admin
    ACTIVE = "active"
    RETIRED = "retired"


class VoucherStatus(StrEnum):
    """The life of a voucher."""

    ISSUED = "issued"
    REDEEMED = "redeemed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Reward(CreatedMixin, db.Model):
    """Something points can buy."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("points_cost > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("validity_days >= 1", name="validity_positive"),
        CheckConstraint("min_star BETWEEN 0 AND 5", name="star_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    category: Mapped[Category] = mapped_column(enum_column(Category))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    #: a file name under static/img/rewards/
    picture: Mapped[str] = mapped_column(String(100), default="")
    points_cost: Mapped[int] = mapped_column()
    #: items left; NULL means unlimited
    stock: Mapped[int | None] = mapped_column()
    #: vouchers one volunteer may hold per period (NULL: no limit)
    per_volunteer_limit: Mapped[int | None] = mapped_column()
    limit_period_days: Mapped[int] = mapped_column(default=30)
    min_star: Mapped[int] = mapped_column(default=0)
    on_sale_from: Mapped[datetime | None] = mapped_column()
    on_sale_until: Mapped[datetime | None] = mapped_column()
    validity_days: Mapped[int] = mapped_column(default=30)
    refund_on_expiry: Mapped[bool] = mapped_column(default=True)
    status: Mapped[RewardStatus] = mapped_column(enum_column(RewardStatus), default=RewardStatus.ACTIVE)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    merchant: Mapped[Merchant] = relationship()


class Voucher(CreatedMixin, db.Model):
    """Proof of a redemption, honoured once by the reward's merchant."""

    __tablename__ = "vouchers"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_vouchers_reward_status", "reward_id", "status"),
        #: a redemption's per-volunteer limit and repeat question (``services.redemption``)
        Index("ix_vouchers_user_reward_id", "user_id", "reward_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 20 base-32 characters (100 bits), shown in groups of four
    code: Mapped[str] = mapped_column(String(20), unique=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    points_cost: Mapped[int] = mapped_column()
    status: Mapped[VoucherStatus] = mapped_column(enum_column(VoucherStatus), default=VoucherStatus.ISSUED)
    expires_at: Mapped[datetime] = mapped_column()
    redeemed_at: Mapped[datetime | None] = mapped_column()
    redeemed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column()
    #: from the redemption form, so a double click or a retry issues one voucher
    idempotency_key: Mapped[str] = mapped_column(String(64))

    reward: Mapped[Reward] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    redeemed_by: Mapped[User | None] = relationship(foreign_keys=[redeemed_by_id])


class RestockRequest(CreatedMixin, db.Model):
    """Merchant staff ask for more stock of one of their rewards; an admin decides."""

    __tablename__ = "restock_requests"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    amount: Mapped[int] = mapped_column()
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: "pending", "approved" or "declined"
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    reward: Mapped[Reward] = relationship()
