"""Small helpers shared by the benchmarks (not used by the app)."""

from __future__ import annotations

import resource
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / ".cache" / "photos"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mb() -> float:
    """Peak resident memory of this process, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def verdict(name: str, ok: bool, detail: str) -> bool:
    print(f"{'PASS' if ok else 'MISS'}  {name}: {detail}")
    return ok


def require_photos() -> None:
    if not (PHOTOS / ".complete").exists():
        raise SystemExit("test photographs missing: run `make photos` first")
