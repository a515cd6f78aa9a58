"""Open311 GeoReport v2 at /open311/v2/ (JSON only): services, service requests, and the public photo route.

Reading needs no account; filing (POST requests.json) needs a partner's ``api_key`` and is the only POST of the
app exempt from CSRF (there is no cookie session to ride on: the key is the credential). Every refusal has the
spec's shape, ``[{"code": 400, "description": "..."}]``, with the same HTTP status. See docs/OPEN311.md.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from volunteer import forms
from volunteer.errors import DomainError, FieldErrors
from volunteer.extensions import client_address, csrf, limiter
from volunteer.localtime import to_local, zone
from volunteer.services.patrol_reports import open311
from volunteer.views.faces import uploaded_frames

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")


class RequestQuery(forms.QueryForm):
    """The page of GET requests.json (the other filters are comma lists, read in ``_filter``)."""

    page = forms.IntField(low=1, high=100_000)
    page_size = forms.IntField(low=1, high=open311.MAX_PAGE_SIZE)


class RequestPost(forms.PostForm):
    """POST requests.json, as the spec names its fields (photos as files named "media")."""

    service_code = forms.TextField(column=open311.ReportCategory.code)
    lat = forms.DecimalField(low=-90, high=90)
    long = forms.DecimalField(low=-180, high=180)
    address_string = forms.TextField(column=open311.Report.status_note)
    description = forms.TextField(multiline=True)


def _errors(code: int, *descriptions: str):
    response = jsonify([{"code": code, "description": d} for d in descriptions])
    response.status_code = code
    return response


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    """A refusal, in the spec's format (field errors one entry each)."""
    if isinstance(exc, FieldErrors):
        return _errors(400, *(f"{name}: {text}" for name, text in exc.texts().items()))
    return _errors(exc.status_code, exc.text)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """404, 405, 413, 429... in the spec's format too."""
    return _errors(exc.code or 500, exc.description or exc.name)


def _w3c(moment: datetime | None) -> str | None:
    return to_local(moment).isoformat(timespec="seconds") if moment is not None else None


def _parse_w3c(name: str) -> datetime | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00")) if "T" in raw else \
            datetime.combine(datetime.fromisoformat(raw).date(), time.min)
    except ValueError:
        raise open311.BadRequestError(_("%(name)s must be a W3C date and time such as 2026-11-23T09:30:00+08:00.",
                                        name=name)) from None
    if not 2000 <= moment.year <= 2100:
        raise open311.BadRequestError(_("%(name)s must be between the years 2000 and 2100.", name=name))
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone())).astimezone(zone())


def _list_arg(name: str) -> list[str] | None:
    values = [v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip()]
    return values or None


def _filter() -> open311.RequestFilter:
    query = RequestQuery()
    if query.errors_by_field():
        raise FieldErrors(query.errors_by_field())
    ids = _list_arg("service_request_id")
    if ids is not None:
        try:
            ids = [forms.whole_number(i, 1) for i in ids][:open311.MAX_PAGE_SIZE]
        except ValueError:
            raise open311.BadRequestError(_("service_request_id must be a comma-separated list of numbers.")) from None
    statuses = _list_arg("status")
    if statuses and not set(statuses) <= {"open", "closed"}:
        raise open311.BadRequestError(_("status must be open, closed or open,closed."))
    return open311.RequestFilter(ids=ids, service_codes=_list_arg("service_code"), start=_parse_w3c("start_date"),
                                 end=_parse_w3c("end_date"), statuses=sorted(set(statuses)) if statuses else None,
                                 page=query.value("page") or 1,
                                 page_size=query.value("page_size") or open311.DEFAULT_PAGE_SIZE)


def _locale() -> str:
    return str(get_locale())


def _request_json(r: open311.PublicRequest) -> dict:
    """One request with the spec's field names and types."""
    return {
        "service_request_id": r.id, "status": r.status, "status_notes": r.status_notes,
        "service_name": r.service_name, "service_code": r.service_code, "description": r.description,
        "agency_responsible": r.agency_responsible, "service_notice": None,
        "requested_datetime": _w3c(r.requested_datetime), "updated_datetime": _w3c(r.updated_datetime),
        "expected_datetime": _w3c(r.expected_datetime), "address": None, "address_id": None, "zipcode": None,
        "lat": r.lat, "long": r.long,
        "media_url": url_for("open311.media", photo_id=r.photo_id, _external=True) if r.photo_id else None,
    }


def _service_json(s: open311.Service) -> dict:
    return {"service_code": s.code, "service_name": s.name, "description": s.description, "metadata": False,
            "type": "realtime", "keywords": s.keywords, "group": s.group}


@bp.route("/services.json")
def services():
    """The category tree as a flat list of services, each with its group."""
    return jsonify([_service_json(s) for s in open311.list_services(_locale())])


@bp.route("/services/<code>.json")
def service_definition(code: str):
    """A service's definition: no extra attributes are asked (``metadata`` is false for every service)."""
    service = open311.get_service(code, _locale())
    return jsonify({"service_code": service.code, "attributes": []})


@bp.get("/requests.json")
def list_requests():
    """The search: service_request_id (overrides the rest), service_code, start_date, end_date, status; a page.

    Newest first; at most 200 per page (``page_size``, default 100), ``page`` from 1. The total is in the
    ``X-Total-Count`` header and the next page in a ``Link: <...>; rel="next"`` header.
    """
    key = open311.find_key(request.args.get("api_key"))
    found = open311.find_requests(_filter(), _locale(), key)
    response = jsonify([_request_json(r) for r in found.items])
    response.headers["X-Total-Count"] = str(found.total)
    if found.page * found.page_size < found.total:
        args = request.args.to_dict(flat=True) | {"page": found.page + 1, "page_size": found.page_size}
        response.headers["Link"] = f'<{url_for("open311.list_requests", _external=True, **args)}>; rel="next"'
    return response


def _presented_key() -> str:
    return request.form.get("api_key") or request.args.get("api_key") or ""


def _key_bucket() -> str:
    """The rate-limit bucket: the presented key (hashed, so the limiter's store never holds a key)."""
    return "open311:" + hashlib.sha256(_presented_key().encode()).hexdigest()[:24]


def _partner_key() -> open311.PartnerKey | None:
    """The active key presented with this POST, looked up once per request (the limiter asks first)."""
    if "open311_key" not in g:
        g.open311_key = open311.find_key(_presented_key())
    return g.open311_key


def _bad_key_bucket() -> str:
    return "open311-bad-key:" + client_address()


def _failed_auth(response) -> bool:
    return response.status_code == 403


# Two limits. Per presented key: a partner's own budget. Per address, for wrong keys only (a valid key is exempt,
# only a 403 counts): a random key each time would otherwise get a fresh per-key bucket every time.
@bp.post("/requests.json")
@csrf.exempt
@limiter.limit(lambda: current_app.config["OPEN311_POST_LIMIT"], key_func=_key_bucket)
@limiter.limit(lambda: current_app.config["OPEN311_BAD_KEY_LIMIT"], key_func=_bad_key_bucket,
               exempt_when=lambda: _partner_key() is not None, deduct_when=_failed_auth)
def create_request():
    """File a report for a partner: api_key, service_code, lat and long (address_string is kept in the text),
    description, and up to three photos as files named "media"."""
    key = _partner_key()
    if key is None:
        raise open311.InvalidKeyError()
    form = forms.parse(RequestPost)
    report = open311.create_request(key, service_code=form.service_code.data, latitude=form.lat.data,
                                    longitude=form.long.data, address_string=form.address_string.data,
                                    description=form.description.data, photos=uploaded_frames("media"))
    response = jsonify([{"service_request_id": report.id, "service_notice": _(
        "Received. The responsible team signs for it within %(minutes)d minute(s).",
        minutes=max(1, round(report.category.sign_seconds / 60))), "account_id": None}])
    response.status_code = 201
    return response


@bp.route("/requests/<int:report_id>.json")
def show_request(report_id: int):
    """One request, as a list of one (as the spec has it)."""
    key = open311.find_key(request.args.get("api_key"))
    return jsonify([_request_json(open311.get_request(report_id, _locale(), key))])


@bp.route("/media/<int:photo_id>")
def media(photo_id: int):
    """A report photo of a category whose photos may be public (re-encoded, no EXIF); anything else 404."""
    photo = open311.public_photo(photo_id)
    response = Response(photo.data, mimetype=photo.content_type)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["ETag"] = photo.sha256
    return response
