"""Genuine and impostor distances on the test photographs, and error rates per tolerance.

Run: .venv/bin/python bench/face_calibration.py   (after `make photos`)
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from volunteer import faces  # noqa: E402

PHOTOS = ROOT / ".cache" / "photos"


def load_people() -> dict[str, list[np.ndarray]]:
    people: dict[str, list[np.ndarray]] = {"obama": [], "biden": []}
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        people["obama"].append(faces.analyse((PHOTOS / name).read_bytes()).encoding)
    people["biden"].append(faces.analyse((PHOTOS / "biden.jpg").read_bytes()).encoding)
    for folder in sorted((PHOTOS / "johns").iterdir()):
        for photo in sorted(folder.iterdir()):
            try:
                people.setdefault(folder.name, []).append(faces.analyse(photo.read_bytes()).encoding)
            except faces.FaceImageError as exc:
                print(f"skipped {photo.name}: {exc.code}")
    return people


def main() -> int:
    people = load_people()
    items = [(who, enc) for who, encs in people.items() for enc in encs]
    genuine, impostor = [], []
    for (a, ea), (b, eb) in itertools.combinations(items, 2):
        (genuine if a == b else impostor).append(faces.distance(ea, eb))
    g, i = np.array(genuine), np.array(impostor)
    print(f"photos: {len(items)} of {len(people)} people")
    print(f"genuine pairs:  n={len(g):5d}  min {g.min():.3f}  median {np.median(g):.3f}  p95 {np.percentile(g, 95):.3f}"
          f"  max {g.max():.3f}")
    print(f"impostor pairs: n={len(i):5d}  min {i.min():.3f}  p1 {np.percentile(i, 1):.3f}  median {np.median(i):.3f}")
    print("tolerance  false rejects (one frame)  false accepts")
    for tol in (0.40, 0.45, 0.50, 0.55, 0.60):
        print(f"  {tol:.2f}     {(g > tol).mean():6.1%}                  {(i <= tol).mean():6.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
