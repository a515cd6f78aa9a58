"""Benchmark 3: a flash sale, measured against the app's own floor and the database's ceiling in the same run.

One gunicorn (gthread) serving the app on PostgreSQL with Redis for limits and the sold-out cache, on 127.0.0.1:

1. floor: ``--clients`` signed-in volunteers send ``POST /bench/floor`` (session cookie, Flask-Login's user
   load, CSRF check, one ``SELECT 1``: bench/floor_app.py) as fast as answered;
2. redemptions: the same clients redeem a reward with plenty of stock, fresh form keys, as fast as answered.
   Target: ≥ 0.5 × the floor's requests per second. (Rounds alternate floor and redemptions.)
3. the hot row's ceiling: pgbench, the same client count, one statement per transaction:
   ``UPDATE rewards SET stock = stock - 1 WHERE id = $1 AND stock > 0`` on one row of the same table;
4. the flash sale: ``--volunteers`` signed in beforehand wait on the reward's page (stock ``--stock``, one per
   volunteer); the sale opens; each presses once within ``--window`` seconds of the opening (``--eager`` of them
   also once in the second before it). Targets: exactly ``--stock`` vouchers to as many volunteers, no 5xx, no
   negative balance, ledger audit clean, p99 ≤ 2 s, early presses refused, refusals after the sell-out answered
   without the reward's row (rewards table scans counted by PostgreSQL).

CPU per request: the gunicorn processes' and this database's backends' CPU time (from /proc) over the phase,
divided by its requests; the client's own CPU is reported too (it shares the two cores).

Usage: bench/flash_sale.py [--clients 16] [--seconds 10] [--workers 2] [--threads 8] [--volunteers 2000]
                           [--stock 100] [--window 5] [--eager 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import resource
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, percentile, recreate_pg, verdict

DATABASE = "volunteer_flash"
REDIS = "redis://127.0.0.1:6379/13"
SECRET = "flash-bench-secret"
PASSWORD = "Bench-pass-1"
POINTS = 1_000_000
USER_AGENT = "flash-sale-bench"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY_RE = re.compile(r'name="key" value="([^"]+)"')


# --- database ---------------------------------------------------------------------------------------------

@dataclass
class Seeded:
    url: str
    mobiles: list[str]
    plenty_id: int  # the throughput phase's reward
    sale_id: int  # the flash sale's reward
    ceiling_id: int  # pgbench's row


def seed(url: str, volunteers: int, stock: int, tmp: Path) -> Seeded:
    """Migrate; a merchant, three rewards, ``volunteers`` volunteers with plenty of points."""
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
        merchant = Merchant(name="西湖游船")
        plenty = Reward(merchant=merchant, category="goods", title="压测奖品", points_cost=1, stock=10_000_000)
        sale = Reward(merchant=merchant, category="scenic", title="西湖游船票（10:00 开抢）", points_cost=100,
                      stock=stock, per_volunteer_limit=1, limit_period_days=30,
                      on_sale_from=utc_in(3600))  # opened for real just before the sale phase
        ceiling = Reward(merchant=merchant, category="goods", title="pgbench", points_cost=1, stock=1_000_000_000)
        db.session.add_all([team, merchant, plenty, sale, ceiling])
        # a cheap hash: 2,000 sign-ins must not take minutes (the login's own cost is not what is measured)
        password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        mobiles = [f"139{i:08d}" for i in range(volunteers)]
        db.session.add_all([User(name=f"志愿者{i}", mobile=m, password_hash=password_hash, role=Role.VOLUNTEER,
                                 locale="en", teams=[team]) for i, m in enumerate(mobiles)])
        db.session.flush()
        ids = db.session.scalars(db.select(User.id).order_by(User.id)).all()
        ledger.credit_many([(uid, POINTS, f"bench:{uid}", "bench") for uid in ids], "adjustment")
        db.session.commit()
        seeded = Seeded(url, mobiles, plenty.id, sale.id, ceiling.id)
        db.engine.dispose()
    return seeded


def utc_in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def sql(url: str, statement: str, **params) -> list:
    """Run one statement in its own connection (which ends, so its statistics reach PostgreSQL's counters)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        rows = result.all() if result.returns_rows else []
    engine.dispose()
    return rows


# --- CPU accounting ----------------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Meter:
    """CPU of the gunicorn processes, of this database's backends and of this client, between two readings."""

    def __init__(self, master: int, url: str) -> None:
        self.master, self.url = master, url

    def backends(self) -> list[int]:
        from sqlalchemy import create_engine, text

        if not hasattr(self, "engine"):
            self.engine = create_engine(self.url, pool_size=1)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]

    def read(self) -> dict:
        app = [self.master, *children(self.master)]
        return {"app": {p: proc_cpu(p) for p in app}, "db": {p: proc_cpu(p) for p in self.backends()},
                "client": resource.getrusage(resource.RUSAGE_SELF).ru_utime
                + resource.getrusage(resource.RUSAGE_SELF).ru_stime}

    @staticmethod
    def spent(before: dict, after: dict) -> dict:
        """CPU seconds spent meanwhile (a process born meanwhile counts from 0)."""
        return {"app": sum(v - before["app"].get(p, 0.0) for p, v in after["app"].items()),
                "db": sum(v - before["db"].get(p, 0.0) for p, v in after["db"].items()),
                "client": after["client"] - before["client"]}


# --- a small HTTP/1.1 client on asyncio (the client shares the two cores: it must be cheap) ---------------

class Connection:
    def __init__(self, port: int) -> None:
        self.port, self.reader, self.writer = port, None, None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def request(self, method: str, path: str, cookie: str, form: dict | None = None):
        """(status, headers as a dict of lists, body); reconnects when the server closed the connection."""
        if self.writer is None:
            await self.open()
        body = urllib.parse.urlencode(form).encode() if form is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {USER_AGENT}\r\n"
                f"Cookie: {cookie}\r\nContent-Length: {len(body)}\r\n")
        if form is not None:
            head += "Content-Type: application/x-www-form-urlencoded\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed an idle keep-alive connection: once more on a new one
            self.close()
            await self.open()
            self.writer.write(head.encode() + b"\r\n" + body)
            status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers: dict[str, list[str]] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        data = await self.reader.readexactly(length) if length else b""
        if "close" in headers.get("connection", [""])[0].lower():
            self.close()
        return status, headers, data


@dataclass
class Volunteer:
    mobile: str
    cookie: str = ""
    csrf: str = ""
    key: str = ""
    #: the newest voucher this volunteer was shown: sent as the confirmation page would ("seen"), so that a repeat
    #: within minutes is a knowing one and not asked again
    seen: int = 0


def keep_cookie(volunteer: Volunteer, headers: dict) -> None:
    for value in headers.get("set-cookie", []):
        if value.startswith("session="):
            volunteer.cookie = value.split(";", 1)[0]


async def sign_in(port: int, volunteer: Volunteer, reward_id: int, conn: Connection) -> None:
    """Sign in through the login form, then open the reward's confirmation page (CSRF token and form key, as a
    browser: the page counts down to the opening there)."""
    _, headers, page = await conn.request("GET", "/login", "")
    keep_cookie(volunteer, headers)
    token = CSRF_RE.search(page.decode()).group(1)
    status, headers, _ = await conn.request("POST", "/login", volunteer.cookie,
                                            {"mobile": volunteer.mobile, "password": PASSWORD, "csrf_token": token})
    assert status == 302, f"sign-in of {volunteer.mobile} answered {status}"
    keep_cookie(volunteer, headers)
    _, headers, page = await conn.request("GET", f"/volunteer/rewards/{reward_id}/redeem", volunteer.cookie)
    keep_cookie(volunteer, headers)
    text = page.decode()
    volunteer.csrf, volunteer.key = CSRF_RE.search(text).group(1), KEY_RE.search(text).group(1)


async def sign_in_all(port: int, volunteers: list[Volunteer], reward_id: int, parallel: int = 16) -> None:
    queue = list(volunteers)

    async def worker() -> None:
        conn = Connection(port)
        while queue:
            await sign_in(port, queue.pop(), reward_id, conn)
        conn.close()

    await asyncio.gather(*(worker() for _ in range(parallel)))


@dataclass
class Tally:
    done: int = 0
    errors: int = 0  # 5xx or anything unexpected
    cookies: int = 0  # responses that wrote the session
    latencies: list[float] = field(default_factory=list)


async def closed_loop(port: int, volunteers: list[Volunteer], path: str, seconds: float, redeem: bool) -> Tally:
    """Each volunteer sends the next request as soon as the last one is answered, for ``seconds``."""
    tally, stop = Tally(), time.perf_counter() + seconds

    async def one(volunteer: Volunteer) -> None:
        conn = Connection(port)
        while time.perf_counter() < stop:
            form = {"csrf_token": volunteer.csrf}
            if redeem:
                form.update(key=uuid.uuid4().hex, seen=str(volunteer.seen))
            started = time.perf_counter()
            status, headers, _ = await conn.request("POST", path, volunteer.cookie, form)
            tally.latencies.append(time.perf_counter() - started)
            tally.done += 1
            tally.cookies += "set-cookie" in headers
            location = headers.get("location", [""])[0]
            if redeem and "/volunteer/vouchers/" in location:
                volunteer.seen = int(location.split("?")[0].rstrip("/").rsplit("/", 1)[1])
            if status >= 500 or (redeem and "/volunteer/vouchers/" not in location) or (not redeem and status != 204):
                tally.errors += 1
        conn.close()

    await asyncio.gather(*(one(v) for v in volunteers))
    return tally


@dataclass
class Press:
    mobile: str
    early: bool
    sent: float  # seconds after the opening
    latency: float
    status: int
    location: str
    cookie: bool


async def flash_sale(port: int, volunteers: list[Volunteer], reward_id: int, opening: float, window: float,
                     eager: int, seed: int = 7) -> list[Press]:
    """Each volunteer presses once at a random moment of the window after ``opening`` (a time.time() instant);
    the first ``eager`` also once in the second before it. Each press on a new connection, like a phone's."""
    chance = random.Random(seed)
    plan = [(v, opening + chance.uniform(0, window), False) for v in volunteers]
    plan += [(v, opening - chance.uniform(0.05, 1.0), True) for v in volunteers[:eager]]
    presses: list[Press] = []

    async def press(volunteer: Volunteer, at: float, early: bool) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        started, sent = time.perf_counter(), time.time() - opening
        conn = Connection(port)
        try:
            status, headers, _ = await asyncio.wait_for(conn.request(
                "POST", f"/volunteer/rewards/{reward_id}/redeem", volunteer.cookie,
                {"csrf_token": volunteer.csrf, "key": volunteer.key if not early else uuid.uuid4().hex}), 30)
            location, cookie = headers.get("location", [""])[0], "set-cookie" in headers
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            status, location, cookie = 599, repr(exc), False
        finally:
            conn.close()
        presses.append(Press(volunteer.mobile, early, sent, time.perf_counter() - started, status, location, cookie))

    await asyncio.gather(*(press(v, at, early) for v, at, early in plan))
    return presses


def notice_text(location: str) -> str:
    """The message a redirect carries (the bench knows the app's secret)."""
    from itsdangerous import URLSafeTimedSerializer

    token = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("notice", [""])[0]
    try:
        return URLSafeTimedSerializer(SECRET, salt="notice").loads(token)[2]
    except Exception:  # noqa: BLE001 - no or unreadable notice
        return ""


# --- pgbench -------------------------------------------------------------------------------------------------

def pgbench_hot_row(reward_id: int, clients: int, seconds: int, tmp: Path) -> float:
    script = tmp / "hot_row.sql"
    script.write_text("UPDATE rewards SET stock = stock - 1 WHERE id = :id AND stock > 0;\n")
    out = subprocess.run(["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-n", "-f", str(script), "-D",
                          f"id={reward_id}", "-c", str(clients), "-j", "2", "-T", str(seconds), DATABASE],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


# --- the run --------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(url: str, workers: int, threads: int, tmp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, VOLUNTEER_DATABASE_URL=url, VOLUNTEER_SECRET_KEY=SECRET,
               VOLUNTEER_FACE_KEY="x" * 43 + "=", VOLUNTEER_INSTANCE_PATH=str(tmp),
               VOLUNTEER_RATELIMIT_STORAGE_URI=REDIS, VOLUNTEER_SOLD_OUT_CACHE_PREFIX=f"bench:{uuid.uuid4().hex}:")
    kind = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), *kind, "-w", str(workers), "--backlog", "4096", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                               "--pythonpath", str(ROOT / "bench"), "floor_app:app"], cwd=ROOT, env=env)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)


def report_phase(name: str, count: int, seconds: float, cpu: dict, latencies: list[float]) -> dict:
    rate = count / seconds
    ms = {k: 1000 * v / max(count, 1) for k, v in cpu.items()}
    print(f"  {name}: {count} requests in {seconds:.1f} s = {rate:.0f}/s; p50 {1000 * percentile(latencies, 50):.1f} "
          f"ms, p95 {1000 * percentile(latencies, 95):.1f} ms, p99 {1000 * percentile(latencies, 99):.1f} ms; "
          f"CPU per request: app {ms['app']:.2f} ms, database {ms['db']:.2f} ms, client {ms['client']:.2f} ms")
    return {"rate": rate, **ms}


def table_activity(url: str) -> tuple[int, int]:
    """(scans, row updates) of the rewards table, as PostgreSQL's statistics count them."""
    row = sql(url, "SELECT seq_scan + coalesce(idx_scan, 0), n_tup_upd FROM pg_stat_user_tables "
                   "WHERE relname = 'rewards'")[0]
    return int(row[0]), int(row[1])


def audit(url: str, tmp: Path, sale_id: int) -> dict:
    from sqlalchemy import func, select

    from volunteer import create_app
    from volunteer.extensions import db
    from volunteer.models import Reward, User, Voucher
    from volunteer.services import ledger

    app = create_app({"INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        result = {
            "vouchers": db.session.scalar(select(func.count(Voucher.id)).where(Voucher.reward_id == sale_id)),
            "holders": db.session.scalar(select(func.count(func.distinct(Voucher.user_id)))
                                         .where(Voucher.reward_id == sale_id)),
            "stock": db.session.scalar(select(Reward.stock).where(Reward.id == sale_id)),
            "negative": db.session.scalar(select(func.count(User.id)).where(User.points_balance < 0)),
            "mismatches": ledger.find_mismatches(),
        }
        db.engine.dispose()
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--volunteers", type=int, default=2000)
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--eager", type=int, default=100)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"({os.cpu_count()} CPUs); gunicorn gthread -w {args.workers} --threads {args.threads}")
    tmp = Path(tempfile.mkdtemp())
    seeded = seed(recreate_pg(DATABASE), args.volunteers, args.stock, tmp)
    volunteers = [Volunteer(m) for m in seeded.mobiles]

    # 1-2: floor and redemptions, alternating rounds, on one server
    server, port = start_gunicorn(seeded.url, args.workers, args.threads, tmp)
    try:
        started = time.perf_counter()
        asyncio.run(sign_in_all(port, volunteers, seeded.sale_id))
        print(f"  {len(volunteers)} volunteers signed in and on the sale's page in {time.perf_counter() - started:.0f} s")
        meter = Meter(server.pid, seeded.url)
        clients, rounds, results = volunteers[:args.clients], 2, {"floor": [], "redeem": []}
        for _ in range(rounds):
            for name, path, redeem in (("floor", "/bench/floor", False),
                                       ("redeem", f"/volunteer/rewards/{seeded.plenty_id}/redeem", True)):
                before, t0 = meter.read(), time.perf_counter()
                tally = asyncio.run(closed_loop(port, clients, path, args.seconds / rounds, redeem))
                results[name].append((tally, time.perf_counter() - t0, Meter.spent(before, meter.read())))
    finally:
        stop(server)
    phases = {}
    for name, runs in results.items():
        count = sum(t.done for t, _, _ in runs)
        seconds = sum(s for _, s, _ in runs)
        cpu = {k: sum(c[k] for _, _, c in runs) for k in ("app", "db", "client")}
        lat = [x for t, _, _ in runs for x in t.latencies]
        phases[name] = report_phase("floor (POST /bench/floor)" if name == "floor" else "redemptions",
                                    count, seconds, cpu, lat)
        phases[name]["errors"] = sum(t.errors for t, _, _ in runs)
        phases[name]["cookies"] = sum(t.cookies for t, _, _ in runs)

    # 3: the hot row's ceiling
    ceiling = pgbench_hot_row(seeded.ceiling_id, args.clients, args.seconds, tmp)
    print(f"  pgbench, one conditional UPDATE of one row, {args.clients} clients: {ceiling:.0f} tps")

    # 4: the flash sale, on a fresh server (so that PostgreSQL's table statistics are complete before and after:
    # a backend reports them when it ends)
    server, port = start_gunicorn(seeded.url, args.workers, args.threads, tmp)
    try:
        asyncio.run(closed_loop(port, volunteers[:args.clients], "/bench/floor", 1.0, False))  # warm the workers
        opening = time.time() + 3
        sql(seeded.url, "UPDATE rewards SET on_sale_from = :at WHERE id = :id",
            at=datetime.fromtimestamp(opening, UTC), id=seeded.sale_id)
        scans_before, _ = table_activity(seeded.url)
        meter = Meter(server.pid, seeded.url)
        before, t0 = meter.read(), time.perf_counter()
        presses = asyncio.run(flash_sale(port, volunteers, seeded.sale_id, opening, args.window, args.eager))
        elapsed = time.perf_counter() - t0
        spent = Meter.spent(before, meter.read())
    finally:
        stop(server)
    time.sleep(1.0)
    scans_after, _ = table_activity(seeded.url)
    result = audit(seeded.url, tmp, seeded.sale_id)

    on_time = [p for p in presses if not p.early]
    early = [p for p in presses if p.early]
    won = [p for p in on_time if "/volunteer/vouchers/" in p.location]
    sold_out = [p for p in on_time if p.status == 302 and "/volunteer/rewards/" in p.location]
    failed = [p for p in presses if p.status >= 500 or p.status not in (302,)]
    early_texts = {notice_text(p.location) for p in early}
    refusal_texts = Counter(notice_text(p.location) for p in sold_out)
    last_sale = max((p.sent + p.latency for p in won), default=0.0)
    print(f"  flash sale: {len(presses)} presses ({len(early)} early) in {elapsed:.1f} s, "
          f"{len(on_time) / args.window:.0f} presses/s on average over the {args.window:.0f} s window")
    report_phase("all presses", len(presses), elapsed, spent, [p.latency for p in presses])
    lat = [p.latency for p in on_time]
    print(f"  presses after the opening: p50 {1000 * percentile(lat, 50):.0f} ms, p95 {1000 * percentile(lat, 95):.0f}"
          f" ms, p99 {1000 * percentile(lat, 99):.0f} ms, max {1000 * max(lat):.0f} ms")
    print(f"  {len(won)} vouchers answered (the last {last_sale:.2f} s after the opening); {len(sold_out)} refusals: "
          + "; ".join(f"{n} × {t!r}" for t, n in refusal_texts.most_common()))
    print(f"  early presses: {len(early)}, answers: {sorted(early_texts)}")
    print(f"  database: {result['vouchers']} vouchers to {result['holders']} volunteers, stock left {result['stock']}, "
          f"negative balances {result['negative']}, ledger audit "
          f"{'clean' if not result['mismatches'] else result['mismatches'][:3]}")
    scans = scans_after - scans_before
    # a sale scans the rewards table twice (the locked terms, the stock UPDATE), an early press once; what is left
    # is refusals that reached the table: two scans each at most
    reached = max(0.0, (scans - 2 * len(won) - len(early)) / 2)
    from_cache = len(sold_out) - reached
    print(f"  the rewards table was scanned {scans} times during the sale: {2 * len(won)} for the sales, "
          f"{len(early)} for the early presses, so about {reached:.0f} of the {len(sold_out)} sold-out refusals "
          f"reached it; {from_cache:.0f} ({100 * from_cache / max(len(sold_out), 1):.0f} %) were answered from the "
          f"cache")
    print(f"  responses that wrote the session: floor {phases['floor']['cookies']}, redemptions "
          f"{phases['redeem']['cookies']}, flash sale {sum(p.cookie for p in presses)}")
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

    ratio = phases["redeem"]["rate"] / phases["floor"]["rate"]
    ok = verdict("redemptions vs the floor", ratio >= 0.5,
                 f"{phases['redeem']['rate']:.0f}/s = {ratio:.2f} × the floor's {phases['floor']['rate']:.0f}/s "
                 f"(target ≥ 0.5); the hot row's ceiling (pgbench) {ceiling:.0f} tps = "
                 f"{phases['redeem']['rate'] / ceiling:.2f} used")
    ok &= verdict("throughput runs without errors or session writes",
                  phases["floor"]["errors"] + phases["redeem"]["errors"] + phases["floor"]["cookies"]
                  + phases["redeem"]["cookies"] == 0,
                  f"errors {phases['floor']['errors']} + {phases['redeem']['errors']}")
    ok &= verdict("exactly the stock sold, one each", result["vouchers"] == args.stock == len(won)
                  and result["holders"] == args.stock and result["stock"] == 0,
                  f"{result['vouchers']} vouchers, {result['holders']} volunteers, {len(won)} answered")
    ok &= verdict("no 5xx, no negative balance, audit clean",
                  not failed and result["negative"] == 0 and not result["mismatches"],
                  f"{len(failed)} failed answers {[(p.status, p.location[:60]) for p in failed[:3]]}")
    ok &= verdict("every other press told 'sold out'", len(won) + len(sold_out) == len(on_time) and set(
        refusal_texts) == {"Sorry, this reward is out of stock. Your points were not used."},
                  f"{sum(refusal_texts.values())} refusals")
    ok &= verdict("early presses refused with the time", len(early_texts) == 1 and all(
        t.startswith("Not yet: this reward goes on sale at") for t in early_texts), f"{len(early)} early presses")
    p99 = percentile(lat, 99)
    ok &= verdict("p99 latency of the presses", p99 <= 2.0, f"{1000 * p99:.0f} ms (target ≤ 2000 ms)")
    ok &= verdict("refusals after the sell-out without the reward's row", from_cache >= 0.9 * len(sold_out),
                  f"{from_cache:.0f} of {len(sold_out)} answered from the cache (target ≥ 90 %)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
