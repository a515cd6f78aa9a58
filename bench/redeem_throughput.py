"""Benchmark 3: redemptions per second through gunicorn on 127.0.0.1 with 16 concurrent clients, against
`pgbench -b tpcb-like` with the same client count on the same PostgreSQL server in the same run.
Target: ≥ 0.25 × pgbench's tps, zero oversell, ledger audit clean. The same is reported for SQLite.

Usage: bench/redeem_throughput.py [--seconds 15] [--clients 16] [--workers 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

from common import ROOT, verdict

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "Bench-pass-1"
STOCK = 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str, clients: int, tmp: Path) -> int:
    """Migrate and seed: a merchant, one reward, `clients` volunteers with plenty of points."""
    from flask_migrate import upgrade
    from werkzeug.security import generate_password_hash

    from volunteer import create_app
    from volunteer.extensions import db
    from volunteer.models import Merchant, Reward, Role, Team, TeamKind, User
    from volunteer.services import ledger

    app = create_app({"INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        team = Team(name="宝石社区", kind=TeamKind.COMMUNITY, path="/1/")
        merchant = Merchant(name="压测商户")
        reward = Reward(merchant=merchant, category="goods", title="压测奖品", points_cost=1, stock=STOCK)
        db.session.add_all([team, merchant, reward])
        password_hash = generate_password_hash(PASSWORD)
        users = [User(name=f"志愿者{i}", mobile=f"1390000{i:04d}", password_hash=password_hash,
                      role=Role.VOLUNTEER, teams=[team]) for i in range(clients)]
        db.session.add_all(users)
        db.session.flush()
        for user in users:
            ledger.credit(user.id, 10_000_000, "adjustment", f"bench:{user.id}")
        db.session.commit()
        reward_id = reward.id
        db.engine.dispose()
    return reward_id


class Client(threading.Thread):
    """One volunteer: sign in, open the reward page once, then redeem as fast as the server answers."""

    def __init__(self, port: int, mobile: str, reward_id: int, barrier: threading.Barrier, window: dict) -> None:
        super().__init__(daemon=True)
        self.port, self.mobile, self.reward_id, self.barrier, self.window = port, mobile, reward_id, barrier, window
        self.cookie, self.ok, self.refused, self.errors = "", 0, 0, 0

    def request(self, conn, method: str, path: str, body: dict | None = None):
        headers = {"Cookie": self.cookie}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header, value in response.getheaders():
            if getattr(self, "keep_cookie", False):
                break
            if header.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return response, text

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        _, page = self.request(conn, "GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        self.request(conn, "POST", "/login", {"mobile": self.mobile, "password": PASSWORD, "csrf_token": token})
        _, page = self.request(conn, "GET", f"/volunteer/rewards/{self.reward_id}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        self.keep_cookie = True  # a browser shows the flash on the next page; here it must not pile up
        self.barrier.wait()  # everybody signed in: the measured window starts now, for all at once
        seen = 0  # the newest voucher this client knows of: a repeat within minutes is confirmed, not asked again
        while time.perf_counter() < self.window["stop"]:
            response, _ = self.request(conn, "POST", f"/volunteer/rewards/{self.reward_id}/redeem",
                                       {"csrf_token": token, "key": uuid.uuid4().hex, "seen": seen})
            location = response.getheader("Location") or ""
            if response.status == 302 and "/volunteer/vouchers/" in location:
                self.ok += 1
                seen = int(location.rstrip("/").rsplit("/", 1)[1])
            elif response.status == 302:
                self.refused += 1
            else:
                self.errors += 1


def run_app(url: str, clients: int, workers: int, seconds: float) -> tuple[float, int]:
    tmp = Path(tempfile.mkdtemp())
    reward_id = prepare(url, clients, tmp)
    port = free_port()
    env = dict(os.environ, VOLUNTEER_DATABASE_URL=url, VOLUNTEER_SECRET_KEY="bench-secret",
               VOLUNTEER_FACE_KEY="x" * 43 + "=", VOLUNTEER_INSTANCE_PATH=str(tmp))
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
                               "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        barrier, window = threading.Barrier(clients + 1), {}
        threads = [Client(port, f"1390000{i:04d}", reward_id, barrier, window) for i in range(clients)]
        for t in threads:
            t.start()
        window["stop"] = time.perf_counter() + 3600
        barrier.wait(timeout=120)
        started = time.perf_counter()
        window["stop"] = started + seconds
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        ok = sum(t.ok for t in threads)
        errors = sum(t.errors for t in threads) + sum(t.refused for t in threads)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    oversold = check_ledger(url, reward_id, ok, tmp)
    print(f"  {ok} redemptions in {elapsed:.1f} s = {ok / elapsed:.0f}/s; {errors} refused or failed; "
          f"oversold: {oversold}")
    return ok / elapsed, oversold + errors


def check_ledger(url: str, reward_id: int, ok: int, tmp: Path) -> int:
    from sqlalchemy import func, select

    from volunteer import create_app
    from volunteer.extensions import db
    from volunteer.models import Reward, Voucher
    from volunteer.services import ledger

    app = create_app({"INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        issued = db.session.scalar(select(func.count(Voucher.id)).where(Voucher.reward_id == reward_id))
        stock = db.session.scalar(select(Reward.stock).where(Reward.id == reward_id))
        mismatches = ledger.find_mismatches()
        print(f"  vouchers {issued}, stock left {stock}, stock + vouchers = {stock + issued} (initial {STOCK}); "
              f"ledger audit: {'clean' if not mismatches else mismatches[:3]}")
        db.engine.dispose()
    return abs(STOCK - stock - issued) + (issued != ok) + len(mismatches)


def recreate_pg(name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def run_pgbench(clients: int, seconds: int) -> float:
    recreate_pg("volunteer_pgbench")
    base = ["-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run(["pgbench", *base, "-i", "-q", "-s", "10", "volunteer_pgbench"], check=True, capture_output=True)
    out = subprocess.run(["pgbench", *base, "-b", "tpcb-like", "-c", str(clients), "-j", "2", "-T", str(seconds),
                          "volunteer_pgbench"], check=True, capture_output=True, text=True).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    print(f"  pgbench tpcb-like, {clients} clients, {seconds} s: {tps:.0f} tps")
    return tps


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print("PostgreSQL:")
    pgbench_tps = run_pgbench(args.clients, args.seconds)
    app_tps, pg_problems = run_app(recreate_pg("volunteer_bench"), args.clients, args.workers, args.seconds)
    print("SQLite (same clients and workers):")
    sqlite_file = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    sqlite_tps, sqlite_problems = run_app(f"sqlite:///{sqlite_file}", args.clients, args.workers, args.seconds)
    ratio = app_tps / pgbench_tps
    ok = verdict("redemption throughput", ratio >= 0.25, f"{app_tps:.0f}/s = {ratio:.2f} × pgbench (target ≥ 0.25)")
    ok &= verdict("no oversell, audit clean (PostgreSQL)", pg_problems == 0, f"{pg_problems} problems")
    ok &= verdict("no oversell, audit clean (SQLite)", sqlite_problems == 0,
                  f"{sqlite_problems} problems; {sqlite_tps:.0f}/s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
