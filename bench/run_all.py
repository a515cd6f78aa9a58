"""`make bench`: run every benchmark; exit non-zero if any target is missed. Not part of `make test`.

Set BENCH_SCALE_ARGS="--volunteers 100000 --shifts 10000 --entries 1000000" for a quicker scale run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable

RUNS = [
    ("1. face verification", [PYTHON, "-W", "ignore", str(HERE / "face_verify.py")]),
    ("2. check-in request", [PYTHON, "-W", "ignore", str(HERE / "checkin_request.py")]),
    ("3. flash sale", [PYTHON, "-W", "ignore", str(HERE / "flash_sale.py")]),
    ("4. queries per page", [PYTHON, "-m", "pytest", "-q", "-s", str(HERE.parent / "tests/test_query_counts.py")]),
    ("5. scale", [PYTHON, "-W", "ignore", str(HERE / "scale.py"), *shlex.split(os.environ.get("BENCH_SCALE_ARGS", ""))]),
]


def main() -> int:
    missed = []
    for name, command in RUNS:
        print(f"== {name}", flush=True)
        if subprocess.run(command, cwd=HERE).returncode != 0:
            missed.append(name)
    print("\nmissed: " + (", ".join(missed) if missed else "none"))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
