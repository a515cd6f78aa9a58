"""The production path: gunicorn (two workers) on PostgreSQL with Redis for limits, CSRF on, liveness with a random
challenge, driven over real HTTP: enrol, verify, check in, check out, approve, redeem, honour at the till.

SQLite hides wrong column lengths and serialises every transaction; this is the configuration the README
recommends, so this is the test that says the heart of the system works where it will run.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.conftest import PASSWORD
from tests.facekit import jpeg, obama_enrolment
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import (Attendance, AttendanceStatus, FaceFramePrint, Signup, SignupStatus, User, Voucher,
                              VoucherStatus)

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.usefixtures("photos")]

#: the frame that answers each head pose: obama2 is turned to his right, its mirror to his left
POSE_FRAMES = {"left": ("obama2.jpg", True), "right": ("obama2.jpg", False), "straight": ("obama.jpg", False)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn -w 2 wsgi:app`` on a free port, configured only through ``VOLUNTEER_*`` as in production."""

    def __init__(self, database_url: str, instance: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOLUNTEER_")}
        env.update(VOLUNTEER_DATABASE_URL=database_url, VOLUNTEER_INSTANCE_PATH=str(instance),
                   VOLUNTEER_RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379")
        self.log = instance / "gunicorn.log"
        instance.mkdir(parents=True, exist_ok=True)
        self.output = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "--timeout", "120", "-b", f"127.0.0.1:{self.port}",
             "wsgi:app"], cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT)

    def __enter__(self) -> Gunicorn:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()}")
            try:
                urllib.request.urlopen(self.base + "/login", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start: {self.log.read_text()}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.output.close()


class Browser:
    """A cookie-keeping HTTP client that reads CSRF tokens from the pages, as a browser's forms would send them."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, path: str, data: dict | None = None, files: dict | None = None,
                headers: dict | None = None) -> tuple[int, str, str]:
        """(status, final URL, body); redirects are followed like a browser's."""
        body, content_type = None, None
        if files:
            body, content_type = _multipart(data or {}, files)
        elif data is not None:
            body, content_type = urllib.parse.urlencode(data).encode(), "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base + path, data=body, headers=dict(headers or {}))
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, response.url, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.url, error.read().decode()

    def csrf(self, path: str) -> str:
        status, _, page = self.request(path)
        assert status == 200, page[:300]
        return _csrf_in(page)

    def post(self, path: str, data: dict | None = None, files: dict | None = None, page: str | None = None,
             json: bool = False) -> tuple[int, str, str]:
        """POST a form whose CSRF token comes from ``page`` (default: the same path)."""
        fields = {"csrf_token": self.csrf(page or path), **(data or {})}
        return self.request(path, fields, files, {"Accept": "application/json"} if json else None)


def _csrf_in(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return unescape(match.group(1))


def _multipart(fields: dict, files: dict[str, list[bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, blobs in files.items():
        for i, blob in enumerate(blobs):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}{i}.jpg"'
                         f'\r\nContent-Type: image/jpeg\r\n\r\n'.encode() + blob + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _age_replay_prints(user_id: int) -> None:
    """The test photographs hold one turned photograph of Obama, so every set of frames here is a copy of the
    previous one, which the replay check refuses: make the kept prints 31 days old (and so ignored), as if the
    steps were a month apart."""
    db.session.execute(update(FaceFramePrint).where(FaceFramePrint.user_id == user_id)
                       .values(created_at=utcnow() - timedelta(days=31)))
    db.session.commit()


def _frames(steps: list[str], trim: int) -> list[bytes]:
    """Frames answering the server's random challenge; ``trim`` makes each set a new capture."""
    return [jpeg(name, mirror=mirror, trim=trim + i) for i, (name, mirror) in
            ((i, POSE_FRAMES[step]) for i, step in enumerate(steps))]


def _challenge(browser: Browser, page: str) -> tuple[str, list[str]]:
    import json

    status, _, body = browser.post("/faces/challenge", page=page)
    assert status == 200, body[:300]
    payload = json.loads(body)
    return payload["token"], payload["steps"]


@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_enrol_verify_check_in_out_approve_redeem_through_gunicorn_on_postgresql(
        app, postgres_url, tmp_path, make_volunteer, make_coordinator, make_shift, make_staff, make_reward):
    import json

    volunteer = make_volunteer()
    coordinator = make_coordinator()
    staff = make_staff()
    reward = make_reward(merchant=staff.merchant, cost=20, stock=1, title="西湖游船票")
    shift = make_shift(start_in=timedelta(minutes=-90), hours=2, rate=20, creator=coordinator)
    db.session.add(Signup(shift_id=shift.id, user_id=volunteer.id, status=SignupStatus.CONFIRMED,
                          queued_at=utcnow()))
    shift.confirmed_count = 1
    db.session.commit()
    place = {"latitude": "30.2590", "longitude": "120.1450"}

    with Gunicorn(postgres_url, tmp_path / "instance") as server:
        me = Browser(server.base)
        status, url, _ = me.post("/login", {"mobile": volunteer.mobile, "password": PASSWORD})
        assert status == 200 and url.endswith("/home")

        # consent, then three pictures (the column that refused the model version on PostgreSQL)
        status, url, _ = me.post("/faces/consent", {"decision": "accept"})
        assert url.endswith("/faces/enrol")
        status, _, body = me.post("/faces/enrol", files={"photo": obama_enrolment()}, json=True)
        assert status == 200 and json.loads(body)["ok"] is True, body

        # practise: the server's random challenge, answered with matching head poses
        token, steps = _challenge(me, "/faces/verify")
        assert sorted(steps) == ["left", "right", "straight"]
        status, _, body = me.post("/faces/verify", {"token": token}, files={"frame": _frames(steps, 1)},
                                  page="/faces/verify", json=True)
        assert (json.loads(body)["ok"], json.loads(body)["reason"]) == (True, "match"), body
        _age_replay_prints(volunteer.id)

        check_in = f"/volunteer/shifts/{shift.id}/check-in"
        token, steps = _challenge(me, check_in)
        status, _, body = me.post(check_in, {"token": token, **place}, files={"frame": _frames(steps, 5)},
                                  page=check_in, json=True)
        assert status == 200 and json.loads(body)["ok"] is True, body
        # the volunteer patrolled from the start of the shift: move the check-in back rather than wait 90 minutes
        db.session.execute(update(Attendance).where(Attendance.user_id == volunteer.id)
                           .values(check_in_at=shift.starts_at))
        db.session.commit()
        _age_replay_prints(volunteer.id)

        check_out = f"/volunteer/shifts/{shift.id}/check-out"
        token, steps = _challenge(me, check_out)
        status, _, body = me.post(check_out, {"token": token, **place}, files={"frame": _frames(steps, 9)},
                                  page=check_out, json=True)
        assert status == 200 and json.loads(body)["ok"] is True, body

        record = db.session.scalar(select(Attendance).where(Attendance.user_id == volunteer.id))
        assert (record.status, record.minutes_credited) == (AttendanceStatus.PENDING, 90)

        boss = Browser(server.base)
        boss.post("/login", {"mobile": coordinator.mobile, "password": PASSWORD})
        status, _, body = boss.post(f"/coordinator/approvals/{record.id}/approve", page="/coordinator/approvals")
        assert status == 200
        db.session.expire_all()
        assert db.session.get(Attendance, record.id).status == AttendanceStatus.APPROVED
        assert db.session.get(User, volunteer.id).points_balance == 30  # 1 h 30 min × 20 points/hour

        page = f"/volunteer/rewards/{reward.id}/redeem"  # the confirmation page issues the form's key
        _, _, detail = me.request(page)
        key = re.search(r'name="key" value="([^"]+)"', detail).group(1)
        status, url, body = me.post(f"/volunteer/rewards/{reward.id}/redeem", {"key": key}, page=page)
        assert status == 200 and "/volunteer/vouchers/" in url, body[:500]
        voucher = db.session.scalar(select(Voucher).where(Voucher.user_id == volunteer.id))
        db.session.expire_all()
        assert db.session.get(User, volunteer.id).points_balance == 10

        till = Browser(server.base)
        till.post("/login", {"mobile": staff.mobile, "password": PASSWORD})
        status, _, body = till.post(f"/merchant/v/{voucher.code}/redeem", page=f"/merchant/v/{voucher.code}")
        assert status == 200
        db.session.expire_all()
        assert db.session.get(Voucher, voucher.id).status == VoucherStatus.REDEEMED

    assert "Traceback" not in (tmp_path / "instance" / "gunicorn.log").read_text()
