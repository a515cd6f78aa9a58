"""Face consent, encrypted templates, spent liveness challenges, verification attempts and check-in thumbnails."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, UniqueConstraint
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


class SpentChallenge(CreatedMixin, db.Model):
    """The nonce of a liveness challenge that was used: challenges are signed tokens (nothing is stored when one is
    issued); the UNIQUE nonce makes each usable once. Rows older than the challenge's lifetime can go."""

    __tablename__ = "spent_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


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


class ThumbnailConsent(db.Model):
    """A volunteer's separate, optional consent to keep a small face crop of each check-in for the approving
    coordinator (PIPL art. 29): one row per "on", closed by withdrawn_at when switched off."""

    __tablename__ = "thumbnail_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    policy_version: Mapped[str] = mapped_column(String(20))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column()


class FaceThumbnail(CreatedMixin, db.Model):
    """The aligned face crop (at most 96 px, JPEG) of the matched frame of one face check-in or check-out,
    Fernet-encrypted like the templates; kept only with ThumbnailConsent, deleted after the decision + N days."""

    __tablename__ = "face_thumbnails"
    __table_args__ = (UniqueConstraint("attendance_id", "direction"),
                      CheckConstraint("direction IN ('in', 'out')", name="direction"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    attendance_id: Mapped[int] = mapped_column(ForeignKey("attendances.id", ondelete="CASCADE"))
    #: the accepted face attempt whose frame this is
    attempt_id: Mapped[int] = mapped_column(ForeignKey("face_attempts.id", ondelete="CASCADE"), index=True)
    #: "in" (check-in) or "out" (check-out)
    direction: Mapped[str] = mapped_column(String(3))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
