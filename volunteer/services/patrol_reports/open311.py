"""Open311 GeoReport v2: the category tree as services, reports as service requests, and partner API keys.

What the public output holds, and what it never holds:

- no reporter (no name, account, mobile), no handler, no timeline, no shift;
- photos only of categories that allow public photos (``public_photos``), and never of a sensitive one;
- every location is rounded (``public_decimals``): to 0.001° (about 100 m) for every category, to 0.01° (about
  1 km) for disputes (``dispute.*``, between households), never the point as filed;
- sensitive categories (clues, ``sensitive``) are not public at all: they are missing from the public list and a
  public read of one answers 404 like a missing id. The partner key that filed one (``reports.partner_key_id``),
  reading with that ``api_key``, sees it with the location rounded to 0.001° (about 100 m): the rounding the issue
  asks for, applied to the only reader who may see the report outside the handlers. Not the account's web reports,
  not another key's;
- the status is ``open`` (new, signed, dispatched, handled) or ``closed`` (closed, rejected), with the public
  ``status_note`` the handlers wrote (or the state in words) as ``status_notes``.

A partner files through ``file_report`` (the same use case as the web form) as the account its key names.
Keys are 32 random bytes shown once; only their SHA-256 is kept, and a revoked key stops at once.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import joinedload

from volunteer.db import utcnow
from volunteer.errors import DomainError, FieldErrors, NotFoundError
from volunteer.extensions import db
from volunteer.models import (
    OPEN_STATES,
    LocationSource,
    PartnerKey,
    PhotoKind,
    Report,
    ReportCategory,
    ReportPhoto,
    ReportState,
    User,
)
from volunteer.services import audit
from volunteer.services.accounts import require_admin
from volunteer.services.patrol_reports.categories import is_dispute, list_categories
from volunteer.services.patrol_reports.common import STATE_LABELS
from volunteer.services.patrol_reports.filing import file_report, may_report
from volunteer.services.text import clean_text

#: the longest span one search may cover (the spec's default window, and its limit)
MAX_SPAN = timedelta(days=90)
#: requests per page of requests.json unless ``page_size`` says less; the most one page may hold
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 200
#: decimals of a degree kept of every public location: 0.001° ≈ 110 m of latitude (≈ 96 m of longitude in
#: Hangzhou) — the street and the block, not the doorway of the reporter or of the people reported
PUBLIC_DECIMALS = 3
#: a dispute (dispute.*) is between households: 0.01° ≈ 1.1 km, the neighbourhood, never the building
DISPUTE_DECIMALS = 2
#: degrees kept of a sensitive report's location, for the partner that filed it (0.001° ≈ 110 m of latitude)
SENSITIVE_DECIMALS = 3
#: the key as handed to the partner: "pv_" and 43 URL-safe characters (32 random bytes)
KEY_PREFIX = "pv_"


class Open311Error(DomainError):
    """A refusal in the spec's error format: ``[{"code": 400, "description": "..."}]``."""


class BadRequestError(Open311Error):
    status_code = 400


class InvalidKeyError(Open311Error):
    message = _l("Invalid or revoked api_key.")
    status_code = 403


class UnknownServiceError(Open311Error):
    message = _l("Unknown service_code: %(code)s")
    status_code = 404


class RequestNotFoundError(Open311Error):
    message = _l("No public service request with this id.")
    status_code = 404


class KeyRevokedError(DomainError):
    message = _l("This key was already revoked.")
    status_code = 409


# --- services --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Service:
    """One category as an Open311 service (``metadata`` is always false: no extra attributes are asked)."""

    code: str
    name: str
    description: str
    keywords: str
    group: str


def _service(category: ReportCategory, group: ReportCategory, locale: str) -> Service:
    minutes = lambda seconds: max(1, round(seconds / 60))  # noqa: E731
    clock = str(_l("Signed for within %(sign)d min, dispatched within %(dispatch)d min, closed within %(close)d h.",
                   sign=minutes(category.sign_seconds), dispatch=minutes(category.dispatch_seconds),
                   close=max(1, round(category.close_seconds / 3600))))
    words = [category.name_zh, category.name_en, group.name_zh, group.name_en, *category.code.split(".")]
    return Service(category.code, category.name(locale), f"{group.name(locale)} · {category.name(locale)}. {clock}",
                   ", ".join(dict.fromkeys(w.replace(",", " ") for w in words)), group.name(locale))


def list_services(locale: str) -> list[Service]:
    """Every active category (level 2) with its group, in the tree's order (one query)."""
    return [_service(c, g.group, locale) for g in list_categories() for c in g.children]


def get_service(code: str, locale: str) -> Service:
    """One active category by its code."""
    for service in list_services(locale):
        if service.code == code:
            return service
    raise UnknownServiceError(code=code)


# --- keys ------------------------------------------------------------------------------------------------------

def hash_key(secret: str) -> str:
    """What is stored of a key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(actor: User, *, name: str | None, account_mobile: str | None) -> tuple[PartnerKey, str]:
    """An admin issues a key for a partner, filing as an existing account; returns the key once. Commits."""
    require_admin(actor)
    errors: dict = {}
    text = clean_text(errors, "name", name, PartnerKey.name, required=_l("Please name the partner."))
    account = db.session.scalar(select(User).where(User.mobile == (account_mobile or "").strip()))
    if account is None or not account.is_enabled or not may_report(account):
        errors["account_mobile"] = _l("Give the mobile number of an enabled volunteer, coordinator or admin account"
                                      " that the partner's reports are filed as.")
    if errors:
        raise FieldErrors(errors)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = PartnerKey(name=text, prefix=secret[:10], key_hash=hash_key(secret), user_id=account.id,
                     created_by_id=actor.id)
    db.session.add(key)
    db.session.flush()
    audit.record(actor.id, "partner_key.issue", f"partner_key:{key.id}", name=text, account=account.id,
                 prefix=key.prefix)
    db.session.commit()
    return key, secret


def revoke_key(actor: User, key_id: int) -> None:
    """An admin revokes a key (one conditional UPDATE); commits."""
    require_admin(actor)
    if db.session.get(PartnerKey, key_id) is None:
        raise NotFoundError()
    done = db.session.execute(update(PartnerKey).where(PartnerKey.id == key_id, PartnerKey.revoked_at.is_(None))
                              .values(revoked_at=utcnow())).rowcount
    if done != 1:
        db.session.rollback()
        raise KeyRevokedError()
    audit.record(actor.id, "partner_key.revoke", f"partner_key:{key_id}")
    db.session.commit()


def list_keys(actor: User) -> list[PartnerKey]:
    """Every key, newest first, with its account (admins only; a handful of partners, so no paging)."""
    require_admin(actor)
    return list(db.session.scalars(select(PartnerKey).options(joinedload(PartnerKey.user))
                                   .order_by(PartnerKey.id.desc())))


def find_key(secret: str | None) -> PartnerKey | None:
    """The active key with this secret (None for a wrong, revoked or missing one, or a disabled account)."""
    if not secret or len(secret) > 100:
        return None
    key = db.session.scalar(select(PartnerKey).options(joinedload(PartnerKey.user))
                            .where(PartnerKey.key_hash == hash_key(secret), PartnerKey.revoked_at.is_(None)))
    return key if key is not None and key.user.is_enabled else None


# --- requests --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublicRequest:
    """A report as the public (or its partner) may see it."""

    id: int
    status: str  # "open" or "closed"
    status_notes: str
    service_code: str
    service_name: str
    description: str
    agency_responsible: str
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    lat: float
    long: float
    photo_id: int | None  # the first public photo, for media_url


@dataclass(frozen=True)
class RequestFilter:
    """The standard filters of GET requests.json (already typed), and the page."""

    ids: list[int] | None = None
    service_codes: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    statuses: list[str] | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class RequestPage:
    """One page of the search and the number of requests it matched."""

    items: list[PublicRequest]
    page: int
    page_size: int
    total: int


def _public_clause(key: PartnerKey | None):
    """Non-sensitive reports; with a partner's key also the sensitive ones filed with that very key (not those its
    account sent through the web form, nor those of another key of the same account)."""
    public = ReportCategory.sensitive.is_(False)
    return or_(public, Report.partner_key_id == key.id) if key is not None else public


def public_decimals(category: ReportCategory) -> int:
    """Decimals of a degree the public output keeps of a report of this category (the coarsest rule that applies)."""
    decimals = PUBLIC_DECIMALS
    if category.sensitive:
        decimals = min(decimals, SENSITIVE_DECIMALS)
    if is_dispute(category):
        decimals = min(decimals, DISPUTE_DECIMALS)
    return decimals


def _about_metres(decimals: int) -> int:
    """The north–south size of the rounding, in round hundreds of metres (0.001° → 100, 0.01° → 1100)."""
    return int(round(111_320 * 10 ** -decimals, -2))


def what_is_public(category: ReportCategory) -> str:
    """For the report form: what of a report of this category the public output shows (in the reader's language)."""
    if category.sensitive:
        return str(_l("This kind of report is never published: only you, the handling teams and administrators see"
                      " it and its photos."))
    metres = _about_metres(public_decimals(category))
    if category.public_photos:
        return str(_l("Published (Open311, without your name): the description, the place rounded to about"
                      " %(metres)d m, and the photos — anyone can open them, so keep faces and number plates out.",
                      metres=metres))
    return str(_l("Published (Open311, without your name): the description and the place rounded to about"
                  " %(metres)d m. The photos are seen only by you, the handling teams and administrators.",
                  metres=metres))


def what_is_public_overall(categories: list[ReportCategory], locale: str) -> str:
    """For the report form before a category is chosen: the rule for every category, true whichever is chosen."""
    photos = [c.name(locale) for c in categories if c.public_photos and not c.sensitive]
    text = str(_l("What becomes public depends on what you found (Open311, never your name). Usually the"
                  " description and the place rounded to about %(metres)d m (disputes: about %(dispute)d m); clues:"
                  " nothing.", metres=_about_metres(PUBLIC_DECIMALS), dispute=_about_metres(DISPUTE_DECIMALS)))
    if photos:
        kinds = ("、" if locale.startswith("zh") else ", ").join(photos)
        return text + " " + str(_l("Photos are public only for: %(kinds)s.", kinds=kinds))
    return text + " " + str(_l("Photos are never public."))


def _as_public(report: Report, photo_id: int | None, locale: str) -> PublicRequest:
    category = report.category
    closed = report.state in (ReportState.CLOSED, ReportState.REJECTED)
    decimals = public_decimals(category)
    lat, lon = round(report.latitude, decimals), round(report.longitude, decimals)
    moments = [m for m in (report.created_at, report.signed_at, report.dispatched_at, report.handled_at,
                           report.closed_at, report.rejected_at, report.reopened_at) if m is not None]
    expected = None if closed else report.clock_from + timedelta(seconds=category.close_seconds)
    return PublicRequest(
        id=report.id, status="closed" if closed else "open",
        status_notes=report.status_note or str(STATE_LABELS[ReportState(report.state)]),
        service_code=category.code, service_name=category.name(locale), description=report.description,
        agency_responsible=report.team.name, requested_datetime=report.created_at,
        updated_datetime=max(moments), expected_datetime=expected, lat=lat, long=lon,
        photo_id=None if category.sensitive or not category.public_photos else photo_id)


def _first_photos(report_ids: list[int]) -> dict[int, int]:
    """The first report photo of each report (one query)."""
    if not report_ids:
        return {}
    rows = db.session.execute(select(ReportPhoto.report_id, func.min(ReportPhoto.id))
                              .where(ReportPhoto.report_id.in_(report_ids), ReportPhoto.kind == PhotoKind.REPORT)
                              .group_by(ReportPhoto.report_id))
    return {rid: pid for rid, pid in rows}


def find_requests(f: RequestFilter, locale: str, key: PartnerKey | None = None,
                  now: datetime | None = None) -> RequestPage:
    """The search of GET requests.json: by ids (then nothing else applies), or by codes, window and status."""
    now = now or utcnow()
    where = [_public_clause(key)]
    if f.ids:
        where.append(Report.id.in_(f.ids))
    else:
        end = f.end or now
        start = f.start or end - MAX_SPAN
        if start > end:
            raise BadRequestError(_l("start_date must be before end_date."))
        if end - start > MAX_SPAN:
            raise BadRequestError(_l("start_date and end_date may not span more than 90 days."))
        where += [Report.created_at >= start, Report.created_at <= end]
        if f.service_codes:
            where.append(ReportCategory.code.in_(f.service_codes))
        if f.statuses and set(f.statuses) != {"open", "closed"}:
            wanted = OPEN_STATES if f.statuses == ["open"] else (ReportState.CLOSED, ReportState.REJECTED)
            where.append(Report.state.in_(wanted))
    base = select(Report).join(ReportCategory, ReportCategory.id == Report.category_id).where(and_(*where))
    total = db.session.scalar(select(func.count()).select_from(base.with_only_columns(Report.id).subquery())) or 0
    size = min(max(1, f.page_size), MAX_PAGE_SIZE)
    page = min(max(1, f.page), max(1, math.ceil(total / size)))
    reports = list(db.session.scalars(
        base.options(joinedload(Report.category), joinedload(Report.team))
        .order_by(Report.created_at.desc(), Report.id.desc()).limit(size).offset((page - 1) * size)))
    photos = _first_photos([r.id for r in reports if r.category.public_photos and not r.category.sensitive])
    return RequestPage([_as_public(r, photos.get(r.id), locale) for r in reports], page, size, int(total))


def get_request(report_id: int, locale: str, key: PartnerKey | None = None) -> PublicRequest:
    """One request (GET requests/<id>.json); a sensitive one only for the partner key that filed it."""
    report = db.session.scalar(
        select(Report).join(ReportCategory, ReportCategory.id == Report.category_id)
        .options(joinedload(Report.category), joinedload(Report.team))
        .where(Report.id == report_id, _public_clause(key)))
    if report is None:
        raise RequestNotFoundError()
    return _as_public(report, _first_photos([report.id]).get(report.id), locale)


def create_request(key: PartnerKey | None, *, service_code: str | None, latitude: float | None,
                   longitude: float | None, address_string: str | None, description: str | None,
                   photos: list[bytes] | None = None, now: datetime | None = None) -> Report:
    """POST requests.json: a partner files a report through ``file_report`` as its key's account; commits."""
    if key is None:
        raise InvalidKeyError()
    category = db.session.scalar(select(ReportCategory).where(ReportCategory.code == (service_code or "").strip(),
                                                              ReportCategory.level == 2,
                                                              ReportCategory.is_active))
    if category is None:
        if not service_code:
            raise BadRequestError(_l("service_code is required."))
        raise BadRequestError(_l("Unknown service_code: %(code)s", code=service_code[:40]))
    if latitude is None or longitude is None:
        if address_string:
            raise BadRequestError(_l("lat and long are required: this server has no geocoder for address_string."))
        raise BadRequestError(_l("lat and long are required."))
    text = (description or "").strip()
    address = (address_string or "").strip()
    if address:
        text = f"{text}\n{_l('Address')}: {address}" if text else f"{_l('Address')}: {address}"
    return file_report(key.user, category_id=category.id, description=text, latitude=latitude,
                       longitude=longitude, location_source=LocationSource.PIN, photos=photos or (),
                       partner_key_id=key.id, now=now)


def public_photo(photo_id: int) -> ReportPhoto:
    """A report photo of a category whose photos may be public (never a sensitive one, never a handler's)."""
    photo = db.session.scalar(
        select(ReportPhoto).join(Report, Report.id == ReportPhoto.report_id)
        .join(ReportCategory, ReportCategory.id == Report.category_id)
        .where(ReportPhoto.id == photo_id, ReportPhoto.kind == PhotoKind.REPORT,
               ReportCategory.public_photos.is_(True), ReportCategory.sensitive.is_(False)))
    if photo is None:
        raise NotFoundError()
    return photo
