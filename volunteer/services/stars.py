"""Star levels from cumulative approved service hours (the national ladder by default)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app


def thresholds_hours() -> list[int]:
    """Hours needed for one to five stars."""
    return [int(h) for h in str(current_app.config["STAR_THRESHOLDS"]).split(",")]


def star_level(minutes: int) -> int:
    """0–5 stars for this many approved minutes."""
    return sum(1 for hours in thresholds_hours() if minutes >= hours * 60)


@dataclass(frozen=True)
class StarProgress:
    """Where a volunteer stands on the ladder."""

    stars: int
    hours: float
    next_hours: int | None
    percent: int


def progress(minutes: int) -> StarProgress:
    """Stars now and the way to the next one."""
    ladder = thresholds_hours()
    stars = star_level(minutes)
    hours = minutes / 60
    if stars >= len(ladder):
        return StarProgress(stars, hours, None, 100)
    low = ladder[stars - 1] if stars else 0
    high = ladder[stars]
    return StarProgress(stars, hours, high, int(100 * (hours - low) / (high - low)))
