"""A volunteer sends a report (with the "already reported nearby?" check) and reads their own reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from volunteer.db import utcnow
from volunteer.errors import DomainError, FieldErrors, PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import (
    OPEN_STATES,
    Attendance,
    AttendanceStatus,
    EventAction,
    LocationSource,
    PhotoKind,
    Report,
    ReportCategory,
    ReportPhoto,
    ReportState,
    Role,
    Shift,
    User,
)
from volunteer.services import audit
from volunteer.services.attendance import distance_m
from volunteer.services.paging import Page, paginate
from volunteer.services.patrol_reports.categories import place_is_private
from volunteer.services.patrol_reports.common import add_event, deadline, load_report, visible_clause
from volunteer.services.patrol_reports.photos import CleanPhoto, clean_photos
from volunteer.services.patrol_reports.routing import route_report
from volunteer.services.text import clean_text

#: a degree of latitude in metres (for the bounding box before the exact distance)
METRES_PER_DEGREE = 111_320.0


class NotADuplicateError(DomainError):
    message = _l("That report is no longer open nearby. Please send yours as a new report.")
    status_code = 409


@dataclass(frozen=True)
class DuplicateCandidate:
    """An open report of the same category nearby: shown before sending, without its reporter, text or distance
    (only "within REPORT_DUPLICATE_METRES": a distance in metres from three points places the report)."""

    report_id: int
    created_at: datetime
    state: ReportState


def may_report(actor: User) -> bool:
    """Volunteers, coordinators and admins report; merchants' staff do not patrol."""
    return actor.role in (Role.VOLUNTEER, Role.COORDINATOR, Role.ADMIN)


def find_duplicates(actor: User, category_id: int, latitude: float, longitude: float,
                    now: datetime | None = None) -> list[DuplicateCandidate]:
    """Open reports of the category within the configured metres and hours, nearest first (reads only).

    Of a category whose place is private (clues, disputes: ``place_is_private``) only reports the actor may already
    read are offered (their own, those they handle): answers "there is one here" from a few points would otherwise
    tell anyone where a clue or a household's dispute was reported.
    """
    if not may_report(actor):
        raise PermissionDeniedError()
    category = db.session.get(ReportCategory, category_id)
    if category is None:
        return []
    metres = current_app.config["REPORT_DUPLICATE_METRES"]
    since = (now or utcnow()) - timedelta(hours=current_app.config["REPORT_DUPLICATE_HOURS"])
    dlat = metres / METRES_PER_DEGREE
    dlon = metres / (METRES_PER_DEGREE * max(0.01, math.cos(math.radians(latitude))))
    where = [Report.category_id == category.id, Report.state.in_(OPEN_STATES), Report.created_at >= since,
             Report.latitude.between(latitude - dlat, latitude + dlat),
             Report.longitude.between(longitude - dlon, longitude + dlon)]
    if place_is_private(category):
        where.append(visible_clause(actor))
    rows = db.session.execute(
        select(Report.id, Report.created_at, Report.state, Report.latitude, Report.longitude).where(*where))
    near = sorted((distance_m(latitude, longitude, lat, lon), rid, created, state)
                  for rid, created, state, lat, lon in rows)
    return [DuplicateCandidate(rid, created, ReportState(state)) for metres_away, rid, created, state in near
            if metres_away <= metres]


def _current_shift_id(actor: User, now: datetime) -> int | None:
    """The shift the actor is checked in to right now, if any."""
    return db.session.scalar(
        select(Shift.id).join(Attendance, Attendance.shift_id == Shift.id).where(
            Attendance.user_id == actor.id, Attendance.status == AttendanceStatus.OPEN,
            Shift.starts_at <= now + timedelta(minutes=current_app.config["CHECKIN_OPENS_MINUTES"]),
            Shift.ends_at >= now - timedelta(hours=2)).order_by(Shift.starts_at.desc()).limit(1))


def _validated(category_id: int | None, description: str | None, latitude: float | None, longitude: float | None,
               accuracy_m: float | None) -> tuple[ReportCategory | None, str, dict]:
    errors: dict = {}
    category = db.session.get(ReportCategory, category_id) if category_id else None
    if category is None or category.level != 2 or not category.is_active:
        errors["category_id"] = _l("Please choose what you found.")
    text = clean_text(errors, "description", description, required=_l("Please describe what you found."),
                      multiline=True)
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180) \
            or not (math.isfinite(latitude) and math.isfinite(longitude)):
        errors["latitude"] = _l("Please give the place: use your location or type its latitude and longitude.")
    if accuracy_m is not None and not (math.isfinite(accuracy_m) and 0 <= accuracy_m <= 100_000):
        errors["accuracy_m"] = _l("The accuracy must be between 0 and 100000 metres.")
    return category, text, errors


def file_report(actor: User, *, category_id: int | None, description: str | None, latitude: float | None,
                longitude: float | None, accuracy_m: float | None = None,
                location_source: LocationSource | str = LocationSource.GPS, photos: Sequence[bytes] = (),
                join_report_id: int | None = None, partner_key_id: int | None = None,
                now: datetime | None = None) -> Report:
    """Send a report: routed, on the clock, linked to the current shift, photos re-encoded; commits.

    ``partner_key_id``: the Open311 key it comes through (None: the web form), so that key alone reads it back.

    With ``join_report_id`` (the volunteer chose "add mine to it"), the new report is at once merged into that
    open report nearby (so it is one case for the handlers; the merged one earns no points).
    """
    if not may_report(actor):
        raise PermissionDeniedError()
    now = now or utcnow()
    category, text, errors = _validated(category_id, description, latitude, longitude, accuracy_m)
    source = LocationSource(location_source) if location_source in set(LocationSource) else LocationSource.PIN
    if errors:
        raise FieldErrors(errors)
    assert category is not None and latitude is not None and longitude is not None
    try:
        cleaned = clean_photos(list(photos))
    except DomainError as exc:
        raise FieldErrors({"photos": exc.text}) from exc
    target = None
    if join_report_id is not None:
        if join_report_id not in {c.report_id for c in find_duplicates(actor, category.id, latitude, longitude, now)}:
            raise NotADuplicateError()  # also a report the actor may not read: the same answer as a missing one
        target = db.session.get(Report, join_report_id)
    team = route_report(actor, category, latitude, longitude)
    report = Report(reporter_id=actor.id, category_id=category.id, team_id=team.id, description=text,
                    latitude=latitude, longitude=longitude,
                    accuracy_m=accuracy_m if source == LocationSource.GPS else None, location_source=source,
                    shift_id=_current_shift_id(actor, now), state=ReportState.NEW, clock_from=now,
                    due_at=deadline(category, ReportState.NEW, now), created_at=now, partner_key_id=partner_key_id)
    db.session.add(report)
    db.session.flush()
    _add_photos(report.id, actor.id, PhotoKind.REPORT, cleaned)
    add_event(report.id, actor.id, EventAction.CREATED, None, ReportState.NEW, at=now, team_id=team.id)
    audit.record(actor.id, "report.create", f"report:{report.id}", category=category.code, team=team.id,
                 photos=len(cleaned), **({"partner_key": partner_key_id} if partner_key_id is not None else {}))
    if target is not None:
        from volunteer.services.patrol_reports.workflow import merge_into

        merge_into(actor, report, target, str(_l("Added by the reporter to the report nearby.")), now)
    db.session.commit()
    return report


def _add_photos(report_id: int, actor_id: int, kind: PhotoKind, cleaned: list[CleanPhoto], start: int = 0) -> None:
    for position, photo in enumerate(cleaned, start=start):
        db.session.add(ReportPhoto(report_id=report_id, kind=kind, position=position, uploaded_by_id=actor_id,
                                   content_type=photo.content_type, data=photo.data, byte_size=len(photo.data),
                                   width=photo.width, height=photo.height, sha256=photo.sha256))
    db.session.flush()


def list_my_reports(actor: User, page: int = 1) -> Page[Report]:
    """The actor's own reports, newest first (a page with the total)."""
    return paginate(select(Report).options(joinedload(Report.category), joinedload(Report.team))
                    .where(Report.reporter_id == actor.id).order_by(Report.created_at.desc(), Report.id.desc()),
                    page)


def get_photo(actor: User, photo_id: int) -> ReportPhoto:
    """A photo, only for whoever may read its report (the reporter, its handlers, admins)."""
    photo = db.session.get(ReportPhoto, photo_id)
    if photo is None:
        from volunteer.services.patrol_reports.common import ReportNotFoundError

        raise ReportNotFoundError()
    load_report(actor, photo.report_id)  # raises when the actor may not see the report
    return photo
