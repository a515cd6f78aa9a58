"""Presentation-attack evaluation (ISO/IEC 30107-3): APCER per attack species, BPCER on genuine sets.

Every presentation goes through the real verification service (liveness on, random challenge order, the default
tolerance) on a scratch SQLite database. The species are built in code from the test photographs (tests/attacks.py).

Run: .venv/bin/python bench/presentation_attacks.py [--write]   (after `make photos`; a few minutes)
--write replaces the table between the markers in docs/FACES.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import wilson  # noqa: E402
from tests import attacks  # noqa: E402

BEGIN, END = "<!-- presentation-attacks:begin -->", "<!-- presentation-attacks:end -->"


NOT_FOUND: dict[str, list[str]] = {}  # search species -> people for whom the search found no candidate frames


def _species(person: attacks.Person):
    """(species, recipe label, frames) for one person's attack photo."""
    yield "photo and its mirror", "", attacks.mirror_attack(person)
    for tilt in (15, 30, 45, 60):
        yield "flat print tilted", f"{tilt}°", attacks.tilted_attack(person, tilt)
    for fold in (15, 35, 60):
        for turn in (10, 30, 45):
            for distance in (1.5, 2.5, 4):
                yield "folded print (fixed recipe)", f"fold {fold}° turn ±{turn}° at {distance}", \
                    attacks.folded_attack(person, fold, turn, distance)
    for radius in (0.4, 0.7, 1.2):
        for turn in (20, 35, 50):
            yield "print bent as a cylinder", f"r {radius} turn ±{turn}°", attacks.bent_attack(person, radius, turn)
    for species, knows in (("folded print (attacker's offline search)", False),
                           ("folded print (offline search that knows the flat-turn test)", True)):
        searched = attacks.searched_fold_attack(person, knows_flat_test=knows)
        if searched is None:
            NOT_FOUND.setdefault(species, []).append(person.name)
        else:
            yield species, "", searched


def _rate(errors: int, total: int) -> str:
    low, high = wilson(errors, total)
    return f"{100 * errors / max(total, 1):.1f} % ({100 * low:.1f}–{100 * high:.1f} %)"


def _count(row: list[int], result, passing: list[str], label: str) -> None:
    """Add one attack presentation: refused, flagged for the coordinator (caught), or accepted clean."""
    row[0] += 1
    if result.accepted and result.flag:
        row[1] += 1
    elif result.accepted:
        row[2] += 1
        passing.append(label)


def main() -> None:
    from flask_migrate import upgrade

    from volunteer import create_app

    tmp = Path(tempfile.mkdtemp())
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp / "instance"), "SECRET_KEY": "bench",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite3'}", "FACE_TEST_CHALLENGE": "",
                      "RATELIMIT_STORAGE_URI": "memory://", "BABEL_DEFAULT_LOCALE": "en"})
    counts: dict[str, list[int]] = {}  # species -> [presentations, flagged, accepted clean]
    passing: list[str] = []
    genuine = [0, 0, 0]  # presentations, refused, flagged
    refusals: list[str] = []
    started = time.time()
    with app.app_context():
        upgrade()
        for person in attacks.PEOPLE:
            user_id = attacks.enrol(person)
            for frames in attacks.genuine_sets(person):
                result = attacks.present(user_id, frames)
                genuine[0] += 1
                print(f"  {person.name} genuine: {result.reason} {result.flag} {result.distance}", file=sys.stderr)
                if not result.accepted or result.flag:
                    genuine[1 if not result.accepted else 2] += 1
                    refusals.append(f"{person.name}: {result.flag or result.reason}")
            for species, label, frames in _species(person):
                result = attacks.present(user_id, frames)
                _count(counts.setdefault(species, [0, 0, 0]), result, passing,
                       f"{species} {label} ({person.name})".replace("  ", " "))
                print(f"  {person.name} {species} {label}: {result.reason} {result.flag}", file=sys.stderr)
            # replays of an accepted genuine set (the person's own, when they have one)
            accepted = next((f for f in attacks.genuine_sets(person) if attacks.present(user_id, f).accepted), None)
            if accepted is not None:
                for change_name, change in attacks.REPLAY_CHANGES.items():
                    result = attacks.present(user_id, attacks.replayed(accepted, change), forget=False)
                    _count(counts.setdefault(f"replay, {change_name}", [0, 0, 0]), result, passing,
                           f"replay {change_name} ({person.name})")
            print(f"{person.name} done ({time.time() - started:.0f} s)", file=sys.stderr)

    lines = [BEGIN, "", f"Measured by `bench/presentation_attacks.py` on {len(attacks.PEOPLE)} people "
             "(liveness on, random order, tolerance 0.50).", "",
             "An attack counts against APCER only when accepted as a clean check-in; one flagged for the coordinator "
             "is caught. A genuine presentation refused *or* flagged counts against BPCER. Intervals: Wilson, 95 %.",
             "", "| attack species | presentations | refused | flagged | accepted clean | APCER (95 % CI) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for species, (total, flagged, clean) in counts.items():
        lines.append(f"| {species} | {total} | {total - flagged - clean} | {flagged} | {clean} | {_rate(clean, total)} |")
    attacks_total = sum(row[0] for row in counts.values())
    attacks_clean = sum(row[2] for row in counts.values())
    attacks_flagged = sum(row[1] for row in counts.values())
    lines.append(f"| **all species** | {attacks_total} | {attacks_total - attacks_flagged - attacks_clean} | "
                 f"{attacks_flagged} | {attacks_clean} | {_rate(attacks_clean, attacks_total)} |")
    errors = genuine[1] + genuine[2]
    lines += ["", "| genuine presentations | people | presentations | refused | flagged | BPCER (95 % CI) |",
              "| --- | --- | --- | --- | --- | --- |",
              f"| real photographs at different head poses | {sum(bool(p.turned) for p in attacks.PEOPLE)} | "
              f"{genuine[0]} | {genuine[1]} | {genuine[2]} | {_rate(errors, genuine[0])} |", ""]
    for species, names in NOT_FOUND.items():
        lines += [f"{species}: the search found no candidate frames for {', '.join(names)} (nothing to present).", ""]
    if passing:
        lines += ["Attack presentations accepted clean: " + "; ".join(passing) + ".", ""]
    if refusals:
        lines += ["Genuine presentations refused or flagged: " + "; ".join(refusals) + ".", ""]
    lines.append(END)
    table = "\n".join(lines)
    print(table)
    if "--write" in sys.argv:
        doc = ROOT / "docs" / "FACES.md"
        text = doc.read_text()
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        doc.write_text(head + table + tail)


if __name__ == "__main__":
    main()
