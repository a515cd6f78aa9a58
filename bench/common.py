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


def wilson(errors: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default)."""
    if total == 0:
        return 0.0, 1.0
    p = errors / total
    centre, half = p + z * z / (2 * total), z * ((p * (1 - p) + z * z / (4 * total)) / total) ** 0.5
    denominator = 1 + z * z / total
    return max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator)


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mb() -> float:
    """Peak resident memory of this process, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def verdict(name: str, ok: bool, detail: str) -> bool:
    print(f"{'PASS' if ok else 'MISS'}  {name}: {detail}")
    return ok


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def recreate_pg(name: str) -> str:
    """Drop and create a PostgreSQL database on the local server; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def require_photos() -> None:
    if not (PHOTOS / ".complete").exists():
        raise SystemExit("test photographs missing: run `make photos` first")
