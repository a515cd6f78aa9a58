"""Benchmark 5: PostgreSQL seeded with 1,000,000 volunteers, 100,000 shifts, 10,000,000 ledger entries and
1,000,000 patrol reports (COPY, not the ORM). Reports server time p95 of the volunteer home, the approval queue,
the catalog, the handler's report queue and map and the volunteer's report map as a ratio to the same pages on
demo-sized data (target ≤ 2×), the SQL statements per page (target: the same at both sizes), `ledger-audit`
time, and the plans (EXPLAIN) of the page queries. The public Open311 list is measured too, for information.

Usage: bench/scale.py [--volunteers 1000000] [--shifts 100000] [--entries 10000000] [--reports 1000000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, percentile, recreate_pg, verdict

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


#: the measured coordinator's team gets this many open reports in both runs; the volunteer this many own reports
QUEUE_REPORTS = 60
OWN_REPORTS = 30
#: measured and printed, without a verdict (its total is a count over the 90-day window: see docs/PERFORMANCE.md)
INFORMATIONAL = {"/open311/v2/requests.json"}


def seed_reports(url: str, reports: int, volunteers: int) -> None:
    """Patrol reports with COPY: one in 20 open (the rest closed after the whole loop), spread over 999 teams;
    the measured coordinator's team 100 has the same QUEUE_REPORTS open ones in both runs, the measured volunteer
    (user 42) the same OWN_REPORTS. No timeline rows: the queue and the maps do not read them."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    now = datetime.now(UTC)
    staff = volunteers + 1
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM report_categories WHERE level = 2 AND NOT sensitive ORDER BY id")
        categories = [row[0] for row in cur.fetchall()]
        columns = ("reporter_id, category_id, team_id, description, latitude, longitude, location_source, state, "
                   "clock_from, due_at, signed_at, signed_by_id, dispatched_at, assigned_team_id, handled_at, "
                   "handled_by_id, closed_at, closed_by_id, status_note, confirmed_useful, points_awarded, created_at")
        with cur.copy(f"COPY reports ({columns}) FROM STDIN") as copy:
            for i in range(reports):
                created = now - timedelta(minutes=i % 40_000, seconds=i % 60)
                reporter = 42 if i < OWN_REPORTS else 1 + (i * 7919) % volunteers
                reporter = 43 if reporter == 42 and i >= OWN_REPORTS else reporter
                team = 100 if i < QUEUE_REPORTS else 101 + i % 999
                category = categories[i % len(categories)]
                lat, lon = 30.20 + (i % 1000) / 10_000, 120.10 + (i // 1000 % 1000) / 10_000
                if i < QUEUE_REPORTS or i % 20 == 0:
                    copy.write_row((reporter, category, team, "巡逻发现", lat, lon, "gps", "new", created,
                                    created + timedelta(minutes=1), None, None, None, None, None, None, None, None,
                                    "", False, 0, created))
                else:
                    copy.write_row((reporter, category, team, "巡逻发现", lat, lon, "gps", "closed", created, None,
                                    created + timedelta(seconds=30), staff, created + timedelta(minutes=10), team,
                                    created + timedelta(hours=1), staff, created + timedelta(hours=2), staff,
                                    "已处理", False, 0, created))
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE reports")


def page_times(url: str, tmp: Path, volunteer_mobile: str) -> dict[str, tuple[float, int]]:
    """p95 server time (ms) and SQL statements of each page, through the app's test client."""
    from sqlalchemy import event

    from volunteer import create_app

    app = create_app({"INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    statements = [0]
    with app.app_context():
        from volunteer.extensions import db

        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    times: dict[str, tuple[float, int]] = {}
    for mobile, path in ((volunteer_mobile, "/home"), ("19999999999", "/coordinator/approvals"),
                         (volunteer_mobile, "/volunteer/rewards"), ("19999999999", "/reports/queue"),
                         ("19999999999", "/reports/map"), (volunteer_mobile, "/reports/mine/map"),
                         (None, "/open311/v2/requests.json")):
        client = app.test_client()
        if mobile:
            page = client.get("/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            client.post("/login", data={"mobile": mobile, "password": PASSWORD, "csrf_token": token})
        first = client.get(path)
        assert first.status_code == 200, (path, first.status_code, first.headers.get("Location"))
        statements[0] = 0
        client.get(path)
        count = statements[0]
        samples = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        times[path] = (percentile(samples, 95), count)
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
        "report queue (team 100)": "SELECT * FROM reports WHERE state IN ('new', 'signed', 'dispatched', 'handled') "
                                   "AND (team_id IN (100) OR assigned_team_id IN (100) OR assigned_user_id = 1) "
                                   "ORDER BY due_at, id LIMIT 50",
        "my reports (user 42)": "SELECT * FROM reports WHERE reporter_id = 42 ORDER BY created_at DESC, id DESC "
                                "LIMIT 50",
        "open311 page": "SELECT * FROM reports JOIN report_categories ON report_categories.id = reports.category_id "
                        "WHERE NOT report_categories.sensitive AND reports.created_at >= now() - interval '90 days' "
                        "ORDER BY reports.created_at DESC, reports.id DESC LIMIT 100",
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
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--db-prefix", default="volunteer_scale", help="databases <prefix>_demo and <prefix>_scale")
    args = parser.parse_args()
    from flask_migrate import upgrade

    from volunteer import create_app

    results = {}
    for label, sizes in (("demo", (100, 200, 1000, 200)),
                         ("scale", (args.volunteers, args.shifts, args.entries, args.reports))):
        tmp = Path(tempfile.mkdtemp())
        url = recreate_pg(f"{args.db_prefix}_{label}")
        app = create_app({"INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            from volunteer.extensions import db

            db.engine.dispose()
        started = time.perf_counter()
        seed(url, *sizes[:3])
        seed_reports(url, sizes[3], sizes[0])
        print(f"{label}: seeded {sizes[0]:,} volunteers, {sizes[1]:,} shifts, {sizes[2]:,} point entries, "
              f"{sizes[3]:,} reports in {time.perf_counter() - started:.0f} s")
        results[label] = page_times(url, tmp, "13000000042")
        print("  p95 ms (statements): " + ", ".join(f"{p} {t:.1f} ({n})" for p, (t, n) in results[label].items()))
        if label == "scale":
            started = time.perf_counter()
            audit = subprocess.run([str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "ledger-audit"], cwd=ROOT,
                                   env={"VOLUNTEER_DATABASE_URL": url, "VOLUNTEER_INSTANCE_PATH": str(tmp),
                                        "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
            print(f"  ledger-audit: {time.perf_counter() - started:.1f} s, exit {audit.returncode}: "
                  f"{(audit.stdout or audit.stderr).strip()[:200]}")
            explain(url)
    ok = True
    for path, (t, n) in results["scale"].items():
        demo_t, demo_n = results["demo"][path]
        ratio = t / demo_t
        detail = f"p95 {t:.1f} ms = {ratio:.2f} × demo (target ≤ 2×), {n} statements (demo {demo_n})"
        if path in INFORMATIONAL:
            print(f"INFO  {path} at scale: {detail}")
            continue
        ok &= verdict(f"{path} at scale", ratio <= 2.0 and n == demo_n, detail)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
