"""Which team a report goes to: the most specific team whose area holds the point, raised to the category's handler
level; the reporter's team when no area does. Areas are WGS-84 circles and/or polygons on the teams."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from volunteer.errors import FieldErrors, NotFoundError
from volunteer.extensions import db
from volunteer.models import ReportCategory, Team, TeamKind, User
from volunteer.services import audit
from volunteer.services.accounts import require_admin
from volunteer.services.attendance import distance_m
from volunteer.services.patrol_reports.common import NoTeamError

#: depth of each level in the tree (a grid is the most specific)
KIND_DEPTH = {TeamKind.DISTRICT: 0, TeamKind.STREET: 1, TeamKind.COMMUNITY: 2, TeamKind.GRID: 3}
MAX_POLYGON_CORNERS = 200


def in_polygon(latitude: float, longitude: float, polygon: list[list[float]]) -> bool:
    """Whether the point lies inside the polygon of [latitude, longitude] corners (even-odd ray casting).

    Planar on degrees: exact enough for a street's or community's outline (a few km), not for a continent.
    """
    inside = False
    count = len(polygon)
    for i in range(count):
        (y1, x1), (y2, x2) = polygon[i][:2], polygon[(i + 1) % count][:2]
        if (y1 > latitude) != (y2 > latitude):
            x_cross = x1 + (latitude - y1) * (x2 - x1) / (y2 - y1)
            if longitude < x_cross:
                inside = not inside
    return inside


def team_covers(team: Team, latitude: float, longitude: float) -> bool:
    """Whether the team's area (circle or polygon: either counts) holds the point."""
    if team.area_latitude is not None and team.area_longitude is not None and team.area_radius_m:
        if distance_m(team.area_latitude, team.area_longitude, latitude, longitude) <= team.area_radius_m:
            return True
    return bool(team.area_polygon) and in_polygon(latitude, longitude, team.area_polygon)


def find_area_team(latitude: float, longitude: float) -> Team | None:
    """The most specific team whose area holds the point (deepest in the tree; then the smaller circle)."""
    candidates = db.session.scalars(select(Team).where(or_(Team.area_latitude.is_not(None),
                                                           Team.area_polygon.is_not(None))))
    covering = [t for t in candidates if team_covers(t, latitude, longitude)]
    if not covering:
        return None
    return max(covering, key=lambda t: (t.path.count("/"), -(t.area_radius_m or 0), -t.id))


def _raise_to_level(team: Team, kind: TeamKind | None) -> Team:
    """The team itself, or its ancestor at the handler level when the team is more specific than that."""
    if kind is None:
        return team
    while team.parent is not None and KIND_DEPTH[team.kind] > KIND_DEPTH[kind]:
        team = team.parent
    return team


def route_report(reporter: User, category: ReportCategory, latitude: float, longitude: float) -> Team:
    """The team a new report goes to (a helper: reads only)."""
    team = find_area_team(latitude, longitude)
    if team is None:
        team = reporter.teams[0] if reporter.teams else None
    if team is None:
        team = db.session.scalar(select(Team).where(Team.parent_id.is_(None)).order_by(Team.id).limit(1))
    if team is None:
        raise NoTeamError()
    return _raise_to_level(team, category.handler_kind)


def set_team_area(actor: User, team_id: int, *, latitude: float | None, longitude: float | None,
                  radius_m: int | None, polygon: list[list[float]] | None) -> Team:
    """An admin gives a team its area: a circle (all three values or none) and/or a polygon (≥ 3 corners)."""
    require_admin(actor)
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFoundError()
    errors: dict = {}
    circle = (latitude, longitude, radius_m)
    if any(v is not None for v in circle):
        if None in circle or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):  # type: ignore[operator]
            errors["latitude"] = _l("Give the centre's latitude and longitude and a radius, or none of them.")
        elif not 0 < radius_m <= 100_000:  # type: ignore[operator]
            errors["radius_m"] = _l("The radius must be between 1 and 100000 metres.")
    if polygon is not None:
        if not 3 <= len(polygon) <= MAX_POLYGON_CORNERS or any(
                len(p) != 2 or not (-90 <= p[0] <= 90 and -180 <= p[1] <= 180) for p in polygon):
            errors["polygon"] = _l("A polygon needs 3 to 200 corners of latitude and longitude.")
    if errors:
        raise FieldErrors(errors)
    team.area_latitude, team.area_longitude, team.area_radius_m = latitude, longitude, radius_m
    team.area_polygon = [[float(a), float(b)] for a, b in polygon] if polygon else None
    audit.record(actor.id, "team.area", f"team:{team.id}", circle=list(circle), corners=len(polygon or ()))
    db.session.commit()
    return team
