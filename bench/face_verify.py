"""Benchmark 1: our verify path vs the naive face_recognition sequence on the same 640x480 JPEG.

Ours: decode once, HOG on ≤640 px with upsample 0 (1 only if nothing found), 5-point landmarks, one encoding,
distance to the templates. Naive: load_image_file, face_encodings with default arguments (upsample 1, 68-point
landmarks), compare_faces. Alternating rounds, medians. Target: ours ≤ 0.5 × naive, same decision on every
genuine and impostor pair of the test photographs (at our tolerance).
"""

from __future__ import annotations

import io
import itertools
import time

from common import PHOTOS, median, percentile, require_photos, rss_mb, verdict

ROUNDS = 30


def frame_640x480() -> bytes:
    from PIL import Image

    photo = Image.open(PHOTOS / "obama.jpg").convert("RGB")
    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    photo.thumbnail((640, 480))
    canvas.paste(photo, ((640 - photo.width) // 2, (480 - photo.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> int:
    require_photos()
    rss_before = rss_mb()
    import face_recognition
    import numpy as np

    from volunteer import faces

    faces.warm_up()
    tolerance = 0.5
    template = faces.analyse((PHOTOS / "obama3.jpg").read_bytes()).encoding
    naive_template = face_recognition.face_encodings(face_recognition.load_image_file(PHOTOS / "obama3.jpg"))[0]
    rss_models = rss_mb()
    data = frame_640x480()

    def ours() -> bool:
        return faces.nearest(faces.analyse(data).encoding, [template]) <= tolerance

    def naive() -> bool:
        image = face_recognition.load_image_file(io.BytesIO(data))
        return bool(face_recognition.compare_faces(face_recognition.face_encodings(image), naive_template,
                                                   tolerance=tolerance)[0])

    ours(), naive()  # warm caches
    timings: dict[str, list[float]] = {"ours": [], "naive": []}
    for _ in range(ROUNDS):
        for name, fn in (("ours", ours), ("naive", naive)):
            start = time.perf_counter()
            assert fn()
            timings[name].append((time.perf_counter() - start) * 1000)
    ratio = median(timings["ours"]) / median(timings["naive"])
    for name, values in timings.items():
        print(f"{name:5s}  p50 {median(values):7.1f} ms   p95 {percentile(values, 95):7.1f} ms   ({ROUNDS} rounds)")
    print(f"resident memory: {rss_before:.0f} MB before import, {rss_models:.0f} MB after loading the models")

    # same decision on every pair of the test photographs
    paths = [PHOTOS / n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")]
    for folder in sorted((PHOTOS / "johns").iterdir()):
        paths += sorted(folder.iterdir())[:6]
    ours_enc, naive_enc, people = [], [], []
    for path in paths:
        ours_enc.append(faces.analyse(path.read_bytes()).encoding)
        found = face_recognition.face_encodings(face_recognition.load_image_file(path))
        naive_enc.append(found[0] if found else None)
        people.append(path.parent.name if "johns" in str(path) else path.name[:5])
    disagreements, pairs = 0, 0
    for i, j in itertools.combinations(range(len(paths)), 2):
        if naive_enc[i] is None or naive_enc[j] is None:
            continue
        pairs += 1
        a = np.linalg.norm(ours_enc[i] - ours_enc[j]) <= tolerance
        b = np.linalg.norm(naive_enc[i] - naive_enc[j]) <= tolerance
        disagreements += a != b
    genuine = sum(people[i] == people[j] for i, j in itertools.combinations(range(len(paths)), 2))
    print(f"decisions compared on {pairs} pairs ({genuine} genuine): {disagreements} differ")
    ok = verdict("face verify time", ratio <= 0.5, f"ours/naive = {ratio:.2f} (target ≤ 0.50)")
    ok &= verdict("same decisions", disagreements == 0, f"{disagreements} of {pairs} pairs differ")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
