"""Writing the audit log (a helper: it adds, the calling use case commits)."""

from __future__ import annotations

from typing import Any

from volunteer.extensions import db
from volunteer.models import AuditEvent


def record(actor_id: int | None, action: str, target: str = "", **details: Any) -> AuditEvent:
    """Add one audit event to the current transaction."""
    event = AuditEvent(actor_id=actor_id, action=action, target=target, details=_jsonable(details))
    db.session.add(event)
    return event


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
