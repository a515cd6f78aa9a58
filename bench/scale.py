"""Benchmark 5: PostgreSQL seeded with 1,000,000 volunteers, 100,000 shifts and 10,000,000 ledger entries (COPY,
not the ORM). Reports server time p95 of the volunteer home, the approval queue and the catalog as a ratio to the
same pages on demo-sized data (target ≤ 2×), `ledger-audit` time, and the plans (EXPLAIN) of the page queries.

Usage: bench/scale.py [--volunteers 1000000] [--shifts 100000] [--entries 10000000] [--keep]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, percentile, verdict
from redeem_throughput import recreate_pg

PASSWORD = "Bench-pass-1"
ROUNDS = 40


def seed(url: str, volunteers: int, shift_count: int, entries: int) -> None:
    """Bulk-load with COPY: teams, users, memberships, shifts, sign-ups, pending attendance, point entries."""
    import psycopg
    from werkzeug.security import generate_password_hash

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    password_hash = generate_password_hash(PASSWORD)
    now = datetime.now(UTC)
    per_user = max(1, entries // volunteers)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        communities = 1000
        with cur.copy("COPY teams (id, name, kind, parent_id, path, created_at) FROM STDIN") as copy:
            copy.write_row((1, "西湖区", "district", None, "/1/", now))
            for s in range(10):
                copy.write_row((2 + s, f"街道{s}", "street", 1, f"/1/{2 + s}/", now))
            for c in range(communities):
                street = 2 + c % 10
                copy.write_row((100 + c, f"社区{c}", "community", street, f"/1/{street}/{100 + c}/", now))
        staff = volunteers + 1
        with cur.copy("COPY users (id, mobile, name, password_hash, role, locale, is_enabled, session_token, "
                      "points_balance, service_minutes, created_at) FROM STDIN") as copy:
            for i in range(1, volunteers + 1):
                copy.write_row((i, f"1{3 + i // 100_000_000}{i % 100_000_000:09d}"[:11], f"志愿者{i}", password_hash,
                                "volunteer", "zh_CN", True, "t", 10 * per_user, 0, now))
            copy.write_row((staff, "19999999999", "协调员", password_hash, "coordinator", "zh_CN", True, "t", 0, 0,
                            now))
        with cur.copy("COPY team_members (user_id, team_id) FROM STDIN") as copy:
            for i in range(1, volunteers + 1):
                copy.write_row((i, 100 + i % communities))
        cur.execute("INSERT INTO team_coordinators (user_id, team_id) VALUES (%s, 100)", (staff,))
        with cur.copy("COPY shifts (id, team_id, title, description, place_name, latitude, longitude, radius_m, "
                      "starts_at, ends_at, capacity, confirmed_count, points_per_hour, created_by_id, created_at) "
                      "FROM STDIN") as copy:
            for s in range(1, shift_count + 1):
                start = now + timedelta(hours=(s % 2000) - 1000)
                # the measured coordinator's team (100) gets the first 100 shifts in both runs: same queue length
                team = 100 if s <= 100 else 101 + s % (communities - 1)
                copy.write_row((s, team, f"巡逻{s}", "", "北山街", 30.259, 120.145, 300, start,
                                start + timedelta(hours=2), 10, 1, 10, staff, now))
        with cur.copy("COPY signups (shift_id, user_id, status, queued_at, created_at) FROM STDIN") as copy:
            for s in range(1, shift_count + 1):
                copy.write_row((s, 1 + (s * 7919) % volunteers, "confirmed", now, now))
        with cur.copy("COPY attendances (shift_id, user_id, method, status, check_in_at, check_out_at, flags, "
                      "minutes_credited, points_awarded, reject_reason, created_at) FROM STDIN") as copy:
            for s in range(1, shift_count + 1):  # one pending record per shift
                user = 1 + (s * 7919) % volunteers
                copy.write_row((s, user, "manual", "pending", now - timedelta(hours=3), now - timedelta(hours=1),
                                "manual", 120, 0, "", now - timedelta(minutes=s % 5000)))
        with cur.copy("COPY point_entries (user_id, amount, kind, source_key, note, created_at) FROM STDIN") as copy:
            for i in range(1, volunteers + 1):
                for k in range(per_user):
                    copy.write_row((i, 10, "legacy_import", f"seed:{i}:{k}", "", now - timedelta(days=k)))
        cur.execute("INSERT INTO merchants (id, name, address, is_active, created_at) VALUES "
                    "(1, '商户', '', true, now())")
        with cur.copy("COPY rewards (merchant_id, category, title, description, picture, points_cost, stock, "
                      "limit_period_days, min_star, validity_days, refund_on_expiry, status, created_at) "
                      "FROM STDIN") as copy:
            for r in range(200):
                copy.write_row((1, ["parking", "scenic", "health", "shopping", "loan", "goods"][r % 6], f"奖品{r}",
                                "", "", 50 + r, 100, 30, 0, 30, True, "active", now))
        for table in ("teams", "users", "shifts", "attendances", "point_entries", "rewards", "merchants"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")


def page_times(url: str, tmp: Path, volunteer_mobile: str) -> dict[str, float]:
    """p95 server time (ms) of three pages, through the app's test client."""
    from volunteer import create_app

    app = create_app({"INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    times: dict[str, float] = {}
    for mobile, path in ((volunteer_mobile, "/home"), ("19999999999", "/coordinator/approvals"),
                         (volunteer_mobile, "/volunteer/rewards")):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/login", data={"mobile": mobile, "password": PASSWORD, "csrf_token": token})
        first = client.get(path)
        assert first.status_code == 200, (path, first.status_code, first.headers.get("Location"))
        samples = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        times[path] = percentile(samples, 95)
    with app.app_context():
        from volunteer.extensions import db

        db.engine.dispose()
    return times


def explain(url: str) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    queries = {
        "volunteer home: my sign-ups": "SELECT * FROM signups JOIN shifts ON shifts.id = signups.shift_id "
                                       "WHERE signups.user_id = 123 AND signups.status <> 'cancelled'",
        "volunteer home: vouchers": "SELECT count(*) FROM vouchers WHERE user_id = 123 AND status = 'issued'",
        "approval queue": "SELECT * FROM attendances JOIN shifts ON shifts.id = attendances.shift_id "
                          "WHERE attendances.status = 'pending' AND shifts.team_id IN (100) "
                          "ORDER BY attendances.created_at, attendances.id LIMIT 500",
        "points history": "SELECT * FROM point_entries WHERE user_id = 123 ORDER BY id DESC LIMIT 100",
    }
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for name, sql in queries.items():
            cur.execute("EXPLAIN " + sql)
            plan = " / ".join(row[0].strip() for row in cur.fetchall() if "Scan" in row[0] or "Index" in row[0])
            print(f"  {name}: {plan[:300]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--volunteers", type=int, default=1_000_000)
    parser.add_argument("--shifts", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=10_000_000)
    args = parser.parse_args()
    from flask_migrate import upgrade

    from volunteer import create_app

    results = {}
    for label, sizes in (("demo", (100, 200, 1000)), ("scale", (args.volunteers, args.shifts, args.entries))):
        tmp = Path(tempfile.mkdtemp())
        url = recreate_pg(f"volunteer_scale_{label}")
        app = create_app({"INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            from volunteer.extensions import db

            db.engine.dispose()
        started = time.perf_counter()
        seed(url, *sizes)
        print(f"{label}: seeded {sizes[0]:,} volunteers, {sizes[1]:,} shifts, {sizes[2]:,} point entries "
              f"in {time.perf_counter() - started:.0f} s")
        results[label] = page_times(url, tmp, "13000000042")
        print("  p95 ms: " + ", ".join(f"{p} {t:.1f}" for p, t in results[label].items()))
        if label == "scale":
            started = time.perf_counter()
            audit = subprocess.run([str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "ledger-audit"], cwd=ROOT,
                                   env={"VOLUNTEER_DATABASE_URL": url, "VOLUNTEER_INSTANCE_PATH": str(tmp),
                                        "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
            print(f"  ledger-audit: {time.perf_counter() - started:.1f} s, exit {audit.returncode}: "
                  f"{(audit.stdout or audit.stderr).strip()[:200]}")
            explain(url)
    ok = True
    for path, t in results["scale"].items():
        ratio = t / results["demo"][path]
        ok &= verdict(f"{path} at scale", ratio <= 2.0, f"p95 {t:.1f} ms = {ratio:.2f} × demo (target ≤ 2×)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
