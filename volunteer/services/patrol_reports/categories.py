"""The two-level category tree: seeding the shipped tree, reading it, an admin changing a category."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from volunteer.errors import FieldErrors, NotFoundError
from volunteer.extensions import db
from volunteer.models import ReportCategory, TeamKind, User
from volunteer.services import audit
from volunteer.services.accounts import require_admin

#: the tree as shipped (the migration seeds the same file)
SEED_FILE = Path(__file__).resolve().parents[2] / "data" / "report_categories.json"
#: a step's deadline can be at most a week
MAX_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class CategoryGroup:
    """A level-1 group and its categories, in their order."""

    group: ReportCategory
    children: list[ReportCategory]


def seed_categories() -> int:
    """Add every shipped category whose code is missing (idempotent; commits). Returns how many were added."""
    added = add_missing_categories()
    db.session.commit()
    return added


def add_missing_categories() -> int:
    """``seed_categories`` without the commit (a helper for the demo's one transaction)."""
    tree = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    existing = {c.code: c for c in db.session.scalars(select(ReportCategory))}
    added = 0
    for order, node in enumerate(tree):
        group = existing.get(node["code"])
        if group is None:
            group = _category(node, 1, None, order, node.get("handler_kind"))
            db.session.add(group)
            db.session.flush()
            added += 1
        for child_order, child in enumerate(node.get("children", ())):
            if child["code"] not in existing:
                db.session.add(_category(child, 2, group, child_order,
                                         child.get("handler_kind", node.get("handler_kind"))))
                added += 1
    db.session.flush()
    return added


def _category(node: dict, level: int, parent: ReportCategory | None, order: int,
              handler_kind: str | None) -> ReportCategory:
    return ReportCategory(code=node["code"], name_zh=node["name_zh"], name_en=node["name_en"], level=level,
                          parent_id=parent.id if parent else None, parent_level=1 if parent else None,
                          handler_kind=TeamKind(handler_kind) if handler_kind else None,
                          points=node.get("points", 0), public_photos=node.get("public_photos", False),
                          sensitive=node.get("sensitive", False), sort_order=order)


def is_dispute(category: ReportCategory) -> bool:
    """A dispute between people (the ``dispute`` group): its place is a household's."""
    return category.code.startswith("dispute.")


def place_is_private(category: ReportCategory) -> bool:
    """Whether where a report of this category was made is kept from people who cannot read it: clues
    (``sensitive``) and disputes, whose place is a household's."""
    return category.sensitive or is_dispute(category)


def list_categories(include_inactive: bool = False) -> list[CategoryGroup]:
    """The tree: groups with their categories (only active ones unless asked). One query."""
    statement = select(ReportCategory).order_by(ReportCategory.level, ReportCategory.sort_order,
                                                ReportCategory.id)
    if not include_inactive:
        statement = statement.where(ReportCategory.is_active)
    rows = list(db.session.scalars(statement))
    groups = [CategoryGroup(c, []) for c in rows if c.level == 1]
    by_id = {g.group.id: g for g in groups}
    for category in rows:
        if category.level == 2 and category.parent_id in by_id:
            by_id[category.parent_id].children.append(category)
    return [g for g in groups if g.children or include_inactive]


def get_category(category_id: int) -> ReportCategory:
    """One category (any level)."""
    category = db.session.get(ReportCategory, category_id)
    if category is None:
        raise NotFoundError()
    return category


def update_category(actor: User, category_id: int, *, points: int, sign_seconds: int, dispatch_seconds: int,
                    close_seconds: int, public_photos: bool, sensitive: bool, is_active: bool) -> ReportCategory:
    """An admin changes a category's points, clock and flags (applies to reports arriving or moving later)."""
    require_admin(actor)
    category = get_category(category_id)
    errors: dict = {}
    if not 0 <= points <= 10_000:
        errors["points"] = _l("Between 0 and 10000.")
    if not 0 < sign_seconds <= dispatch_seconds <= close_seconds <= MAX_SECONDS:
        errors["close_seconds"] = _l("The deadlines must grow: sign ≤ dispatch ≤ close, at most a week.")
    if errors:
        raise FieldErrors(errors)
    before = {"points": category.points, "clock": [category.sign_seconds, category.dispatch_seconds,
                                                   category.close_seconds]}
    category.points, category.sign_seconds = points, sign_seconds
    category.dispatch_seconds, category.close_seconds = dispatch_seconds, close_seconds
    category.public_photos, category.sensitive, category.is_active = public_photos, sensitive, is_active
    audit.record(actor.id, "report_category.update", f"report_category:{category.id}", before=before,
                 after={"points": points, "clock": [sign_seconds, dispatch_seconds, close_seconds]})
    db.session.commit()
    return category
