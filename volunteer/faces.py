"""The face adapter: image checks, detection, 128-d encodings, head pose, template encryption.

Plain functions over bytes and numbers; it knows nothing of Flask, the database or users. Models are loaded
lazily, once per process, under a lock (never at import time). dlib's detector, shape predictor and encoder are
used directly (the same models face_recognition wraps) so each frame is decoded once, detected once on a copy
at most 640 px on its longest side, and encoded once.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.fernet import Fernet, InvalidToken
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from volunteer.errors import DomainError

MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
MODEL_VERSION = "face_recognition_models-0.3.0"
DETECT_SIDE = 640
#: a phone selfie's face is large: look on a quarter-size copy first (7 ms instead of 27 ms), then on 640 px
QUICK_SIDE = 320
#: a face narrower than this share of the shorter image side is too far away
MIN_FACE_SHARE = 0.12
#: a face narrower than this is landmarked again on an enlarged copy for yaw and eye widths (_fine_points)
FINE_SIDE = 240
#: side of the aligned face crop (dlib's face chip) that the perceptual hash is taken from
CHIP_SIDE = 64
#: side of the aligned face crop kept, with the volunteer's consent, as the coordinator's check-in thumbnail
THUMB_SIDE, THUMB_QUALITY = 96, 80
#: a frame this close to a kept one (encoding distance and hash bits) is a copy of it (bench/presentation_attacks.py)
REPLAY_DISTANCE, REPLAY_BITS = 0.18, 20
#: a turned frame whose eye-width asymmetry exceeds this many times its yaw is a flat picture turned (Frame.flat_turn)
FLAT_TURN_RATIO = 1.15
#: a picture that can hold a face: at least this many pixels on its short side, at most this long for its width
MIN_SIDE, MAX_ASPECT = 64, 4
#: |yaw| at least this is a turned head; at most STRAIGHT_YAW is looking straight (see docs/FACES.md)
TURN_YAW = 0.12
STRAIGHT_YAW = 0.08
#: a set of frames whose turns are this clear is decided on them (judge_poses); less clear goes to the coordinator
MIN_TURN_YAW, MIN_SPAN = 0.075, 0.17
#: a turn no larger than this is no turn at all (a flat print tilted reads at most 0.055)
DOUBT_YAW = 0.06
#: a turned frame between this ratio and FLAT_TURN_RATIO is too close to the flat-picture limit to decide alone
FLAT_DOUBT_RATIO = 1.0
#: every frame of a new set this close to a frame of one earlier accepted set: a reused picture? (coordinator)
SAME_FACE_DISTANCE = 0.21


class FaceImageError(DomainError):
    """Something about one photo prevents using it."""

    message = _l("This photo cannot be used.")
    code = "bad_image"


class NotAnImageError(FaceImageError):
    message = _l("Please send a JPEG or PNG photo.")
    code = "not_image"
    status_code = 415


class ImageTooLargeError(FaceImageError):
    message = _l("The photo is too large (at most 5 MB).")
    code = "too_large"
    status_code = 413


class TooManyPixelsError(FaceImageError):
    message = _l("The photo has too many pixels (at most 12 megapixels).")
    code = "too_many_pixels"
    status_code = 413


class CorruptImageError(FaceImageError):
    message = _l("The photo is damaged and cannot be read. Please take it again.")
    code = "corrupt"


class NoFaceError(FaceImageError):
    message = _l("No face was found. Look at the camera in good light.")
    code = "no_face"


class SeveralFacesError(FaceImageError):
    message = _l("More than one face was found (%(count)d). Only you should be in the picture.")
    code = "several_faces"


class PictureShapeError(FaceImageError):
    message = _l("This picture is too small or too narrow to show a face. Please take a normal photo.")
    code = "bad_shape"


class FaceTooSmallError(FaceImageError):
    message = _l("Your face is too small in the picture. Please come closer.")
    code = "too_small"


class FaceOffCentreError(FaceImageError):
    message = _l("Your face is partly outside the picture. Please centre your face in the oval.")
    code = "off_centre"


@dataclass(frozen=True)
class Frame:
    """What one photo tells: its encoding, head pose, a digest of its pixels and a perceptual hash of the face."""

    encoding: np.ndarray
    yaw: float
    digest: str
    box: tuple[int, int, int, int]
    #: 64-bit DCT hash of the aligned face crop: near-equal for a re-encoded, noised, cropped or rescaled copy
    phash: int = 0
    #: the wider eye's width over the narrower one's (corner to corner): see flat_turn
    eye_ratio: float = 1.0
    #: the aligned face crop (THUMB_SIDE px, RGB): only the face, never the frame; see encrypt_thumbnail
    thumb: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def flat_turn(self) -> bool:
        """A turn made by foreshortening a flat picture rather than by a head.

        A head's nose stands out of the face, so a turn moves it sideways long before the far eye looks much
        narrower; a print folded, bent or tilted gets its "yaw" only from one half of the face shrinking, so for
        the same yaw the far eye is much narrower. Measured (docs/FACES.md, fine landmarks): the genuine sets'
        turned frames have (eye_ratio − 1) / |yaw| at most 0.78, every folded or bent print set that answered the
        poses a turned frame at 1.63 or more. Between FLAT_DOUBT_RATIO and FLAT_TURN_RATIO the coordinator decides.
        """
        return abs(self.yaw) > DOUBT_YAW and self.flat_ratio > FLAT_TURN_RATIO

    @property
    def flat_ratio(self) -> float:
        """(eye_ratio − 1) / |yaw|: small for a head turning, large for a flat picture turned (see flat_turn)."""
        return (self.eye_ratio - 1) / max(abs(self.yaw), 1e-6)

    @property
    def pose(self) -> str:
        """'left', 'right', 'straight', or '' when between (the subject's own left and right)."""
        if self.yaw >= TURN_YAW:
            return "left"
        if self.yaw <= -TURN_YAW:
            return "right"
        if abs(self.yaw) <= STRAIGHT_YAW:
            return "straight"
        return ""


def judge_poses(yaws: dict[str, float]) -> str:
    """Whether frames answer "left", "right" and "straight" (their yaws by step): "clear", "wrong", or "unclear"
    (the coordinator decides).

    Clear: each turn at least MIN_TURN_YAW its own way, the two turns MIN_SPAN apart, the straight frame within
    STRAIGHT_YAW and between them. A turn is judged against the other turn, not only against fixed thresholds:
    the 5-point landmarks of one face and of its mirror image differ by up to 0.03 in yaw, so a real but modest
    turn may read 0.08 one way and 0.10 the other (docs/FACES.md). Wrong: a turn the wrong way or not beyond
    DOUBT_YAW (a flat print tilted), the straight frame turned (TURN_YAW) or not between the turns.
    """
    left, right, straight = yaws["left"], yaws["right"], yaws["straight"]
    if not left > straight > right or abs(straight) >= TURN_YAW or min(left, -right) <= DOUBT_YAW:
        return "wrong"
    if min(left, -right) >= MIN_TURN_YAW and left - right >= MIN_SPAN and abs(straight) <= STRAIGHT_YAW:
        return "clear"
    return "unclear"


class _Models:
    """dlib models, loaded on first use."""

    _lock = threading.Lock()
    _loaded: dict[str, Any] | None = None

    @classmethod
    def get(cls) -> dict[str, Any]:
        if cls._loaded is None:
            with cls._lock:
                if cls._loaded is None:
                    import dlib
                    import face_recognition_models as files

                    cls._loaded = {
                        "detector": dlib.get_frontal_face_detector(),
                        "pose5": dlib.shape_predictor(files.pose_predictor_five_point_model_location()),
                        "encoder": dlib.face_recognition_model_v1(files.face_recognition_model_location()),
                    }
        return cls._loaded


def warm_up() -> None:
    """Load the models now (e.g. in a gunicorn worker before serving)."""
    _Models.get()


_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
#: what Pillow may call a JPEG or PNG upload: a JPEG that carries a second picture (a gain map or depth map, as
#: recent iPhones, Pixels and Galaxies write) is opened as MPO; its first picture is the photo
FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG"}


def decode(data: bytes, max_bytes: int = 5 * 1024 * 1024, max_pixels: int = 12_000_000) -> Image.Image:
    """Check and decode JPEG/PNG bytes into an upright 8-bit RGB image."""
    if len(data) > max_bytes:
        raise ImageTooLargeError()
    if not data.startswith(_MAGIC):
        raise NotAnImageError()
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in FORMATS:
            raise NotAnImageError()
        width, height = image.size  # read from the header: a bomb is refused before any decoding
        if width * height > max_pixels:
            raise TooManyPixelsError()
        if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
            raise PictureShapeError()  # a 10000×1 strip would shrink to nothing before detection
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError() from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError() from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.uint32)
        scale = 257 if array.max(initial=0) > 255 else 1
        image = Image.fromarray((array // scale).clip(0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def analyse(data: bytes, max_bytes: int = 5 * 1024 * 1024, max_pixels: int = 12_000_000,
            num_jitters: int = 1) -> Frame:
    """Decode, find exactly one usable face, and encode it (once; ``num_jitters`` > 1 averages the encodings of
    that many randomly jittered copies, dlib's option, measured for enrolment in bench/face_calibration.py)."""
    image = decode(data, max_bytes, max_pixels)
    scale = DETECT_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    pixels = np.asarray(image)
    models = _Models.get()
    faces = _detect(models["detector"], image, pixels)
    if len(faces) == 0:
        raise NoFaceError()
    if len(faces) > 1:
        raise SeveralFacesError(count=len(faces))
    face = faces[0]
    height, width = pixels.shape[:2]
    if face.left() < 0 or face.top() < 0 or face.right() > width or face.bottom() > height:
        raise FaceOffCentreError()
    if face.width() < MIN_FACE_SHARE * min(width, height):
        raise FaceTooSmallError()
    shape = models["pose5"](pixels, face)
    points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=float)
    encoding = np.array(models["encoder"].compute_face_descriptor(pixels, shape, num_jitters), dtype=np.float64)
    import dlib

    chip = dlib.get_face_chip(pixels, shape, size=CHIP_SIDE)
    points = _fine_points(models["pose5"], image, face, points)
    eye_a, eye_b = np.linalg.norm(points[0] - points[1]), np.linalg.norm(points[2] - points[3])
    return Frame(encoding=encoding, yaw=_yaw(points), digest=hashlib.sha256(pixels.tobytes()).hexdigest()[:32],
                 box=(face.left(), face.top(), face.right(), face.bottom()), phash=perceptual_hash(chip),
                 eye_ratio=float(max(eye_a, eye_b) / (min(eye_a, eye_b) or 1.0)),
                 thumb=dlib.get_face_chip(pixels, shape, size=THUMB_SIDE))


def _dct_matrix(n: int) -> np.ndarray:
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT32 = _dct_matrix(32)


def perceptual_hash(rgb: np.ndarray) -> int:
    """pHash: the signs of the 8×8 lowest DCT frequencies (less the constant term) of a 32×32 grey copy, against
    their median. Brightness, contrast, JPEG noise and a few pixels of crop barely move it."""
    grey = Image.fromarray(np.asarray(rgb, dtype=np.uint8)).convert("L").resize((32, 32), Image.BILINEAR)
    block = (_DCT32 @ np.asarray(grey, dtype=float) @ _DCT32.T)[:8, :8].flatten()[1:]
    bits = block > np.median(block)
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    """How many bits differ between two perceptual hashes."""
    return (a ^ b).bit_count()


def _detect(detector, image: Image.Image, pixels: np.ndarray) -> list:
    """HOG on a quarter-size greyscale copy, then the 640 px frame, then 640 px upsampled once.

    The quick pass finds a phone selfie's face in about 6 ms instead of 27 ms (an integer box reduction, no
    resampling); boxes come back in 640 px coordinates.
    """
    step = round(max(image.size) / QUICK_SIDE)
    if step >= 2:
        found = detector(np.asarray(image.convert("L").reduce(step)), 0)
        if len(found):
            import dlib

            return [dlib.rectangle(r.left() * step, r.top() * step, r.right() * step, r.bottom() * step)
                    for r in found]
    found = detector(pixels, 0)
    return found if len(found) else detector(pixels, 1)


def _fine_points(predictor, image: Image.Image, face, points: np.ndarray) -> np.ndarray:
    """The 5 landmarks to a fraction of a pixel, for the pose and flat-turn tests (the encoding keeps dlib's own).

    dlib gives whole pixels: on a small face (eyes 10 px wide in a 150 px photo) one pixel moves the yaw by 0.04
    and the eye-width ratio by 0.1, as much as the margins being tested. So a face narrower than FINE_SIDE is
    landmarked again on a bicubic grey enlargement of the face box (a few ms) and the points scaled back.
    """
    factor = FINE_SIDE / max(face.width(), 1)
    if factor < 1.25:
        return points
    import dlib

    margin = face.width() // 4
    left, top = max(0, face.left() - margin), max(0, face.top() - margin)
    right, bottom = min(image.width, face.right() + margin), min(image.height, face.bottom() + margin)
    crop = image.crop((left, top, right, bottom))
    crop = crop.resize((round(crop.width * factor), round(crop.height * factor)), Image.BICUBIC)
    rect = dlib.rectangle(*(round(v * factor) for v in (face.left() - left, face.top() - top,
                                                         face.right() - left, face.bottom() - top)))
    shape = predictor(np.asarray(crop), rect)
    fine = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=float)
    return fine / factor + (left, top)


def _yaw(points: np.ndarray) -> float:
    """Nose offset from the eyes' midpoint, in inter-eye distances; positive: the subject turned to their left.

    Uses the 5-point model (eye corners and nose base), whose licence allows this use; the 68-point one's does not.
    """
    eye_a, eye_b = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
    between = np.linalg.norm(eye_a - eye_b) or 1.0
    return float((points[4][0] - points[:4, 0].mean()) / between)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two encodings."""
    return float(np.linalg.norm(a - b))


def nearest(encoding: np.ndarray, templates: list[np.ndarray]) -> float:
    """Distance to the closest template."""
    return min(distance(encoding, t) for t in templates)


def encrypt_print(frame: Frame, key: str) -> bytes:
    """Fernet-encrypt what the replay check keeps of a frame: its encoding and perceptual hash, never pixels."""
    plain = np.asarray(frame.encoding, dtype="<f8").tobytes() + frame.phash.to_bytes(8, "big")
    return Fernet(key.encode()).encrypt(plain)


def decrypt_print(ciphertext: bytes, key: str) -> tuple[np.ndarray, int]:
    """The encoding and perceptual hash back from encrypt_print."""
    plain = Fernet(key.encode()).decrypt(ciphertext)
    return np.frombuffer(plain[:-8], dtype="<f8"), int.from_bytes(plain[-8:], "big")


def near_duplicate(a: Frame, encoding: np.ndarray, phash: int) -> bool:
    """Whether a frame is a copy of another (re-encoded, noised, cropped, rescaled, brightened): both the encoding
    and the face crop's perceptual hash must be close (see docs/FACES.md for the measured margins)."""
    return distance(a.encoding, encoding) <= REPLAY_DISTANCE and hamming(a.phash, phash) <= REPLAY_BITS


def encrypt_thumbnail(frame: Frame, key: str) -> bytes:
    """The frame's aligned face crop as a small JPEG (no metadata), Fernet-encrypted with the templates' key."""
    out = io.BytesIO()
    Image.fromarray(np.asarray(frame.thumb, dtype=np.uint8)).save(out, "JPEG", quality=THUMB_QUALITY)
    return Fernet(key.encode()).encrypt(out.getvalue())


def decrypt_thumbnail(ciphertext: bytes, key: str) -> bytes:
    """The JPEG bytes back from encrypt_thumbnail."""
    return Fernet(key.encode()).decrypt(ciphertext)


def encrypt(encoding: np.ndarray, key: str) -> bytes:
    """Fernet-encrypt an encoding (float64 bytes); the key lives outside the database."""
    return Fernet(key.encode()).encrypt(np.asarray(encoding, dtype="<f8").tobytes())


def decrypt(ciphertext: bytes, key: str) -> np.ndarray:
    """The encoding back; raises InvalidToken with the wrong key."""
    return np.frombuffer(Fernet(key.encode()).decrypt(ciphertext), dtype="<f8")


__all__ = ["Frame", "InvalidToken", "analyse", "decode", "decrypt", "distance", "encrypt", "encrypt_print", "decrypt_print", "decrypt_thumbnail", "encrypt_thumbnail", "near_duplicate", "nearest", "warm_up"]
