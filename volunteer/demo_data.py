"""Demo shifts, rewards and balances (grows with each feature)."""

from __future__ import annotations

from datetime import datetime


def seed_activity(people, community, merchant, now: datetime) -> None:
    """Nothing more yet."""
