"""Face matching calibration on the test photographs: per frame and per check-in as the system decides, with a
split by identity (leave one person out), and whether dlib's num_jitters at enrolment pays.

Per check-in means what face_id does: three enrolled templates, the three frames of one check-in, the nearest
distance decides. Genuine check-ins: three of a person's photographs that are not their enrolment photographs.
Impostor check-ins: three photographs of one person against another person's templates.

Enrolment schemes: "three poses" enrols the person's most left-turned, most right-turned and most frontal
photograph (what the enrol page asks for); "any three" enrols random triples of their photographs.

Run: .venv/bin/python bench/face_calibration.py   (after `make photos`; about three minutes)
"""

from __future__ import annotations

import itertools
import random
import sys
import time
from dataclasses import dataclass

import numpy as np
from common import PHOTOS, percentile, require_photos, wilson

from volunteer import faces

JITTERS = (1, 5, 10)
#: the tuned tolerance stays this far below the closest impostor check-in of the tuning people
MARGIN = 0.05
#: two "photographs" of one person closer than this are one photograph re-processed (the johns set holds three)
SAME_PHOTO = 0.10
SEED = 13


@dataclass
class Photo:
    person: str
    name: str
    yaw: float
    encodings: dict[int, np.ndarray]  # num_jitters -> encoding


def load() -> tuple[dict[str, list[Photo]], list[str], dict[int, float]]:
    """Every usable photograph, encoded with each num_jitters; re-processed copies dropped; seconds per encoding."""
    paths = [("Obama", PHOTOS / n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")] + [("Biden", PHOTOS / "biden.jpg")]
    for folder in sorted((PHOTOS / "johns").iterdir()):
        paths += [(folder.name, p) for p in sorted(folder.iterdir())]
    people: dict[str, list[Photo]] = {}
    dropped: list[str] = []
    seconds: dict[int, list[float]] = {j: [] for j in JITTERS}
    for person, path in paths:
        data = path.read_bytes()
        encodings = {}
        for jitters in JITTERS:
            start = time.perf_counter()
            frame = faces.analyse(data, num_jitters=jitters)
            seconds[jitters].append(time.perf_counter() - start)
            encodings[jitters] = frame.encoding
        photo = Photo(person, path.name, frame.yaw, encodings)
        if any(faces.distance(photo.encodings[1], other.encodings[1]) < SAME_PHOTO for other in people.get(person, [])):
            dropped.append(f"{person}/{path.name}")
            continue
        people.setdefault(person, []).append(photo)
    return people, dropped, {j: float(np.median(v)) for j, v in seconds.items()}


def pose_templates(photos: list[Photo]) -> list[Photo]:
    """The most left-turned, most right-turned and most frontal photograph."""
    left, right = max(photos, key=lambda p: p.yaw), min(photos, key=lambda p: p.yaw)
    straight = min((p for p in photos if p not in (left, right)), key=lambda p: abs(p.yaw))
    return [left, right, straight]


def checkin_distance(templates: list[Photo], frames: tuple[Photo, ...], jitters: int) -> float:
    """The decision's number: nearest of any frame (one encoding) to any template (``jitters`` at enrolment)."""
    return min(faces.distance(f.encodings[1], t.encodings[jitters]) for f in frames for t in templates)


def enrolments(people: dict[str, list[Photo]], scheme: str, rng: random.Random) -> list[tuple[str, list[Photo]]]:
    """(person, templates) for the people with enough photographs to enrol and still check in."""
    result = []
    for person, photos in people.items():
        if len(photos) < 6:
            continue
        if scheme == "three poses":
            result.append((person, pose_templates(photos)))
        else:
            result += [(person, rng.sample(photos, 3)) for _ in range(10)]
    return result


def checkins(people, enrolled, jitters: int, rng: random.Random) -> tuple[list[tuple], list[tuple]]:
    """Genuine and impostor check-ins: (enrolled person, presenting person, distance)."""
    genuine, impostor = [], []
    for person, templates in enrolled:
        rest = [p for p in people[person] if p not in templates]
        triples = list(itertools.combinations(rest, 3))
        for frames in rng.sample(triples, min(20, len(triples))):
            genuine.append((person, person, checkin_distance(templates, frames, jitters)))
        for other, photos in people.items():
            if other == person:
                continue
            triples = list(itertools.combinations(photos, min(3, len(photos))))
            for frames in rng.sample(triples, min(10, len(triples))):
                impostor.append((person, other, checkin_distance(templates, frames, jitters)))
    return genuine, impostor


def rate(errors: int, total: int) -> str:
    low, high = wilson(errors, total)
    return f"{errors}/{total} = {100 * errors / max(total, 1):.1f} % ({100 * low:.1f}–{100 * high:.1f} %)"


def per_frame(people: dict[str, list[Photo]]) -> None:
    items = [p for photos in people.values() for p in photos]
    genuine, impostor = [], []
    for a, b in itertools.combinations(items, 2):
        (genuine if a.person == b.person else impostor).append((faces.distance(a.encodings[1], b.encodings[1]), a, b))
    g = np.array([d for d, *_ in genuine])
    i = np.array([d for d, *_ in impostor])
    closest = min(impostor, key=lambda x: x[0])
    print(f"\n## per frame (one photograph against one): {len(items)} photographs of {len(people)} people")
    print(f"genuine pairs {len(g)}: min {g.min():.3f} median {np.median(g):.3f} p95 {np.percentile(g, 95):.3f} "
          f"max {g.max():.3f}")
    print(f"impostor pairs {len(i)}: min {i.min():.3f} ({closest[1].person}/{closest[1].name} – "
          f"{closest[2].person}/{closest[2].name}) p1 {np.percentile(i, 1):.3f} median {np.median(i):.3f}")
    for tol in (0.40, 0.45, 0.50, 0.55, 0.60):
        print(f"  tolerance {tol:.2f}: false rejects {rate(int((g > tol).sum()), len(g))}, "
              f"false accepts {rate(int((i <= tol).sum()), len(i))}")


def per_checkin(people, scheme: str, jitters: int, tolerance: float = 0.5) -> tuple[list, list]:
    rng = random.Random(SEED)
    genuine, impostor = checkins(people, enrolments(people, scheme, rng), jitters, rng)
    g = np.array([d for *_, d in genuine])
    i = np.array([d for *_, d in impostor])
    print(f"  {scheme:11s} jitters {jitters:2d}: genuine n={len(g)} median {np.median(g):.3f} "
          f"p95 {percentile(list(g), 95):.3f} max {g.max():.3f} | impostor n={len(i)} min {i.min():.3f} | "
          f"at {tolerance}: false rejects {rate(int((g > tolerance).sum()), len(g))}, "
          f"false accepts {rate(int((i <= tolerance).sum()), len(i))}")
    return genuine, impostor


def leave_one_out(genuine: list[tuple], impostor: list[tuple], people: list[str]) -> None:
    """Tune the tolerance on every person but one, report on that one (their check-ins and impostor check-ins in
    which they take part, as enrolled or as presenting)."""
    print("\n## split by identity (leave one person out), three poses, per check-in")
    print(f"tuned tolerance: {MARGIN} below the closest impostor check-in among the tuning people, in 0.01 steps")
    totals = {"fr": [0, 0], "fa": [0, 0], "fr50": [0, 0]}
    for held in people:
        tune = [d for a, b, d in impostor if held not in (a, b)]
        tolerance = np.floor((min(tune) - MARGIN) * 100) / 100
        g = [d for a, _, d in genuine if a == held]
        i = [d for a, b, d in impostor if held in (a, b)]
        fr, fa, fr50 = sum(d > tolerance for d in g), sum(d <= tolerance for d in i), sum(d > 0.5 for d in g)
        for key, (e, n) in (("fr", (fr, len(g))), ("fa", (fa, len(i))), ("fr50", (fr50, len(g)))):
            totals[key][0] += e
            totals[key][1] += n
        print(f"  held out {held:14s}: tuned {tolerance:.2f}; genuine check-ins {len(g)}, false rejects {fr} "
              f"(at 0.50: {fr50}); impostor check-ins {len(i)}, false accepts {fa}, closest impostor "
              f"{min(i):.3f} ({min(i) - tolerance:+.3f} from the tuned tolerance, {min(i) - 0.5:+.3f} from 0.50); "
              f"farthest genuine {max(g) if g else float('nan'):.3f}")
    print(f"  all folds: false rejects {rate(*totals['fr'])} at the tuned tolerances ({rate(*totals['fr50'])} at "
          f"0.50); false accepts {rate(*totals['fa'])}")


def same_as_earlier(people: dict[str, list[Photo]]) -> None:
    """How often two check-ins of one person from different photographs look like "the same pictures as an earlier
    check" (face_id._same_as_earlier: every frame within SAME_FACE_DISTANCE of a frame of the earlier set)."""
    rng = random.Random(SEED)
    flagged = total = 0
    for photos in people.values():
        if len(photos) < 6:
            continue
        for _ in range(100):
            chosen = rng.sample(photos, 6)
            earlier, later = chosen[:3], chosen[3:]
            total += 1
            flagged += all(min(faces.distance(f.encodings[1], e.encodings[1]) for e in earlier)
                           <= faces.SAME_FACE_DISTANCE for f in later)
    print(f"\n## genuine check-ins flagged as the same pictures as an earlier one (distance "
          f"{faces.SAME_FACE_DISTANCE}): {rate(flagged, total)} (pairs of check-ins from six different photographs)")


def main() -> int:
    require_photos()
    faces.warm_up()
    people, dropped, seconds = load()
    print(f"photographs: {sum(map(len, people.values()))} of {len(people)} people; dropped as re-processed copies: "
          f"{', '.join(dropped) or 'none'}")
    per_frame(people)
    print("\n## per check-in (three templates, three frames, nearest wins), tolerance 0.50; Wilson 95 % intervals")
    print("(check-ins share photographs, so they are not independent: the intervals are narrower than they should be)")
    results = {}
    for scheme in ("three poses", "any three"):
        for jitters in JITTERS:
            results[scheme, jitters] = per_checkin(people, scheme, jitters)
    print("\n## num_jitters at enrolment: seconds per enrolment photograph (median; three per enrolment)")
    for jitters, value in seconds.items():
        print(f"  jitters {jitters:2d}: {value:.2f} s per photograph, {3 * value:.1f} s per enrolment")
    same_as_earlier(people)
    genuine, impostor = results["three poses", 1]
    leave_one_out(genuine, impostor, [p for p, photos in people.items() if len(photos) >= 6])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
