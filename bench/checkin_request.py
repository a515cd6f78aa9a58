"""Benchmark 2: the full HTTP check-in (multipart frames + location, liveness, DB writes) through the app's test
client vs the verify path alone (analyse + compare) on the same frames. Target: overhead ≤ 20 %."""

from __future__ import annotations

import io
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from common import PHOTOS, median, require_photos, verdict

ROUNDS = 20


def frames(trim: int) -> list[bytes]:
    from PIL import Image, ImageOps

    def jpeg(name: str, mirror: bool = False) -> bytes:
        img = Image.open(PHOTOS / name).convert("RGB")
        img = ImageOps.mirror(img) if mirror else img
        img = img.crop((trim, trim, img.width - trim, img.height - trim))
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=90)
        return buffer.getvalue()

    return [jpeg("obama2.jpg", mirror=True), jpeg("obama2.jpg"), jpeg("obama.jpg")]


def main() -> int:
    require_photos()
    from flask_migrate import upgrade
    from werkzeug.security import generate_password_hash

    from volunteer import create_app, faces
    from volunteer.db import utcnow
    from volunteer.extensions import db
    from volunteer.models import Role, Shift, Signup, SignupStatus, Team, TeamKind, User
    from volunteer.services import face_id

    tmp = Path(tempfile.mkdtemp())
    app = create_app({"INSTANCE_PATH": str(tmp), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite3'}",
                      "WTF_CSRF_ENABLED": False, "FACE_TEST_CHALLENGE": "left,right,straight",
                      "CHECKIN_ATTEMPTS": 1000})
    with app.app_context():
        upgrade()
        team = Team(name="宝石社区", kind=TeamKind.COMMUNITY, path="/1/")
        user = User(name="张建华", mobile="13800000004", role=Role.VOLUNTEER, teams=[team],
                    password_hash=generate_password_hash("Bench-pass-1"))
        db.session.add_all([team, user])
        db.session.flush()
        now = utcnow()
        shift_ids = []
        for i in range(ROUNDS + 1):
            shift = Shift(team_id=team.id, title=f"巡逻{i}", place_name="北山街", latitude=30.259, longitude=120.145,
                          radius_m=300, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=2),
                          capacity=5, confirmed_count=1, points_per_hour=10, created_by_id=user.id)
            db.session.add(shift)
            db.session.flush()
            db.session.add(Signup(shift_id=shift.id, user_id=user.id, status=SignupStatus.CONFIRMED, queued_at=now))
            shift_ids.append(shift.id)
        db.session.commit()
        face_id.give_consent(user.id)
        face_id.enrol(user.id, [(PHOTOS / n).read_bytes() for n in ("obama.jpg", "obama3.jpg", "32bit.png")])
        templates = [faces.decrypt(t.ciphertext, app.config["FACE_KEY"]) for t in user_templates(user.id)]
        user_id = user.id

    client = app.test_client()
    client.post("/login", data={"mobile": "13800000004", "password": "Bench-pass-1"})
    sets = [frames(trim) for trim in range(1, ROUNDS + 2)]
    http, alone = [], []
    for index in range(ROUNDS + 1):
        batch = sets[index]
        with app.app_context():
            token = face_id.issue_challenge(user_id).token
        start = time.perf_counter()
        response = client.post(f"/volunteer/shifts/{shift_ids[index]}/check-in", headers={"Accept": "application/json"},
                               data={"token": token, "latitude": "30.2591", "longitude": "120.1452",
                                     "frame": [(io.BytesIO(b), f"f{i}.jpg") for i, b in enumerate(batch)]})
        elapsed_http = time.perf_counter() - start
        assert response.json["ok"], response.json
        start = time.perf_counter()
        for data in batch:
            faces.nearest(faces.analyse(data).encoding, templates)
        elapsed_alone = time.perf_counter() - start
        if index:  # the first round warms up
            http.append(elapsed_http * 1000)
            alone.append(elapsed_alone * 1000)
    overhead = median(http) / median(alone) - 1
    print(f"HTTP check-in  p50 {median(http):7.1f} ms   verify path alone p50 {median(alone):7.1f} ms   ({ROUNDS} rounds,"
          f" 3 frames each)")
    return 0 if verdict("check-in overhead", overhead <= 0.20, f"{overhead:+.1%} (target ≤ +20%)") else 1


def user_templates(user_id: int):
    from sqlalchemy import select

    from volunteer.extensions import db
    from volunteer.models import FaceTemplate

    return db.session.scalars(select(FaceTemplate).where(FaceTemplate.user_id == user_id)).all()


if __name__ == "__main__":
    raise SystemExit(main())
