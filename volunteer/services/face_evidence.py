"""Evidence a coordinator can judge: the optional, encrypted face crop of each face check-in and check-out.

Kept only while the volunteer's separate thumbnail consent is on (off unless they agree), shown only to a
coordinator or admin who manages the record's team, deleted after the decision + FACE_THUMBNAIL_DAYS days, at
once when the volunteer switches it off or deletes their face data, and never in exports or logs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, func, select, update

from volunteer import faces
from volunteer.db import utcnow
from volunteer.errors import DomainError, NotFoundError
from volunteer.extensions import db
from volunteer.models import Attendance, AttendanceStatus, FaceConsent, FaceThumbnail, ThumbnailConsent, User
from volunteer.services import audit, teams


class FaceConsentNeededError(DomainError):
    message = _l("Please agree to face check-in first: the photo is taken at a face check-in.")
    status_code = 409


def has_thumbnail_consent(user_id: int) -> bool:
    """Whether the volunteer currently agrees to keep a check-in photo for their coordinator."""
    return db.session.scalar(select(func.count(ThumbnailConsent.id)).where(
        ThumbnailConsent.user_id == user_id, ThumbnailConsent.withdrawn_at.is_(None))) > 0


def thumbnail_consent_since(user_id: int) -> datetime | None:
    """When the current thumbnail consent was given (None when off)."""
    return db.session.scalar(select(func.max(ThumbnailConsent.given_at)).where(
        ThumbnailConsent.user_id == user_id, ThumbnailConsent.withdrawn_at.is_(None)))


def grant(user_id: int) -> None:
    """Switch the thumbnail consent on, with time and policy version (a helper: adds and audits, no commit)."""
    if has_thumbnail_consent(user_id):
        return
    version = current_app.config["FACE_POLICY_VERSION"]
    db.session.add(ThumbnailConsent(user_id=user_id, policy_version=version))
    audit.record(user_id, "face.thumbnail_consent", f"user:{user_id}", policy_version=version)


def withdraw(actor_id: int, user_id: int) -> int:
    """Switch it off and delete the volunteer's thumbnails in one statement (a helper: audits, no commit).
    Returns how many were deleted."""
    closed = db.session.execute(
        update(ThumbnailConsent).where(ThumbnailConsent.user_id == user_id, ThumbnailConsent.withdrawn_at.is_(None))
        .values(withdrawn_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    removed = db.session.execute(delete(FaceThumbnail).where(FaceThumbnail.user_id == user_id)).rowcount
    if closed or removed:
        audit.record(actor_id, "face.thumbnail_withdraw", f"user:{user_id}", thumbnails_removed=removed)
    return removed


def set_thumbnail_consent(user: User, on: bool) -> int:
    """The volunteer switches the check-in photo on or off (no re-enrolment); off deletes every thumbnail at once.
    Returns how many thumbnails were deleted."""
    removed = 0
    if on:
        face_consent = db.session.scalar(select(func.count(FaceConsent.id)).where(
            FaceConsent.user_id == user.id, FaceConsent.withdrawn_at.is_(None),
            FaceConsent.policy_version == current_app.config["FACE_POLICY_VERSION"]))
        if not face_consent:
            raise FaceConsentNeededError()
        grant(user.id)
    else:
        removed = withdraw(user.id, user.id)
    db.session.commit()
    return removed


def keep_thumbnail(user_id: int, attendance_id: int, direction: str, attempt_id: int | None,
                   frame: faces.Frame | None) -> bool:
    """Add the encrypted face crop of an accepted check, if the volunteer agrees at this moment (a helper: no
    commit). Without consent nothing is encrypted or written. A withdrawal committed between this test and the
    check-in's commit would leave one row behind: ``expire_thumbnails`` also deletes those."""
    if frame is None or frame.thumb is None or attempt_id is None or not has_thumbnail_consent(user_id):
        return False
    ciphertext = faces.encrypt_thumbnail(frame, current_app.config["FACE_KEY"])
    db.session.add(FaceThumbnail(user_id=user_id, attendance_id=attendance_id, attempt_id=attempt_id,
                                 direction=direction, ciphertext=ciphertext))
    return True


def thumbnails_for(attendance_ids: list[int]) -> dict[int, list[FaceThumbnail]]:
    """The thumbnails (without their ciphertext loaded) of these records, check-in first; one query."""
    found: dict[int, list[FaceThumbnail]] = {}
    if attendance_ids:
        rows = db.session.execute(
            select(FaceThumbnail.id, FaceThumbnail.attendance_id, FaceThumbnail.direction)
            .where(FaceThumbnail.attendance_id.in_(attendance_ids))
            .order_by(FaceThumbnail.attendance_id, FaceThumbnail.direction)).all()
        for row in rows:
            found.setdefault(row.attendance_id, []).append(row)
    return found


def thumbnail_image(actor: User, thumbnail_id: int) -> bytes:
    """The JPEG of one thumbnail, for a coordinator or admin who manages the record's team (checked here)."""
    thumbnail = db.session.get(FaceThumbnail, thumbnail_id)
    if thumbnail is None:
        raise NotFoundError()
    attendance = db.session.get(Attendance, thumbnail.attendance_id)
    teams.require_manages(actor, attendance.shift.team_id)
    return faces.decrypt_thumbnail(thumbnail.ciphertext, current_app.config["FACE_KEY"])


def expire_thumbnails(now: datetime | None = None) -> int:
    """Scheduled job (``flask expire``): delete the thumbnails of records decided (approved or rejected) at least
    FACE_THUMBNAIL_DAYS days ago, and any of a volunteer whose consent is off; returns how many."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["FACE_THUMBNAIL_DAYS"])
    decided = select(Attendance.id).where(
        Attendance.status.in_([AttendanceStatus.APPROVED, AttendanceStatus.REJECTED]), Attendance.reviewed_at <= cutoff)
    agreed = exists().where(ThumbnailConsent.user_id == FaceThumbnail.user_id, ThumbnailConsent.withdrawn_at.is_(None))
    removed = db.session.execute(delete(FaceThumbnail).where(
        FaceThumbnail.attendance_id.in_(decided) | ~agreed).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return removed
