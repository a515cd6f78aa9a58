"""Report photos: checked by content (JPEG or PNG, like face frames), then re-encoded from the pixels alone, so
nothing of the upload's metadata survives (EXIF, GPS position, camera, ICC, PNG text chunks)."""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from volunteer.errors import DomainError
from volunteer.faces import FORMATS, CorruptImageError, NotAnImageError

_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}
JPEG_QUALITY = 85
#: a PNG cannot be decoded at a reduced scale as a JPEG can (Image.draft), and each of its pixels costs 4 bytes:
#: at most this many (a phone's screenshot has about 3 million)
PNG_MAX_PIXELS = 16_000_000


class PhotoTooLargeError(DomainError):
    message = _l("The photo is too large (at most %(mb)d MB). Please choose a smaller one.")
    status_code = 413


class PhotoTooManyPixelsError(DomainError):
    message = _l("The photo has too many pixels (at most %(mp)d megapixels). Please choose a smaller one.")
    status_code = 413


class TooManyPhotosError(DomainError):
    message = _l("At most %(count)d photos per report.")
    status_code = 413


@dataclass(frozen=True)
class CleanPhoto:
    """A photo ready to store: new bytes made from the pixels only."""

    content_type: str
    data: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        """Hex digest of the stored bytes."""
        return hashlib.sha256(self.data).hexdigest()


def photo_limits() -> tuple[int, int, int, int]:
    """(max photos, max bytes, max pixels, stored side) from the configuration."""
    config = current_app.config
    return (config["REPORT_MAX_PHOTOS"], config["REPORT_PHOTO_MAX_BYTES"], config["REPORT_PHOTO_MAX_PIXELS"],
            config["REPORT_PHOTO_SIDE"])


def clean_photo(data: bytes, max_bytes: int, max_pixels: int, side: int) -> CleanPhoto:
    """Check one upload by its content and re-encode it (JPEG stays JPEG, PNG stays PNG), at most ``side`` px."""
    if len(data) > max_bytes:
        raise PhotoTooLargeError(mb=max(1, max_bytes // (1024 * 1024)))
    kind = next((name for magic, name in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise NotAnImageError()
    try:
        image = Image.open(io.BytesIO(data))
        if FORMATS.get(image.format) != kind:
            raise NotAnImageError()
        width, height = image.size  # from the header: a decompression bomb is refused before decoding
        most = max_pixels if kind == "JPEG" else min(max_pixels, PNG_MAX_PIXELS)
        if width * height > most:
            raise PhotoTooManyPixelsError(mp=most // 1_000_000)
        scale = min(1.0, side / max(width, height))
        if kind == "JPEG":  # decoded at 1/2, 1/4 or 1/8 scale when that still covers the stored size
            image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        image.load()
        image = ImageOps.exif_transpose(image)  # keep the picture upright once the orientation tag is gone
        image.thumbnail((side, side))
        mode = "RGBA" if kind == "PNG" and (image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info) \
            else "RGB"
        # a new image from the pixels alone: Pillow carries info (a JPEG comment, ICC, PNG text) into save()
        bare = Image.frombytes(mode, image.size, image.convert(mode).tobytes())
        out = io.BytesIO()
        if kind == "JPEG":
            bare.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        else:
            bare.save(out, "PNG", optimize=True)
    except Image.DecompressionBombError as exc:
        raise PhotoTooManyPixelsError(mp=max_pixels // 1_000_000) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError() from exc
    stored = out.getvalue()
    return CleanPhoto("image/jpeg" if kind == "JPEG" else "image/png", stored, image.width, image.height)


def clean_photos(uploads: list[bytes]) -> list[CleanPhoto]:
    """Every upload of one report checked and re-encoded; the first problem names the photo's number."""
    most, max_bytes, max_pixels, side = photo_limits()
    uploads = [u for u in uploads if u]  # an empty file input sends nothing
    if len(uploads) > most:
        raise TooManyPhotosError(count=most)
    cleaned = []
    for number, data in enumerate(uploads, start=1):
        try:
            cleaned.append(clean_photo(data, max_bytes, max_pixels, side))
        except DomainError as exc:
            raise PhotoProblemError(number=number, problem=exc.text) from exc
    return cleaned


class PhotoProblemError(DomainError):
    message = _l("Photo %(number)d: %(problem)s")
    status_code = 400
