"""Administration: merchants, user lists, the audit log search."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from volunteer.errors import FieldErrors
from volunteer.extensions import db
from volunteer.models import AuditEvent, Merchant, User
from volunteer.services import audit
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
    """Names of the actors of these events, in one query."""
    ids = {e.actor_id for e in events if e.actor_id}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
