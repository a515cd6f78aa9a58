"""What each role's home page shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from volunteer.models import User


@dataclass
class HomeSummary:
    """Facts for one home page; the template picks what its role needs."""

    user: User
    facts: dict[str, Any] = field(default_factory=dict)


def summary_for(user: User) -> HomeSummary:
    """Gather what this person should see first."""
    return HomeSummary(user=user)
