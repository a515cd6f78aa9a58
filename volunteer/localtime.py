"""Hangzhou local time for people; UTC in the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Shanghai")


def to_local(moment: datetime) -> datetime:
    """A stored UTC moment in Hangzhou time."""
    return moment.astimezone(ZONE)


def parse_local(text: str) -> datetime | None:
    """An <input type=datetime-local> value (Hangzhou time) as an aware UTC datetime, or None."""
    try:
        naive = datetime.fromisoformat((text or "").strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=ZONE).astimezone(UTC)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC start and end of one Hangzhou calendar day."""
    start = datetime.combine(day, time.min, tzinfo=ZONE).astimezone(UTC)
    return start, start + timedelta(days=1)


def format_local(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """For templates: Hangzhou time as text."""
    return to_local(moment).strftime(pattern) if moment else ""
