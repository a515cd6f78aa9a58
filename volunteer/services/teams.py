"""The team tree and who may act on which part of it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from volunteer.errors import FieldErrors, PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import Role, Team, TeamKind, User, team_coordinators
from volunteer.services import audit
from volunteer.services.text import clean_text
from volunteer.services.accounts import require_admin

KIND_LABELS = {TeamKind.DISTRICT: _l("district"), TeamKind.STREET: _l("street"), TeamKind.COMMUNITY: _l("community"),
               TeamKind.GRID: _l("grid")}

CHILD_KIND = {TeamKind.DISTRICT: TeamKind.STREET, TeamKind.STREET: TeamKind.COMMUNITY,
              TeamKind.COMMUNITY: TeamKind.GRID}


def add_team(name: str, kind: TeamKind, parent: Team | None) -> Team:
    """Add a team under its parent and compute its path (a helper: flushes, does not commit)."""
    team = Team(name=name, kind=kind, parent=parent)
    db.session.add(team)
    db.session.flush()
    team.path = f"{parent.path if parent else '/'}{team.id}/"
    db.session.flush()
    return team


def create_team(actor: User, name: str, kind: str, parent_id: int | None) -> Team:
    """An admin adds a team; a child's level must sit directly under its parent's."""
    require_admin(actor)
    errors: dict = {}
    name = clean_text(errors, "name", name, Team.name, required=_l("Please enter a name."))
    parent = db.session.get(Team, parent_id) if parent_id else None
    try:
        kind_value = TeamKind(kind)
    except ValueError:
        kind_value = None
        errors["kind"] = _l("Choose a level.")
    if parent_id and parent is None:
        errors["parent"] = _l("Unknown team.")
    elif kind_value is not None:
        expected = CHILD_KIND.get(parent.kind) if parent else TeamKind.DISTRICT
        if kind_value != expected:
            errors["kind"] = _l("A team at this place in the tree must be of the next level down.")
    if errors:
        raise FieldErrors(errors)
    team = add_team(name, kind_value, parent)
    audit.record(actor.id, "team.create", f"team:{team.id}", name=name, kind=kind_value.value)
    db.session.commit()
    return team


def managed_team_ids(user: User) -> set[int]:
    """Every team in the subtrees a coordinator manages (all teams for an admin)."""
    if user.role == Role.ADMIN:
        return set(db.session.scalars(select(Team.id)))
    if user.role != Role.COORDINATOR:
        return set()
    roots = db.session.scalars(
        select(Team.path).join(team_coordinators, team_coordinators.c.team_id == Team.id)
        .where(team_coordinators.c.user_id == user.id)
    ).all()
    if not roots:
        return set()
    return set(db.session.scalars(select(Team.id).where(or_(*[Team.path.startswith(p) for p in roots]))))


def managed_subtree_ids(user: User, team_id: int | None) -> set[int]:
    """The teams a report or export filtered to ``team_id`` covers: that team's subtree when the user manages it,
    nothing when not (a team outside their scope is no team to them); every team they manage when ``None``."""
    managed = managed_team_ids(user)
    if team_id is None:
        return managed
    root = db.session.get(Team, team_id)
    if root is None or team_id not in managed:
        return set()
    return set(db.session.scalars(select(Team.id).where(Team.path.startswith(root.path))))


def require_manages(user: User, team_id: int) -> None:
    """Raise PermissionDeniedError unless the user manages this team."""
    if team_id not in managed_team_ids(user):
        raise PermissionDeniedError()


def team_choices() -> list[Team]:
    """All teams in tree order, for forms."""
    return list(db.session.scalars(select(Team).order_by(Team.path)))
