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


def _homography(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """The 8 coefficients PIL's PERSPECTIVE transform wants: for each output point (dst), where to read (src)."""
    import numpy as np

    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([u, v, 1, 0, 0, 0, -x * u, -x * v])
        rows.append([0, 0, 0, u, v, 1, -y * u, -y * v])
        rhs += [x, y]
    return list(np.linalg.solve(np.array(rows, dtype=float), np.array(rhs, dtype=float)))


def folded_print(img: Image.Image, fold: float, turn: float, distance: float = 2.5, centre: float | None = None,
                 background: tuple[int, int, int] = (90, 90, 90)) -> Image.Image:
    """A print folded along a vertical line (at ``centre``, default the middle) by ``fold`` degrees (the halves bend
    away from the camera, the fold line towards it), turned ``turn`` degrees about the vertical axis, and seen by a
    pinhole camera ``distance`` print-widths away (perspective projection). ``fold=0`` is a flat tilted print."""
    import math

    width, height = img.size
    cx = width / 2 if centre is None else centre
    focal = distance * width
    half_fold, yaw = math.radians(fold) / 2, math.radians(turn)

    def project(x: float, y: float) -> tuple[float, float]:
        dx = x - cx  # print coordinates, relative to the fold line
        angle = half_fold if dx < 0 else -half_fold
        px, pz = dx * math.cos(angle), -dx * math.sin(angle)  # fold: each half turned about the fold line
        rx, rz = px * math.cos(yaw) + pz * math.sin(yaw), -px * math.sin(yaw) + pz * math.cos(yaw)
        depth = focal + rz
        return width / 2 + focal * rx / depth, height / 2 + focal * (y - height / 2) / depth

    out = Image.new("RGB", (width, height), background)
    for x0, x1 in ((0, cx), (cx, width)):
        src = [(x0, 0), (x1, 0), (x1, height), (x0, height)]
        side = -1 if x0 == 0 else 1
        dst = [project(x if x != cx else cx + side * 1e-6, y) for x, y in src]
        half = img.transform((width, height), Image.PERSPECTIVE, _homography(src, dst), Image.BICUBIC)
        mask = Image.new("L", (width, height), 0)
        from PIL import ImageDraw

        ImageDraw.Draw(mask).polygon(dst, fill=255)
        out.paste(half, (0, 0), mask)
    return out


def face_print(name: str, margin: float = 1.2) -> tuple[Image.Image, float]:
    """A print of the photo's face (the face box widened by ``margin`` on each side) and its face centre's x."""
    from volunteer import faces

    img = image(name)
    left, top, right, bottom = faces.analyse(encode(img, quality=95)).box
    scale = max(img.size) / faces.DETECT_SIDE if max(img.size) > faces.DETECT_SIDE else 1
    left, top, right, bottom = (round(v * scale) for v in (left, top, right, bottom))
    w, h = right - left, bottom - top
    box = (max(0, round(left - margin * w)), max(0, round(top - margin * h)),
           min(img.width, round(right + margin * w)), min(img.height, round(bottom + margin * h)))
    return img.crop(box), (left + right) / 2 - box[0]

