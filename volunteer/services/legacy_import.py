"""Import volunteers and historical service hours from the 1.0 (paper) and 2.0 platform exports.

Every row is checked and every bad row reported by line number and reason; nothing is imported unless every row
is good; importing the same file again adds nothing (each row has a stable source key).

Any size: the file is read row by row and written in batches of ``BATCH_ROWS`` as it is read, all in one
transaction that is rolled back when a row turns out bad or anything fails (a failure in the last batch leaves
nothing). No statement carries more than a few thousand values (PostgreSQL refuses more than 65,535 bind
parameters in one) and no ORM object is built per row; the decoded file itself stays in memory (uploads are
limited by MAX_CONTENT_LENGTH).

Hours go only to the person the row names: a mobile that belongs to an admin, a coordinator or merchant staff,
or to a volunteer of another name, is a reported problem, never a credit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from volunteer.db import utcnow
from volunteer.errors import DomainError
from volunteer.extensions import db
from volunteer.models import EntryKind, HourEntry, Role, Team, User, team_members
from volunteer.services import audit, ledger
from volunteer.services.accounts import MOBILE_RE, normalise_mobile, require_admin
from volunteer.services.text import clean_text

COLUMNS = ["record_id", "name", "mobile", "team", "hours", "service_date"]
LEGACY_POINTS_PER_HOUR = 10
#: rows checked against the database and written per batch: a batch's lookups (its source keys, its mobiles)
#: carry at most this many values, far below PostgreSQL's 65,535 bind parameters a statement
BATCH_ROWS = 2000
#: rows between two progress reports
PROGRESS_ROWS = 10_000
#: no real value is longer than a team name (100 characters); a longer field is a mistake, reported, not stored
MAX_FIELD = 100
#: problems listed in a report (``error_count`` counts them all): a wrong file must not make a page of 100,000
MAX_LISTED_ERRORS = 500

_COLUMN_LIMITS = {"name": User.name}
_REQUIRED = {"record_id": _l("record_id is empty"), "name": _l("name is empty")}


class ImportConflictError(DomainError):
    """The same records were written by someone else between our check and our write (a unique key said no)."""

    message = _l("Someone else changed the same records during the import, so nothing was imported. "
                 "Please import the file again.")
    status_code = 409


@dataclass
class ImportReport:
    """What an import found and did."""

    errors: list[tuple[int, str]] = field(default_factory=list)
    error_count: int = 0
    rows_read: int = 0
    created_users: int = 0
    hour_rows: int = 0
    skipped_rows: int = 0

    def add_error(self, line: int, problem: str) -> None:
        """Count a problem; list the first ``MAX_LISTED_ERRORS``."""
        self.error_count += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append((line, problem))


class _Row(NamedTuple):
    line: int
    key: str
    name: str
    mobile: str
    team_id: int
    minutes: int
    note: str


@dataclass(slots=True)
class _Account:
    """Whom a mobile number belongs to, as far as this import knows."""

    user_id: int | None  #: None until this import writes the volunteer
    name: str
    volunteer: bool
    line: int = 0  #: the file's line that introduced the person; 0 for an account that already existed


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China often saves GB18030
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8", data, 0, 1, "not UTF-8 or GB18030")


def _batches(rows: Iterable[_Row], size: int) -> Iterator[list[_Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _read(text: str, report: ImportReport, progress: Callable[[int], None] | None) -> Iterator[_Row]:
    """The good rows, one at a time; every bad row goes into the report with its line number."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error:
        header = []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        report.add_error(1, str(_l("Missing columns: %(columns)s", columns=", ".join(missing))))
        return
    where = {c: header.index(c) for c in COLUMNS}
    teams: dict[str, int] = {name: team_id for name, team_id in db.session.execute(select(Team.name, Team.id))}
    seen: set[str] = set()
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:  # a field beyond csv.field_size_limit (128 KB): the rest of the line is skipped
            report.add_error(line, str(_l("This row cannot be read: a field is longer than %(count)d characters.",
                                          count=MAX_FIELD)))
            continue
        if not fields:  # a blank line
            continue
        report.rows_read += 1
        if progress and report.rows_read % PROGRESS_ROWS == 0:
            progress(report.rows_read)
        row = _check(line, {c: fields[i] if i < len(fields) else "" for c, i in where.items()}, teams, seen, report)
        if row is not None:
            yield row


def _check(line: int, raw: dict[str, str], teams: dict[str, int], seen: set[str],
           report: ImportReport) -> _Row | None:
    """One row checked on its own (the accounts are checked per batch, in ``_Import.keep``)."""
    checks: dict = {}
    for column in COLUMNS:
        if len(raw[column].strip()) > MAX_FIELD:  # never echoed back: it may be 100 KB
            checks[column] = _l("At most %(count)d characters.", count=MAX_FIELD)
        else:  # NUL and other control characters are refused in every field, and never echoed back either
            clean_text(checks, column, raw[column], _COLUMN_LIMITS.get(column), required=_REQUIRED.get(column))
    record_id, name = raw["record_id"].strip(), raw["name"].strip()
    problems = [str(message) if not raw[column].strip() else f"{column}: {message}"
                for column, message in checks.items()]
    mobile = normalise_mobile(raw["mobile"])
    if "mobile" not in checks and not MOBILE_RE.match(mobile):
        problems.append(str(_l("mobile %(value)s is not an 11-digit mainland number", value=raw["mobile"])))
    team_id = teams.get(raw["team"].strip())
    if "team" not in checks and team_id is None:
        problems.append(str(_l("team %(value)s does not exist", value=raw["team"])))
    minutes = 0
    if "hours" not in checks:
        try:
            hours = float(raw["hours"])
            if not 0 < hours <= 10000:
                raise ValueError
            minutes = round(hours * 60)
        except ValueError:
            problems.append(str(_l("hours %(value)s is not a number between 0 and 10000", value=raw["hours"])))
        else:
            if minutes == 0:  # 0.001 hours: an entry of 0 minutes would break the ledger's rule
                problems.append(str(_l("hours %(value)s is less than a minute", value=raw["hours"])))
    service_date = raw["service_date"].strip()
    if service_date and "service_date" not in checks:
        try:
            date.fromisoformat(service_date)
        except ValueError:
            problems.append(str(_l("service_date %(value)s is not a date like 2019-05-01", value=service_date)))
    if record_id and record_id in seen:
        problems.append(str(_l("record_id %(value)s appears twice in the file", value=record_id)))
    seen.add(record_id)
    if problems:
        report.add_error(line, "; ".join(problems))
        return None
    key = "legacy:" + hashlib.sha256(f"{record_id}|{mobile}".encode()).hexdigest()[:40]
    # at most 100 + 1 + a date: the note (200 characters) is never cut
    return _Row(line, key, name, mobile, team_id, minutes, f"{record_id} {service_date}".strip())


def _imported_keys(keys: list[str]) -> set[str]:
    """Which of these source keys an earlier import already wrote."""
    return set(db.session.scalars(select(HourEntry.source_key).where(HourEntry.source_key.in_(keys))))


class _Import:
    """One import's state between batches: whom each mobile belongs to."""

    def __init__(self, actor_id: int | None, report: ImportReport) -> None:
        self.actor_id = actor_id
        self.report = report
        self.accounts: dict[str, _Account] = {}
        self.earn_points = current_app.config["IMPORTED_HOURS_EARN_POINTS"]
        self._password_hash: str | None = None

    def keep(self, batch: list[_Row]) -> list[_Row]:
        """The rows to credit: already imported ones are skipped, rows for someone else's mobile reported."""
        report = self.report
        done = _imported_keys([r.key for r in batch])
        unknown = {r.mobile for r in batch if r.key not in done} - self.accounts.keys()
        if unknown:
            for user_id, mobile, name, role in db.session.execute(
                    select(User.id, User.mobile, User.name, User.role).where(User.mobile.in_(unknown))):
                self.accounts[mobile] = _Account(user_id, name, role == Role.VOLUNTEER)
        kept = []
        for row in batch:
            if row.key in done:
                report.skipped_rows += 1
                continue
            account = self.accounts.setdefault(row.mobile, _Account(None, row.name, True, row.line))
            if not account.volunteer:
                report.add_error(row.line, str(_l(
                    "mobile %(value)s belongs to an account that is not a volunteer", value=row.mobile)))
            elif account.name != row.name and account.line:
                report.add_error(row.line, str(_l(
                    "name %(name)s differs from %(other)s on line %(line)d for the same mobile",
                    name=row.name, other=account.name, line=account.line)))
            elif account.name != row.name:
                report.add_error(row.line, str(_l(
                    "name %(name)s does not match the account of mobile %(value)s", name=row.name,
                    value=row.mobile)))
            else:
                kept.append(row)
        return kept

    def write(self, rows: list[_Row]) -> None:
        """New volunteers, then the batch's hours (and points), in a few statements."""
        new: dict[str, _Row] = {}
        for row in rows:
            if self.accounts[row.mobile].user_id is None:
                new.setdefault(row.mobile, row)
        if new:
            if self._password_hash is None:
                # no usable password: the person sets one through an admin before signing in. One hash of a
                # secret nobody keeps serves the whole import (each hash takes ~70 ms: 100,000 would take hours)
                self._password_hash = generate_password_hash(secrets.token_urlsafe(32))
            now = utcnow()
            db.session.execute(insert(User.__table__), [
                {"name": r.name, "mobile": r.mobile, "role": Role.VOLUNTEER, "password_hash": self._password_hash,
                 "session_token": secrets.token_hex(16), "created_at": now} for r in new.values()])
            for user_id, mobile in db.session.execute(select(User.id, User.mobile).where(User.mobile.in_(new))):
                self.accounts[mobile].user_id = user_id
            db.session.execute(insert(team_members), [
                {"user_id": self.accounts[mobile].user_id, "team_id": r.team_id} for mobile, r in new.items()])
            self.report.created_users += len(new)
        ledger.add_minutes_many([(self.accounts[r.mobile].user_id, r.minutes, r.key, r.note) for r in rows],
                                EntryKind.LEGACY_IMPORT, self.actor_id)
        if self.earn_points:
            ledger.credit_many([(self.accounts[r.mobile].user_id, r.minutes * LEGACY_POINTS_PER_HOUR // 60, r.key,
                                 r.note) for r in rows if r.minutes * LEGACY_POINTS_PER_HOUR // 60],
                               EntryKind.LEGACY_IMPORT, self.actor_id)
        self.report.hour_rows += len(rows)


def import_legacy(actor: User | None, data: bytes,
                  progress: Callable[[int], None] | None = None) -> ImportReport:
    """All or nothing, any size: check every row and write it in batches in one transaction, committed only
    when no row had a problem. ``progress`` hears the number of rows read every ``PROGRESS_ROWS``.

    ``actor`` is the admin importing (checked here); None only for the operator's CLI command."""
    if actor is not None:
        require_admin(actor)
    actor_id = actor.id if actor is not None else None
    report = ImportReport()
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        report.add_error(1, str(_l("The file is not a CSV in UTF-8 or GB18030.")))
        return report
    job = _Import(actor_id, report)
    try:
        for batch in _batches(_read(text, report, progress), BATCH_ROWS):
            rows = job.keep(batch)
            if not report.error_count:  # after the first problem, only check: everything is rolled back
                job.write(rows)
        if report.error_count or not report.hour_rows + report.skipped_rows:
            db.session.rollback()
            return report
        audit.record(actor_id, "import.legacy", "", rows=report.hour_rows, users=report.created_users,
                     skipped=report.skipped_rows)
        db.session.commit()
    except IntegrityError as exc:  # a unique key: a concurrent import or registration of the same records
        db.session.rollback()
        raise ImportConflictError() from exc
    except BaseException:
        db.session.rollback()
        raise
    return report
