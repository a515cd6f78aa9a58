"""Face consent, encrypted templates, liveness challenges and verification attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from volunteer.extensions import db
from volunteer.db import CreatedMixin, utcnow


class FaceConsent(db.Model):
    """A volunteer's separate consent to face processing (PIPL art. 29)."""

    __tablename__ = "face_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    policy_version: Mapped[str] = mapped_column(String(20))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column()


class FaceTemplate(CreatedMixin, db.Model):
    """One 128-d face encoding, Fernet-encrypted; never a photo."""

    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(60))
    model_version: Mapped[str] = mapped_column(String(60))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class LivenessChallenge(CreatedMixin, db.Model):
    """A one-time head-turn challenge issued by the server."""

    __tablename__ = "liveness_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: comma-separated poses, e.g. "left,straight,right"
    steps: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class FaceAttempt(CreatedMixin, db.Model):
    """Every enrolment or verification attempt: the evidence, without the image."""

    __tablename__ = "face_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    distance: Mapped[float | None] = mapped_column()
    accepted: Mapped[bool] = mapped_column()
    liveness: Mapped[str] = mapped_column(String(20), default="")
    reason: Mapped[str] = mapped_column(String(60), default="")


class FaceFramePrint(CreatedMixin, db.Model):
    """What the replay check keeps of one frame of an accepted attempt: its encoding and the perceptual hash of the
    aligned face, Fernet-encrypted like the templates (biometric data; kept 30 days, deleted with the face data)."""

    __tablename__ = "face_frame_prints"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("face_attempts.id", ondelete="CASCADE"), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
