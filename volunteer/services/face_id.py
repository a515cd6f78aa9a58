"""Face identity use cases: consent, enrolment, liveness challenges, verification, deletion."""

from __future__ import annotations

import itertools
import math
import random
import secrets
from dataclasses import dataclass, field, replace
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import delete, func, select, update

from volunteer import faces
from volunteer.db import utcnow
from volunteer.errors import DomainError, PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import (
    FaceAttempt,
    FaceConsent,
    FaceFramePrint,
    FaceTemplate,
    Role,
    SpentChallenge,
    User,
)
from volunteer.services import audit, face_evidence

POSES = ("left", "right", "straight")
ENROL_PHOTOS = 3
#: how long the replay check keeps what it needs of accepted frames
PRINT_DAYS = 30
#: what the liveness challenge tokens are signed for (with SECRET_KEY)
CHALLENGE_SALT = "face-liveness-challenge"


class ConsentRequiredError(DomainError):
    message = _l("Please read and accept the face data notice first.")
    status_code = 403


class NotEnrolledError(DomainError):
    message = _l("You have not enrolled your face yet.")
    status_code = 409


class EnrolmentError(DomainError):
    message = _l("Enrolment failed.")


class TooManyFailuresError(DomainError):
    message = _l("Too many failed face checks. Please try again in %(minutes)d minutes, or ask your coordinator "
                 "to record your attendance.")
    status_code = 429


REASONS = {
    "match": _l("Verified: it is you."),
    "mismatch": _l("This does not look like the enrolled person."),
    "liveness_pose": _l("The head movements did not follow the instructions. Please try again."),
    "liveness_still": _l("The pictures are identical: a live face is needed, not a photo."),
    "liveness_people": _l("The pictures show different people."),
    "liveness_replay": _l("These pictures were already used. Please take new ones."),
    "liveness_flat": _l("The turns look like a photo being tilted, not a head turning. Please turn your head."),
    "challenge_invalid": _l("The instructions have expired or were already used. Please start again."),
    "frame_count": _l("Please send one picture for each instruction."),
}


#: what cannot be decided automatically: the attempt is accepted, but its record goes to the coordinator flagged
#: with the reason (attendance.FLAG_LABELS), never approved as clean
FLAG_REASONS = {
    "face_pose": _l("face check: head turns unclear"),
    "face_flat": _l("face check: turns close to a tilted photo"),
    "face_same": _l("face check: same pictures as an earlier check"),
}


@dataclass(frozen=True)
class Verification:
    """The outcome of one verification attempt (also kept as evidence)."""

    accepted: bool
    reason: str
    distance: float | None = None
    liveness: str = ""
    message_override: str | None = None
    #: accepted, but not clear-cut: a FLAG_REASONS key (the coordinator decides)
    flag: str = ""
    #: an accepted check's frame best for a person to look at (the straight one), for the optional thumbnail
    evidence: faces.Frame | None = field(default=None, repr=False, compare=False)
    #: the FaceAttempt row recorded for this check
    attempt_id: int | None = None

    @property
    def message(self) -> str:
        """What to tell the volunteer."""
        if self.accepted and self.flag:
            return str(_l("It is you, but the check was not clear-cut (%(reason)s): your coordinator will look at "
                          "it.", reason=FLAG_REASONS[self.flag]))
        return self.message_override or str(REASONS.get(self.reason, REASONS["mismatch"]))


def _settings() -> dict:
    cfg = current_app.config
    return {"max_bytes": cfg["FACE_MAX_BYTES"], "max_pixels": cfg["FACE_MAX_PIXELS"]}


def has_consent(user_id: int) -> bool:
    """Whether the volunteer's current consent covers the current policy."""
    return db.session.scalar(
        select(func.count(FaceConsent.id)).where(
            FaceConsent.user_id == user_id, FaceConsent.withdrawn_at.is_(None),
            FaceConsent.policy_version == current_app.config["FACE_POLICY_VERSION"])
    ) > 0


def is_enrolled(user_id: int) -> bool:
    """Whether templates exist."""
    return db.session.scalar(select(func.count(FaceTemplate.id)).where(FaceTemplate.user_id == user_id)) > 0


def give_consent(user_id: int, thumbnails: bool | None = None) -> None:
    """Record the separate consent to face processing, with time and policy version; ``thumbnails`` is the
    answer to the consent screen's own line about the check-in photo (None: leave it as it is)."""
    if not has_consent(user_id):
        version = current_app.config["FACE_POLICY_VERSION"]
        db.session.add(FaceConsent(user_id=user_id, policy_version=version))
        audit.record(user_id, "face.consent", f"user:{user_id}", policy_version=version)
    if thumbnails:
        face_evidence.grant(user_id)
    elif thumbnails is not None:
        face_evidence.withdraw(user_id, user_id)
    db.session.commit()


def delete_face_data(actor: User, user_id: int) -> int:
    """The volunteer (or an admin, on their request) removes every template and check-in thumbnail at once and
    withdraws both consents; audited. Returns how many templates were removed."""
    if actor.id != user_id and actor.role != Role.ADMIN:
        raise PermissionDeniedError()
    removed = db.session.execute(delete(FaceTemplate).where(FaceTemplate.user_id == user_id)).rowcount
    db.session.execute(update(FaceConsent).where(FaceConsent.user_id == user_id,
                                                 FaceConsent.withdrawn_at.is_(None)).values(withdrawn_at=utcnow()))
    db.session.execute(delete(SpentChallenge).where(SpentChallenge.user_id == user_id))
    db.session.execute(delete(FaceFramePrint).where(FaceFramePrint.user_id == user_id))
    thumbnails = face_evidence.withdraw(actor.id, user_id)
    audit.record(actor.id, "face.delete", f"user:{user_id}", templates_removed=removed, thumbnails_removed=thumbnails)
    db.session.commit()
    return removed


def enrol(user_id: int, photos: list[bytes]) -> int:
    """Check three captures, require they show one person, and store encrypted templates (replacing old ones)."""
    if not has_consent(user_id):
        raise ConsentRequiredError()
    if len(photos) != ENROL_PHOTOS:
        raise EnrolmentError(_l("Please take three pictures."))
    frames = []
    for number, data in enumerate(photos, start=1):
        try:
            frames.append(faces.analyse(data, **_settings()))
        except faces.FaceImageError as exc:
            _record_attempt(user_id, "enrol", False, reason=exc.code)
            db.session.commit()
            error = EnrolmentError(_l("Picture %(number)d: %(problem)s"), number=number, problem=exc.text)
            error.status_code = exc.status_code
            raise error from exc
    tolerance = current_app.config["FACE_TOLERANCE"]
    worst = max(faces.distance(a.encoding, b.encoding) for a, b in itertools.combinations(frames, 2))
    if worst > tolerance:
        _record_attempt(user_id, "enrol", False, distance=worst, reason="mismatch")
        db.session.commit()
        raise EnrolmentError(_l("The three pictures do not look like the same person. Please take them again."))
    key = current_app.config["FACE_KEY"]
    db.session.execute(delete(FaceTemplate).where(FaceTemplate.user_id == user_id))
    for frame in frames:
        db.session.add(FaceTemplate(user_id=user_id, model_name=faces.MODEL_NAME, model_version=faces.MODEL_VERSION,
                                    ciphertext=faces.encrypt(frame.encoding, key)))
    _record_attempt(user_id, "enrol", True, distance=worst, reason="match")
    audit.record(user_id, "face.enrol", f"user:{user_id}", templates=len(frames), model=faces.MODEL_NAME)
    db.session.commit()
    return len(frames)


@dataclass(frozen=True)
class Challenge:
    """A liveness challenge: the signed token the page sends back, and its poses in order ("left,straight,right")."""

    token: str
    steps: str


def _challenge_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=CHALLENGE_SALT)


def issue_challenge(user_id: int) -> Challenge:
    """A random order of head poses for this volunteer, valid FACE_CHALLENGE_SECONDS: a signed, stateless token
    (user, poses, a random nonce, the time), so a page can issue one on GET without writing anything. It becomes
    single-use when spent (``_use_challenge``)."""
    fixed = current_app.config.get("FACE_TEST_CHALLENGE")
    steps = ",".join(fixed.split(",") if fixed else random.SystemRandom().sample(POSES, len(POSES)))
    token = _challenge_signer().dumps({"u": user_id, "s": steps, "n": secrets.token_urlsafe(16)})
    return Challenge(token=token, steps=steps)


def check_failure_budget(user_id: int) -> None:
    """Failed verifications are limited per volunteer (shared by every worker through the database)."""
    window = timedelta(minutes=10)
    since = utcnow() - window
    failures = db.session.execute(
        select(func.count(FaceAttempt.id), func.min(FaceAttempt.created_at)).where(
            FaceAttempt.user_id == user_id, FaceAttempt.purpose != "enrol",
            FaceAttempt.accepted.is_(False), FaceAttempt.created_at > since)
    ).one()
    if failures[0] >= current_app.config["CHECKIN_ATTEMPTS"]:
        wait = failures[1] + window - utcnow()
        raise TooManyFailuresError(minutes=max(1, math.ceil(wait.total_seconds() / 60)))


def verify(user_id: int, frames: list[bytes], token: str | None) -> Verification:
    """Practise verification (the same check as at check-in): one transaction that spends the challenge and keeps
    the attempt as evidence, accepted or not."""
    result = check_face(user_id, frames, token, purpose="verify")
    db.session.commit()
    return result


def check_face(user_id: int, frames: list[bytes], token: str | None, purpose: str) -> Verification:
    """Compare fresh frames with the volunteer's templates, with the liveness challenge (a helper: spends the
    challenge and adds the attempt, does not commit; the calling use case decides what is kept)."""
    if not is_enrolled(user_id):
        raise NotEnrolledError()
    check_failure_budget(user_id)
    result, analysed = _evaluate(user_id, frames, token)
    attempt = _record_attempt(user_id, purpose, result.accepted, distance=result.distance,
                              liveness=result.liveness, reason=result.flag or result.reason,
                              frames=analysed if result.accepted else [])
    db.session.flush()
    if result.accepted:
        straight = [f for f in analysed if f.pose == "straight"] or analysed
        return replace(result, evidence=straight[0], attempt_id=attempt.id)
    return replace(result, attempt_id=attempt.id)


def _evaluate(user_id: int, frames: list[bytes], token: str | None) -> tuple[Verification, list[faces.Frame]]:
    liveness_on = current_app.config["FACE_LIVENESS"]
    steps: list[str] = []
    if liveness_on:
        steps = _use_challenge(user_id, token)
        if steps is None:
            return Verification(False, "challenge_invalid", liveness="failed"), []
        if len(frames) != len(steps):
            return Verification(False, "frame_count", liveness="failed"), []
    elif not frames:
        return Verification(False, "frame_count"), []
    try:
        analysed = [faces.analyse(data, **_settings()) for data in frames]
    except faces.FaceImageError as exc:
        return Verification(False, exc.code, message_override=exc.text, liveness="failed" if liveness_on else ""), []
    tolerance = current_app.config["FACE_TOLERANCE"]
    key = current_app.config["FACE_KEY"]
    templates = [faces.decrypt(t, key) for t in db.session.scalars(
        select(FaceTemplate.ciphertext).where(FaceTemplate.user_id == user_id))]
    best = min(faces.nearest(f.encoding, templates) for f in analysed)
    liveness, flag = "off", ""
    if liveness_on:
        failure, flag = _liveness(user_id, analysed, steps, tolerance)
        if failure:
            return Verification(False, failure, distance=best, liveness="failed"), analysed
        liveness = "flagged" if flag else "passed"
    if best > tolerance:
        return Verification(False, "mismatch", distance=best, liveness=liveness), analysed
    return Verification(True, "match", distance=best, liveness=liveness, flag=flag), analysed


def _use_challenge(user_id: int, token: str | None) -> list[str] | None:
    """Check the token's signature, age and owner, then spend it by inserting its nonce under the UNIQUE
    constraint in the caller's transaction: a replay (even a concurrent one) inserts nothing and is refused. A
    refused check-in commits the spent nonce with its evidence; a rolled-back one leaves the token unspent."""
    if not token:
        return None
    try:
        data = _challenge_signer().loads(token, max_age=current_app.config["FACE_CHALLENGE_SECONDS"])
    except BadData:
        return None
    if not isinstance(data, dict) or data.get("u") != user_id:
        return None
    nonce, steps = data.get("n"), data.get("s")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= 32 or not isinstance(steps, str):
        return None
    spent = db.session.scalar(_insert_ignoring_duplicates(
        SpentChallenge, nonce=nonce, user_id=user_id, created_at=utcnow()).returning(SpentChallenge.id))
    return steps.split(",") if spent is not None else None


def _insert_ignoring_duplicates(model, **values):
    """INSERT … ON CONFLICT DO NOTHING for this database (both PostgreSQL and SQLite have it); with RETURNING,
    the row comes back only when it was inserted."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model).values(**values).on_conflict_do_nothing()


def expire_spent_challenges() -> int:
    """Scheduled job: forget spent nonces older than a challenge's lifetime (their tokens have expired anyway)."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["FACE_CHALLENGE_SECONDS"] + 60)
    removed = db.session.execute(delete(SpentChallenge).where(SpentChallenge.created_at <= cutoff)).rowcount
    db.session.commit()
    return removed


def _liveness(user_id: int, analysed: list[faces.Frame], steps: list[str],
              tolerance: float) -> tuple[str | None, str]:
    """A refusal reason, or None and a FLAG_REASONS key ("" when clear-cut) for the coordinator to decide."""
    if any(faces.near_duplicate(a, b.encoding, b.phash) for a, b in itertools.combinations(analysed, 2)):
        return "liveness_still", ""
    by_step = dict(zip(steps, analysed, strict=True))
    if len(by_step) == 3:
        poses = faces.judge_poses({step: frame.yaw for step, frame in by_step.items()})
    else:  # a challenge pinned by configuration to fewer steps (FACE_TEST_CHALLENGE): each frame on its own
        poses = "clear" if all(frame.pose == step for step, frame in by_step.items()) else "wrong"
    if poses == "wrong":
        return "liveness_pose", ""
    turned = [by_step[step] for step in ("left", "right") if step in by_step]
    if any(f.flat_turn for f in turned):
        return "liveness_flat", ""
    if any(faces.distance(a.encoding, b.encoding) > tolerance for a, b in itertools.combinations(analysed, 2)):
        return "liveness_people", ""
    kept = _kept_prints(user_id)
    if any(faces.near_duplicate(frame, encoding, phash) for encoding, phash, _ in kept for frame in analysed):
        return "liveness_replay", ""
    if poses == "unclear":
        return None, "face_pose"
    if any(f.flat_ratio > faces.FLAT_DOUBT_RATIO for f in turned):
        return None, "face_flat"
    if _same_as_earlier(analysed, kept):
        return None, "face_same"
    return None, ""


def _kept_prints(user_id: int) -> list[tuple[object, int, int]]:
    """(encoding, perceptual hash, attempt id) of the frames of this volunteer's accepted verifications in the last
    PRINT_DAYS days (enrolment captures are not kept: the templates serve identity)."""
    key = current_app.config["FACE_KEY"]
    since = utcnow() - timedelta(days=PRINT_DAYS)
    rows = db.session.execute(
        select(FaceFramePrint.ciphertext, FaceFramePrint.attempt_id)
        .where(FaceFramePrint.user_id == user_id, FaceFramePrint.created_at > since)
        .order_by(FaceFramePrint.id.desc()).limit(600))
    return [(*faces.decrypt_print(ciphertext, key), attempt_id) for ciphertext, attempt_id in rows]


def _same_as_earlier(analysed: list[faces.Frame], kept: list[tuple[object, int, int]]) -> bool:
    """Whether every frame is nearly the face of a frame of one earlier accepted set: a picture reused across
    sessions gives nearly the same encodings every day, a live face in new light and pose does not."""
    by_attempt: dict[int, list] = {}
    for encoding, _, attempt_id in kept:
        by_attempt.setdefault(attempt_id, []).append(encoding)
    return any(all(faces.nearest(frame.encoding, encodings) <= faces.SAME_FACE_DISTANCE for frame in analysed)
               for encodings in by_attempt.values())


def expire_frame_prints() -> int:
    """Scheduled job: delete what the replay check kept of frames older than PRINT_DAYS days; returns how many."""
    removed = db.session.execute(
        delete(FaceFramePrint).where(FaceFramePrint.created_at <= utcnow() - timedelta(days=PRINT_DAYS))).rowcount
    db.session.commit()
    return removed


def _record_attempt(user_id: int, purpose: str, accepted: bool, distance: float | None = None,
                    liveness: str = "", reason: str = "", frames: list[faces.Frame] | None = None) -> FaceAttempt:
    """Add the attempt; for an accepted one, also the encrypted prints the replay check compares with later."""
    attempt = FaceAttempt(user_id=user_id, purpose=purpose, accepted=accepted, distance=distance,
                          liveness=liveness, reason=reason[:60])
    db.session.add(attempt)
    if frames:
        db.session.flush()
        key = current_app.config["FACE_KEY"]
        db.session.add_all(FaceFramePrint(user_id=user_id, attempt_id=attempt.id,
                                          ciphertext=faces.encrypt_print(frame, key)) for frame in frames)
    return attempt
