"""Presentation attacks (ISO/IEC 30107-3 vocabulary) built in code from the test photographs, and the presentations
that run them through the real verification service. Shared by tests/test_face_attacks.py (a few presentations
per species) and bench/presentation_attacks.py (the full table in docs/FACES.md).

An attack *species* is a recipe: from one frontal photograph of the volunteer it makes a frame for each pose the
challenge may ask ("left", "right", "straight"); the attacker answers the random order with those frames. A
*presentation* is one complete challenge answered. APCER is the share of attack presentations accepted as clean
(a record flagged for the coordinator counts as caught), BPCER the share of genuine presentations refused or
flagged (a flagged genuine record counts as an error: the volunteer waits for a person).
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from sqlalchemy import delete

from tests.facekit import PHOTOS, encode, face_print, folded_print, image

Frames = dict[str, bytes]  # pose -> JPEG bytes


@dataclass(frozen=True)
class Person:
    """A volunteer of the test photographs: what they enrol with, the frontal photo an attacker holds, and the
    real photographs of them at other head poses (for genuine presentations)."""

    name: str
    enrolment: tuple[str, ...]
    attack_photo: str
    turned: str = ""  # their most turned real photograph, not an enrolment one ("" if none)
    straights: tuple[str, ...] = ()  # their other photographs, not enrolment ones


def _john(person: str, *indexes: int) -> tuple[str, ...]:
    files = sorted((PHOTOS / "johns" / person).iterdir())
    return tuple(str(files[i].relative_to(PHOTOS)) for i in indexes)


def _john_person(person: str, turned: int) -> Person:
    """One of the johns: enrols with photographs 0–2, the attacker holds 3; the genuine sets use the most turned of
    3–10 (by |yaw|) and each of the others as "straight", whatever its pose (some read up to 0.07)."""
    others = [i for i in range(3, 11) if i != turned]
    return Person(person, _john(person, 0, 1, 2), _john(person, 3)[0], _john(person, turned)[0],
                  _john(person, *others))


PEOPLE = [
    Person("Obama", ("obama.jpg", "obama3.jpg", "32bit.png"), "obama3.jpg", "obama2.jpg", ("obama.jpg",)),
    _john_person("John_Salley", 10),
    _john_person("John_Schneider", 6),
    _john_person("John_Savage", 10),
    _john_person("John_Shimkus", 8),
    _john_person("John_Simm", 6),
]


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    return encode(img, quality=quality)


# --- print renderings -------------------------------------------------------------------------------------------

def bent_print(img: Image.Image, radius: float, turn: float, distance: float = 2.5, centre: float | None = None,
               background: tuple[int, int, int] = (90, 90, 90)) -> Image.Image:
    """A print bent as a cylinder (axis vertical, through ``centre``, ``radius`` print-widths; the sides bend away
    from the camera), turned ``turn`` degrees about the vertical axis, seen in perspective from ``distance``
    print-widths."""
    width, height = img.size
    cx = width / 2 if centre is None else centre
    focal, r, yaw = distance * width, radius * width, math.radians(turn)
    xs = np.arange(width, dtype=float)
    theta = (xs - cx) / r
    px, pz = r * np.sin(theta), r * (1 - np.cos(theta))
    rx, rz = px * math.cos(yaw) + pz * math.sin(yaw), -px * math.sin(yaw) + pz * math.cos(yaw)
    depth = focal + rz
    u = width / 2 + focal * rx / depth
    scale = focal / depth
    order = np.argsort(u)  # a column hidden behind another (past 90°) is not drawn
    out_u = np.arange(width, dtype=float)
    src_x = np.interp(out_u, u[order], xs[order], left=-1, right=-1)
    col_scale = np.interp(out_u, u[order], scale[order])
    out_v = np.arange(height, dtype=float)[:, None]
    src_y = height / 2 + (out_v - height / 2) / col_scale[None, :]
    pixels = np.asarray(img)
    valid = (src_x[None, :] >= 0) & (src_y >= 0) & (src_y <= height - 1)
    xi = np.clip(np.round(src_x).astype(int), 0, width - 1)[None, :].repeat(height, 0)
    yi = np.clip(np.round(src_y).astype(int), 0, height - 1)
    result = np.where(valid[..., None], pixels[yi, xi], np.array(background, dtype=np.uint8))
    return Image.fromarray(result.astype(np.uint8))


# --- attack species ---------------------------------------------------------------------------------------------

def mirror_attack(person: Person) -> Frames:
    """The photo, its mirror, and the photo again (re-encoded): an attacker's first try."""
    img = image(person.attack_photo)
    return {"left": _jpeg(ImageOps.mirror(img)), "right": _jpeg(img), "straight": _jpeg(img, 80)}


def tilted_attack(person: Person, tilt: float, distance: float = 2.5) -> Frames:
    """A flat print turned ``tilt`` degrees one way, then the other, then held straight."""
    img, centre = face_print(person.attack_photo)
    return {"left": _jpeg(folded_print(img, 0, -tilt, distance, centre)),
            "right": _jpeg(folded_print(img, 0, tilt, distance, centre)),
            "straight": _jpeg(folded_print(img, 0, 0, distance, centre))}


def folded_attack(person: Person, fold: float, turn: float, distance: float = 2.5,
                  turn_right: float | None = None, fold_right: float | None = None) -> Frames:
    """The print folded along the face's centre line and turned each way (perspective), then flat and straight."""
    img, centre = face_print(person.attack_photo)
    return {"left": _jpeg(folded_print(img, fold, -turn, distance, centre)),
            "right": _jpeg(folded_print(img, fold if fold_right is None else fold_right,
                                        turn if turn_right is None else turn_right, distance, centre)),
            "straight": _jpeg(folded_print(img, 0, 0, distance, centre))}


def bent_attack(person: Person, radius: float, turn: float, distance: float = 2.5) -> Frames:
    """The print bent as a cylinder about the face's centre line and turned each way, then flat and straight."""
    img, centre = face_print(person.attack_photo)
    return {"left": _jpeg(bent_print(img, radius, -turn, distance, centre)),
            "right": _jpeg(bent_print(img, radius, turn, distance, centre)),
            "straight": _jpeg(folded_print(img, 0, 0, distance, centre))}


def searched_fold_attack(person: Person, tolerance: float = 0.5, knows_flat_test: bool = False) -> Frames | None:
    """The attacker's offline search with the public dlib models: for each side, the fold and turn whose frame
    reads as that turn (faces.MIN_TURN_YAW) with the most margin while still matching the photo; None when nothing
    qualifies.

    ``knows_flat_test``: the attacker has read this code and also keeps only frames whose flat ratio is below the
    coordinator's doubt (faces.FLAT_DOUBT_RATIO), moving the fold line off the face's centre as well."""
    from volunteer import faces

    img, centre = face_print(person.attack_photo)
    reference = faces.analyse(_jpeg(img, 95)).encoding
    best: dict[str, tuple[float, bytes]] = {}
    offsets = (-0.12, -0.06, 0.0, 0.06, 0.12) if knows_flat_test else (0.0,)
    for fold, turn, offset in itertools.product(range(15, 61, 15), range(10, 46, 7), offsets):
        for side, sign in (("left", -1), ("right", 1)):
            data = _jpeg(folded_print(img, fold, sign * turn, 2.5, centre + offset * img.width))
            try:
                frame = faces.analyse(data)
            except faces.FaceImageError:
                continue
            reached = frame.yaw if side == "left" else -frame.yaw  # how far it reads as the asked turn
            if reached < faces.MIN_TURN_YAW or faces.distance(frame.encoding, reference) > tolerance * 0.85:
                continue
            if knows_flat_test and frame.flat_ratio > faces.FLAT_DOUBT_RATIO:
                continue
            margin = reached - faces.MIN_TURN_YAW
            if side not in best or margin > best[side][0]:
                best[side] = (margin, data)
    if len(best) < 2:
        return None
    return {"left": best["left"][1], "right": best["right"][1],
            "straight": _jpeg(folded_print(img, 0, 0, 2.5, centre))}


def _noise(img: Image.Image, sigma: float = 5) -> Image.Image:
    pixels = np.asarray(img, dtype=float) + np.random.default_rng(7).normal(0, sigma, (img.height, img.width, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


#: what a replay does to each frame of a previously accepted set
REPLAY_CHANGES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "re-encoded JPEG q80": lambda img: Image.open(io.BytesIO(encode(img, quality=80))),
    "re-encoded JPEG q50": lambda img: Image.open(io.BytesIO(encode(img, quality=50))),
    "pixel noise σ 5": _noise,
    "cropped 1 px": lambda img: img.crop((1, 1, img.width - 1, img.height - 1)),
    "cropped 3 px": lambda img: img.crop((3, 0, img.width, img.height - 3)),
    "rescaled ×0.6": lambda img: img.resize((round(img.width * 0.6), round(img.height * 0.6)), Image.BICUBIC),
    "brightness ×1.3": lambda img: ImageEnhance.Brightness(img).enhance(1.3),
    "contrast ×0.7": lambda img: ImageEnhance.Contrast(img).enhance(0.7),
}


def replayed(frames: Frames, change: Callable[[Image.Image], Image.Image]) -> Frames:
    """Every frame of a set changed as a replaying attacker would."""
    return {pose: _jpeg(change(Image.open(io.BytesIO(data)).convert("RGB"))) for pose, data in frames.items()}


# --- genuine presentations --------------------------------------------------------------------------------------

def genuine_sets(person: Person) -> list[Frames]:
    """Real photographs of the person at different head poses: the turned photo for its side, its mirror for the
    other (the sets hold one turned photograph per person), and each other photo as "straight"."""
    from volunteer import faces

    if not person.turned:
        return []
    turned = image(person.turned)
    one, other = _jpeg(turned), _jpeg(ImageOps.mirror(turned))
    left, right = (one, other) if faces.analyse(one).yaw > 0 else (other, one)
    return [{"left": left, "right": right, "straight": _jpeg(image(name))} for name in person.straights]


# --- presenting -------------------------------------------------------------------------------------------------

def enrol(person: Person) -> int:
    """A new consenting volunteer enrolled with the person's enrolment photographs; returns the user id."""
    from volunteer.extensions import db
    from volunteer.models import Role, User
    from volunteer.services import face_id

    user = User(name=person.name[:20], mobile=f"139{abs(hash(person.name)) % 10**8:08d}", password_hash="x",
                role=Role.VOLUNTEER)
    db.session.add(user)
    db.session.commit()
    face_id.give_consent(user.id)
    face_id.enrol(user.id, [(PHOTOS / name).read_bytes() if name.endswith(".png") else _jpeg(image(name))
                            for name in person.enrolment])
    return user.id


def present(user_id: int, frames: Frames, forget: bool = True):
    """Answer a fresh challenge (in its own order) with the frames. The user's refused attempts are cleared first
    (presentations are not limited by the failure budget); ``forget`` also clears the prints of accepted ones, so
    that presentations stay independent (no replay between them)."""
    from volunteer.extensions import db
    from volunteer.models import FaceAttempt, FaceFramePrint
    from volunteer.services import face_id

    if forget:
        db.session.execute(delete(FaceFramePrint).where(FaceFramePrint.user_id == user_id))
    db.session.execute(delete(FaceAttempt).where(FaceAttempt.user_id == user_id, FaceAttempt.accepted.is_(False)))
    db.session.commit()
    challenge = face_id.issue_challenge(user_id)
    return face_id.verify(user_id, [frames[step] for step in challenge.steps.split(",")], challenge.token)
