"""The one clock for people: local time in the configured zone; UTC in the database.

The zone is the app's ``TIMEZONE`` setting (``VOLUNTEER_TIMEZONE``, default ``Asia/Shanghai``). Every "today",
"this month", day or month filter and every date shown on a page, CSV or certificate goes through this module,
so the server's own ``TZ`` never matters and the dashboard, the settlement and the exports agree on dates.

Bounds are computed here, in Python, as UTC instants (``[start, end)``), and queries compare stored UTC
timestamps with them. That is correct in any zone, including one with daylight saving time (a local day may be
23 or 25 hours long), and works the same on SQLite and PostgreSQL — unlike shifting timestamps by a fixed
offset in SQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


@lru_cache(maxsize=8)
def _zone_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    """The configured zone: the current app's TIMEZONE, or (outside an app) the environment's or the default."""
    if has_app_context():
        return _zone_named(current_app.config["TIMEZONE"])
    from volunteer.config import default_timezone

    return _zone_named(default_timezone())


def local_now() -> datetime:
    """The current local time, aware, in the configured zone."""
    return datetime.now(zone())


def local_today() -> date:
    """Today's date in the configured zone (not the server's)."""
    return local_now().date()


def to_local(moment: datetime) -> datetime:
    """A stored UTC moment in local time."""
    return moment.astimezone(zone())


def local_date(moment: datetime) -> date:
    """The local calendar date of a stored UTC moment."""
    return to_local(moment).date()


def local_midnight(day: date) -> datetime:
    """The UTC instant at which a local calendar day begins."""
    return datetime.combine(day, time.min, tzinfo=zone()).astimezone(UTC)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC start and end of one local calendar day (not always 24 hours apart under daylight saving)."""
    return local_midnight(day), local_midnight(day + timedelta(days=1))


def next_month(year: int, month: int) -> tuple[int, int]:
    """The (year, month) after this one."""
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The UTC start and end of one local calendar month."""
    return local_midnight(date(year, month, 1)), local_midnight(date(*next_month(year, month), 1))


def this_month() -> tuple[int, int]:
    """The current local (year, month)."""
    today = local_today()
    return today.year, today.month


def this_month_bounds() -> tuple[datetime, datetime]:
    """The UTC start and end of the current local month."""
    return month_bounds(*this_month())


def recent_months(count: int, today: date | None = None) -> list[tuple[int, int]]:
    """The last ``count`` local (year, month) pairs, oldest first, ending with the current month."""
    today = today or local_today()
    months, year, month = [], today.year, today.month
    for _ in range(count):
        months.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(months))


def parse_local(text: str) -> datetime | None:
    """An <input type=datetime-local> value (local time) as an aware UTC datetime, or None (also for a moment
    that has no UTC equivalent, such as 0001-01-01 00:00 in Hangzhou)."""
    try:
        naive = datetime.fromisoformat((text or "").strip())
        if naive.tzinfo is not None:
            return naive.astimezone(UTC)
        return naive.replace(tzinfo=zone()).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_local(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """For templates, CSVs and certificates: local time as text ("" for no moment)."""
    return to_local(moment).strftime(pattern) if moment else ""
