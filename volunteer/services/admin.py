"""Administration: merchants, user lists, the audit log search."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from volunteer.errors import FieldErrors
from volunteer.extensions import db
from volunteer.models import AuditEvent, Merchant, User
from volunteer.localtime import format_local
from volunteer.services import accounts, attendance, audit, rewards, teams
from volunteer.services.paging import Page, paginate
from volunteer.services.text import clean_text
from volunteer.services.accounts import require_admin


def create_merchant(actor: User, name: str, address: str) -> Merchant:
    """An admin adds a merchant (sponsor)."""
    require_admin(actor)
    errors: dict = {}
    name = clean_text(errors, "name", name, Merchant.name, required=_l("Please enter a name."))
    address = clean_text(errors, "address", address, Merchant.address)
    if errors:
        raise FieldErrors(errors)
    merchant = Merchant(name=name, address=address)
    db.session.add(merchant)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise FieldErrors({"name": _l("A merchant with this name exists already.")}) from None
    audit.record(actor.id, "merchant.create", f"merchant:{merchant.id}", name=merchant.name)
    db.session.commit()
    return merchant


def merchants() -> list[Merchant]:
    """All merchants by name."""
    return list(db.session.scalars(select(Merchant).order_by(Merchant.name)))


def find_users(query: str = "", page: int = 1) -> Page[User]:
    """One page of the users whose name or mobile contains the query, by role and name."""
    statement = select(User).options(joinedload(User.merchant)).order_by(User.role, User.name, User.id)
    if query:
        statement = statement.where(or_(User.name.contains(query), User.mobile.contains(query)))
    return paginate(statement, page)


def search_audit(person: str = "", action: str = "", page: int = 1) -> Page[AuditEvent]:
    """One page of audit events, newest first, by actor (name or mobile) and action prefix."""
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action:
        statement = statement.where(AuditEvent.action.startswith(action))
    if person:
        ids = select(User.id).where(or_(User.name.contains(person), User.mobile.contains(person)))
        statement = statement.where(or_(AuditEvent.actor_id.in_(ids),
                                        AuditEvent.target.in_(select(literal("user:") + cast(User.id, String))
                                                              .where(User.id.in_(ids)))))
    return paginate(statement, page)


def actor_names(events: Iterable[AuditEvent]) -> dict[int, str]:
    """Names of the people in these events (who acted, and whose account it was), in one query."""
    ids = {e.actor_id for e in events if e.actor_id} | {int(t) for e in events for p, _, t in [e.target.partition(":")]
                                                         if p == "user" and t.isdigit()}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}


# --- reading the audit log ----------------------------------------------------------------------------------

ACTION_LABELS = {
    "partner_key.issue": _l("Open311 partner key issued"),
    "partner_key.revoke": _l("Open311 partner key revoked"),
    "account.register": _l("Registered"),
    "account.create": _l("Account created"),
    "account.enable": _l("Account enabled"),
    "account.disable": _l("Account disabled"),
    "account.reset_password": _l("Password reset"),
    "account.change_password": _l("Password changed"),
    "team.create": _l("Team added"),
    "merchant.create": _l("Merchant added"),
    "import.legacy": _l("Imported from the old system"),
    "face.consent": _l("Consent to face check-in"),
    "face.enrol": _l("Face enrolled"),
    "face.delete": _l("Face data deleted"),
    "face.thumbnail_consent": _l("Check-in photo for the coordinator switched on"),
    "face.thumbnail_withdraw": _l("Check-in photo switched off, photos deleted"),
    "shift.create": _l("Shift created"),
    "shift.edit": _l("Shift changed"),
    "shift.cancel": _l("Shift cancelled"),
    "attendance.manual": _l("Attendance recorded by hand"),
    "attendance.approve": _l("Attendance approved"),
    "attendance.reject": _l("Attendance rejected"),
    "points.adjust": _l("Points adjusted"),
    "catalog.create": _l("Reward added"),
    "catalog.propose": _l("Reward proposed by a merchant"),
    "catalog.edit": _l("Reward changed"),
    "catalog.status": _l("Reward status changed"),
    "catalog.restock_request": _l("Restock requested"),
    "catalog.restock_approve": _l("Restock approved"),
    "catalog.restock_decline": _l("Restock declined"),
    "certificate.issue": _l("Certificate issued"),
    "report.create": _l("Patrol report sent"),
    "report.signed": _l("Patrol report signed for"),
    "report.dispatched": _l("Patrol report dispatched"),
    "report.handled": _l("Patrol report handled"),
    "report.closed": _l("Patrol report closed"),
    "report.rejected": _l("Patrol report not taken up"),
    "report.reopened": _l("Patrol report reopened"),
    "report.merged": _l("Patrol report merged into another"),
    "report.points_reversed": _l("Patrol report points taken back"),
    "report_category.update": _l("Report category changed"),
    "team.area": _l("Team area set"),
}

TARGET_LABELS = {"user": _l("Person"), "team": _l("Team"), "shift": _l("Shift"), "attendance": _l("Attendance record"),
                 "merchant": _l("Merchant"), "reward": _l("Reward"), "certificate": _l("Certificate"),
                 "report": _l("Patrol report"), "report_category": _l("Report category")}

#: the facts an event keeps, by name (the shift's and the reward's fields among them)
DETAIL_LABELS = {
    "amount": _l("Points"), "reason": _l("Reason"), "role": _l("Role"), "mobile": _l("Mobile number"),
    "name": _l("Name"), "kind": _l("Level"), "rows": _l("Rows imported"), "users": _l("New volunteers"),
    "skipped": _l("Rows already imported"), "policy_version": _l("Policy version"),
    "templates": _l("Face templates"), "templates_removed": _l("Face templates removed"),
    "thumbnails_removed": _l("Check-in photos deleted"), "model": _l("Face model"),
    "count": _l("Shifts created"), "shift": _l("Shift"), "volunteer": _l("Volunteer"),
    "minutes": _l("Minutes credited"), "points": _l("Points"), "check_in": _l("Check-in time"),
    "check_out": _l("Check-out time"), "title": _l("Title"), "description": _l("Description"),
    "place_name": _l("Patrol place"), "latitude": _l("Latitude"), "longitude": _l("Longitude"),
    "radius_m": _l("Check-in radius (metres)"), "capacity": _l("Places"), "points_per_hour": _l("Points per hour"),
    "starts_at": _l("Starts"), "ends_at": _l("Ends"), "team_id": _l("Team"), "category": _l("Category"),
    "points_cost": _l("Points"), "stock": _l("Stock (empty: unlimited)"),
    "validity_days": _l("Voucher valid for (days)"), "min_star": _l("Minimum stars"),
    "per_volunteer_limit": _l("Limit per volunteer (empty: none)"), "limit_period_days": _l("Limit period (days)"),
    "refund_on_expiry": _l("Refund points when a voucher expires unused"), "status": _l("Status"),
    "proposed_by_id": _l("Proposed by"), "team": _l("Team"), "photos": _l("Photos"), "note": _l("Note"),
    "clock": _l("Deadlines (seconds)"), "circle": _l("Circle"), "corners": _l("Polygon corners"),
}

#: what "before" and "after" are when they are single values
SUBJECTS = {"account.enable": _l("Enabled"), "account.disable": _l("Enabled"), "catalog.status": _l("Status"),
            "attendance.reject": _l("Status"), **{f"report.{step}": _l("State") for step in (
                "signed", "dispatched", "handled", "closed", "rejected", "reopened", "merged")}}

_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?")


@dataclass(frozen=True)
class AuditChange:
    """One line of an event's details: a fact (``before`` is None) or a value before and after."""

    label: str
    after: str
    before: str | None = None


@dataclass(frozen=True)
class AuditLine:
    """An audit event as a person reads it: what happened, to what, and the details as a before → after table."""

    event: AuditEvent
    action: str
    target: str
    changes: list[AuditChange]

    @property
    def has_before(self) -> bool:
        """Whether any line is a change (the table then has a "before" column)."""
        return any(c.before is not None for c in self.changes)


def _readable(key: str, value: Any, action: str) -> str:
    """One stored value in the reader's language: labels for codes, local time for moments, yes/no for flags."""
    if value is None or value in ("", "None"):
        return "—"
    if isinstance(value, bool) or value in ("True", "False"):
        return str(_l("yes") if value in (True, "True") else _l("no"))
    labels = {"category": rewards.CATEGORY_LABELS, "role": accounts.ROLE_LABELS, "kind": teams.KIND_LABELS,
              "status": rewards.REWARD_STATUS_LABELS}.get(key)
    if key in ("before", "after"):
        labels = {"catalog.status": rewards.REWARD_STATUS_LABELS,
                  "attendance.reject": attendance.STATUS_LABELS}.get(action)
    if labels is not None:
        return str(labels.get(value, value))
    if isinstance(value, str) and _MOMENT.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return format_local(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except (ValueError, OverflowError):  # typed text that only looks like a moment ("0001-01-01T00:00")
            pass
    return str(value)


def _label(key: str) -> str:
    return str(DETAIL_LABELS.get(key, key))


def describe_event(event: AuditEvent, names: dict[int, str] | None = None) -> AuditLine:
    """What an audit event says, readable: the action's name, its target, and its details as a table (for an edit,
    the fields that changed, before and after)."""
    details = dict(event.details or {})
    before, after = details.pop("before", None), details.pop("after", None)
    changes: list[AuditChange] = []
    if isinstance(after, dict):
        old = before if isinstance(before, dict) else None
        for key, value in after.items():
            now = _readable(key, value, event.action)
            if old is None:
                changes.append(AuditChange(_label(key), now))
            elif (was := _readable(key, old.get(key), event.action)) != now:
                changes.append(AuditChange(_label(key), now, was))
        if old is not None and not changes:
            changes.append(AuditChange(str(_l("Changes")), str(_l("none"))))
    elif before is not None or after is not None:
        changes.append(AuditChange(str(SUBJECTS.get(event.action, _l("Value"))),
                                   _readable("after", after, event.action) if after is not None else "—",
                                   _readable("before", before, event.action)))
    changes += [AuditChange(_label(key), _readable(key, value, event.action)) for key, value in details.items()]
    kind, _, ident = event.target.partition(":")
    target = f"{TARGET_LABELS[kind]} #{ident}" if kind in TARGET_LABELS and ident else event.target
    if kind == "user" and ident.isdigit() and (names or {}).get(int(ident)):
        target = f"{names[int(ident)]} ({target})"
    return AuditLine(event, str(ACTION_LABELS.get(event.action, event.action)), target, changes)
