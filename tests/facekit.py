"""Real-photo helpers: re-encode, mirror and crop the fetched test photographs."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

PHOTOS = Path(__file__).resolve().parent.parent / ".cache" / "photos"


def image(name: str) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(PHOTOS / name)).convert("RGB")


def encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def jpeg(name: str, mirror: bool = False, quality: int = 90, trim: int = 0) -> bytes:
    """A photo as a fresh JPEG; ``trim`` crops a few pixels so the frame differs like a new camera frame."""
    img = image(name)
    if mirror:
        img = ImageOps.mirror(img)
    if trim:
        img = img.crop((trim, trim, img.width - trim, img.height - trim))
    return encode(img, quality=quality)


def obama_enrolment() -> list[bytes]:
    """Three different photographs of one person (one of them an RGBA PNG)."""
    return [jpeg("obama.jpg"), jpeg("obama3.jpg"), (PHOTOS / "32bit.png").read_bytes()]


def obama_live(trim: int = 3) -> list[bytes]:
    """Frames answering "left, right, straight": obama2 is turned to his right, its mirror to his left."""
    return [jpeg("obama2.jpg", mirror=True, trim=trim), jpeg("obama2.jpg", trim=trim),
            jpeg("obama.jpg", quality=85, trim=trim)]


def john(person: str, index: int) -> bytes:
    files = sorted((PHOTOS / "johns" / person).iterdir())
    return files[index].read_bytes()
