"""`make test`: the whole suite on SQLite, then the whole suite again on PostgreSQL; one summary line each.

SQLite hides wrong column lengths and serialises every transaction, so green on SQLite alone says little about
production. The PostgreSQL run points ``VOLUNTEER_TEST_DATABASE_URL`` at a fresh database made for this run (and
dropped after it). Tests marked ``postgres`` (races, and the explicit PostgreSQL variants) run in the PostgreSQL
run only. Outside CI an unreachable server skips that run with a loud warning; in CI (``CI=true``) it fails.

Arguments are passed to both pytest runs (``make test PYTEST_ARGS="-k redeem"``). ``--only sqlite|postgres``
runs one of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from volunteer.config import postgres_test_url, running_in_ci  # noqa: E402

SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed|error|errors|skipped|deselected).*?)\s*=*$")


def run_pytest(label: str, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run pytest, echoing its output, and return its exit status and its final summary line."""
    print(f"\n===== {label} =====", flush=True)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    summary = ""
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        match = SUMMARY.match(line.strip())
        if match:
            summary = match.group(1)
    status = process.wait()
    if status == 5:  # nothing selected here (e.g. `-k` named only PostgreSQL tests): not a failure
        status, summary = 0, summary or "no tests selected"
    summary = summary or f"pytest exited with status {status}"
    return status, f"{label}: {summary} (exit {status}, {time.monotonic() - started:.0f} s wall)"


def postgres_database() -> tuple[str | None, str]:
    """Create a fresh database for the PostgreSQL run; (url, "") or (None, why not)."""
    admin = make_url(postgres_test_url())
    name = f"volunteer_suite_{os.getpid()}"
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server"
        return None, f"PostgreSQL at {admin.render_as_string(hide_password=True)} is unreachable: {exc}"
    return admin.set(database=name).render_as_string(hide_password=False), ""


def drop_database(url: str) -> None:
    name = make_url(url).database
    engine = create_engine(make_url(postgres_test_url()), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main(argv: list[str]) -> int:
    only = None
    if argv[:1] == ["--only"]:
        only, argv = argv[1], argv[2:]
    base_env = {k: v for k, v in os.environ.items() if k != "VOLUNTEER_TEST_DATABASE_URL"}
    results: list[tuple[int, str]] = []

    if only in (None, "sqlite"):
        results.append(run_pytest("SQLite", ["-m", "not postgres", *argv], base_env))

    if only in (None, "postgres"):
        url, problem = postgres_database()
        if url is None:
            if running_in_ci():
                results.append((1, f"PostgreSQL: FAILED, required in CI: {problem}"))
            else:
                banner = "!" * 78
                print(f"\n{banner}\nWARNING: {problem}\nThe PostgreSQL run was SKIPPED: green here does not mean "
                      f"production works.\n{banner}", file=sys.stderr)
                results.append((0, f"PostgreSQL: SKIPPED ({problem})"))
        else:
            try:
                results.append(run_pytest("PostgreSQL", argv, {**base_env, "VOLUNTEER_TEST_DATABASE_URL": url}))
            finally:
                drop_database(url)

    print("\n===== summary =====")
    for _, line in results:
        print(line)
    return 0 if all(status == 0 for status, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
