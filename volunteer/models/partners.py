"""Partner systems (a city platform) that file reports through Open311 with an API key, and the indexes the
report figures, the Open311 list and the map need beside the core's own (declared here, on the reports table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from volunteer.db import CreatedMixin
from volunteer.extensions import db
from volunteer.models.people import User
from volunteer.models.reports import Report


class PartnerKey(CreatedMixin, db.Model):
    """An Open311 API key issued by an admin to a partner system. Only its SHA-256 is kept: shown once."""

    __tablename__ = "partner_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the partner, e.g. "西湖区城市大脑"
    name: Mapped[str] = mapped_column(String(60))
    #: the key's first characters, to tell keys apart in the admin list and in the rate limiter (not secret)
    prefix: Mapped[str] = mapped_column(String(12))
    #: SHA-256 (hex) of the whole key; the key is 32 random bytes, so a plain hash cannot be guessed back
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the account reports from this partner are filed as (routing falls back to its team; points go to it)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(foreign_keys=[user_id])


#: the public Open311 list, newest first, and the CSV export by date
Index("ix_reports_created_at_id", Report.created_at, Report.id)
#: the monthly SLA table per team and the export by team and date
Index("ix_reports_team_created", Report.team_id, Report.created_at)
#: the handler queue's "dispatched to my team / to me" branches, by state: without the state they read every
#: report ever dispatched there (history grows for years; the open ones stay few)
Index("ix_reports_assigned_team_state", Report.assigned_team_id, Report.state)
Index("ix_reports_assigned_user_state", Report.assigned_user_id, Report.state)
