"""Import volunteers and historical service hours from the 1.0 (paper) and 2.0 platform exports.

Every row is validated first and every bad row reported by line number and reason; nothing is imported unless
everything is valid; importing the same file again adds nothing (each row has a stable source key).
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from volunteer.extensions import db
from volunteer.models import EntryKind, HourEntry, Role, Team, User
from volunteer.services import audit, ledger
from volunteer.services.accounts import MOBILE_RE, normalise_mobile, require_admin
from volunteer.services.text import clean_text

COLUMNS = ["record_id", "name", "mobile", "team", "hours", "service_date"]
LEGACY_POINTS_PER_HOUR = 10


@dataclass
class ImportReport:
    """What an import found and did."""

    errors: list[tuple[int, str]] = field(default_factory=list)
    created_users: int = 0
    hour_rows: int = 0
    skipped_rows: int = 0


@dataclass(frozen=True)
class _Row:
    line: int
    key: str
    name: str
    mobile: str
    team: Team
    minutes: int
    note: str


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China often saves GB18030
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8", data, 0, 1, "not UTF-8 or GB18030")


def validate(data: bytes) -> tuple[list[_Row], list[tuple[int, str]]]:
    """Parse and check every row; return the good rows and every problem by line number."""
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        return [], [(1, str(_l("The file is not a CSV in UTF-8 or GB18030.")))]
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], [(1, str(_l("Missing columns: %(columns)s", columns=", ".join(missing))))]
    teams = {t.name: t for t in db.session.scalars(select(Team))}
    rows, errors, seen = [], [], set()
    for line, raw in enumerate(reader, start=2):
        problems = []
        checks: dict = {}
        record_id = clean_text(checks, "record_id", raw.get("record_id"), required=_l("record_id is empty"))
        name = clean_text(checks, "name", raw.get("name"), User.name, required=_l("name is empty"))
        problems += [str(message) if not value else f"{field}: {message}"
                     for field, message, value in ((f, m, (raw.get(f) or "").strip()) for f, m in checks.items())]
        mobile = normalise_mobile(raw.get("mobile") or "")
        if not MOBILE_RE.match(mobile):
            problems.append(str(_l("mobile %(value)s is not an 11-digit mainland number", value=raw.get("mobile"))))
        team = teams.get((raw.get("team") or "").strip())
        if team is None:
            problems.append(str(_l("team %(value)s does not exist", value=raw.get("team"))))
        try:
            hours = float(raw.get("hours") or "")
            if not 0 < hours <= 10000:
                raise ValueError
        except ValueError:
            hours = 0
            problems.append(str(_l("hours %(value)s is not a number between 0 and 10000", value=raw.get("hours"))))
        service_date = (raw.get("service_date") or "").strip()
        if service_date:
            try:
                date.fromisoformat(service_date)
            except ValueError:
                problems.append(str(_l("service_date %(value)s is not a date like 2019-05-01", value=service_date)))
        if record_id and record_id in seen:
            problems.append(str(_l("record_id %(value)s appears twice in the file", value=record_id)))
        seen.add(record_id)
        if problems:
            errors.append((line, "; ".join(problems)))
            continue
        key = "legacy:" + hashlib.sha256(f"{record_id}|{mobile}".encode()).hexdigest()[:40]
        rows.append(_Row(line, key, name, mobile, team, round(hours * 60), f"{record_id} {service_date}".strip()))
    return rows, errors


def import_legacy(actor: User, data: bytes) -> ImportReport:
    """An admin imports, all or nothing: validate every row, then add volunteers and hours in one transaction."""
    require_admin(actor)
    rows, errors = validate(data)
    report = ImportReport(errors=errors)
    if errors or not rows:
        return report
    existing = set(db.session.scalars(select(HourEntry.source_key).where(
        HourEntry.source_key.in_([r.key for r in rows]))))
    earn_points = current_app.config["IMPORTED_HOURS_EARN_POINTS"]
    users = {u.mobile: u for u in db.session.scalars(select(User).where(User.mobile.in_({r.mobile for r in rows})))}
    for row in rows:
        if row.key in existing:
            report.skipped_rows += 1
            continue
        user = users.get(row.mobile)
        if user is None:
            # no usable password: the person sets one through an admin before signing in
            user = User(name=row.name, mobile=row.mobile, role=Role.VOLUNTEER, teams=[row.team],
                        password_hash=generate_password_hash(secrets.token_urlsafe(32)))
            db.session.add(user)
            db.session.flush()
            users[row.mobile] = user
            report.created_users += 1
        ledger.add_minutes(user.id, row.minutes, EntryKind.LEGACY_IMPORT, row.key, note=row.note[:200],
                           actor_id=actor.id)
        points = row.minutes * LEGACY_POINTS_PER_HOUR // 60
        if earn_points and points:
            ledger.credit(user.id, points, EntryKind.LEGACY_IMPORT, row.key, note=row.note[:200], actor_id=actor.id)
        report.hour_rows += 1
    audit.record(actor.id, "import.legacy", "", rows=report.hour_rows, users=report.created_users,
                 skipped=report.skipped_rows)
    db.session.commit()
    return report
