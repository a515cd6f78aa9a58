"""Around patrol reports: the maps (open reports for handlers, my reports for volunteers), the monthly SLA table
("西湖速度"), the CSV export with the clock figures, and the admin page of Open311 partner keys."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from volunteer import forms
from volunteer.errors import DomainError, FieldErrors
from volunteer.models import Role
from volunteer.services import patrol_reports as pr
from volunteer.services.patrol_reports import figures, open311
from volunteer.services.patrol_reports.geo import wgs84_to_gcj02
from volunteer.views.common import export_language, flash_error, page_number, roles_required

bp = Blueprint("report_tools", __name__)
REPORTERS = (Role.VOLUNTEER, Role.COORDINATOR, Role.ADMIN)
HANDLERS = (Role.COORDINATOR, Role.ADMIN)


class KeyForm(forms.PostForm):
    """A new partner key: the partner's name and the account its reports are filed as."""

    name = forms.TextField()
    account_mobile = forms.TextField()


class MonthQuery(forms.QueryForm):
    """The month of the SLA table and the team filter of the export."""

    month = forms.MonthField()
    team = forms.IntField(low=1)
    start = forms.DayField()
    end = forms.DayField()


# --- partner keys ----------------------------------------------------------------------------------------------

def _keys_page(form: dict, errors: dict, secret: str | None = None, status: int = 200):
    return render_template("report_tools/partner_keys.html", keys=open311.list_keys(current_user), form=form,
                           errors=errors, secret=secret), status


@bp.route("/admin/partner-keys", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def partner_keys():
    """Issue (the key is shown once, only its hash is kept) and list Open311 keys."""
    if request.method == "GET":
        return _keys_page({}, {})
    try:
        form = forms.parse(KeyForm)
        key, secret = open311.issue_key(current_user, name=form.name.data, account_mobile=form.account_mobile.data)
    except FieldErrors as exc:
        return _keys_page(request.form, exc.texts(), status=400)
    flash(_("Key issued for %(name)s. Copy it now: it is not shown again.", name=key.name), "success")
    return _keys_page({}, {}, secret)


@bp.route("/admin/partner-keys/<int:key_id>/revoke", methods=["POST"])
@roles_required(Role.ADMIN)
def revoke_partner_key(key_id: int):
    """Revoke a key: the partner's next request is refused."""
    try:
        open311.revoke_key(current_user, key_id)
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Key revoked."), "success")
    return redirect(url_for("report_tools.partner_keys"))


# --- maps ------------------------------------------------------------------------------------------------------

def _map_settings() -> dict:
    config = current_app.config
    return {"tile_url": config["MAP_TILE_URL"], "attribution": config["MAP_TILE_ATTRIBUTION"],
            "gcj02": bool(config["MAP_TILES_GCJ02"])}


def _with_tiles(response: Response) -> Response:
    """Let the page load the configured tiles (the app's policy allows images from itself only)."""
    uri = urlsplit(current_app.config["MAP_TILE_URL"].replace("{s}", "a"))
    if uri.scheme and uri.netloc:  # tiles served by this site itself (a path) are covered by 'self'
        origin = f"{uri.scheme}://{uri.netloc}"
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; img-src 'self' data: blob: {origin} {origin.replace('://a.', '://*.')}; "
            "media-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
    return response


def _map_page(page, markers: list[dict], title: str, list_url: str):
    settings = _map_settings()
    for m in markers:
        m["url"] = url_for("reports.show_report", report_id=m["id"])
        m["label"] = _("No. %(number)d · %(category)s · %(state)s", number=m["id"], category=m["category"],
                       state=m["state"])
        m["wgs84"] = [round(m["lat"], 6), round(m["lon"], 6)]
        if settings["gcj02"]:
            m["lat"], m["lon"] = wgs84_to_gcj02(m["lat"], m["lon"])
    return _with_tiles(make_response(render_template("report_tools/map.html", page=page, markers=markers,
                                                     map=settings, title=title, list_url=list_url)))


@bp.app_context_processor
def pin_map() -> dict:
    """The report form's pin map settings (templates/reports/new.html)."""
    return {"pin_map_settings": _map_settings}


@bp.after_app_request
def tiles_on_the_report_form(response: Response) -> Response:
    """The report form shows the pin map: let it load the configured tiles too."""
    return _with_tiles(response) if request.endpoint == "reports.new_report" else response


@bp.route("/reports/map")
@roles_required(*HANDLERS)
def queue_map():
    """The handler's queue on a map: the same page of open reports as the list, least time left first."""
    rows = pr.list_queue(current_user, page_number())
    return _map_page(rows, figures.queue_markers(rows, str(get_locale())), _("Open reports on the map"),
                     url_for("reports.queue"))


@bp.route("/reports/mine/map")
@roles_required(*REPORTERS)
def my_map():
    """My reports on a map (the same page as my list). Only mine: nobody else's, clue or not."""
    reports = pr.list_my_reports(current_user, page_number())
    return _map_page(reports, figures.my_markers(reports, str(get_locale())), _("My reports on the map"),
                     url_for("reports.my_reports"))


# --- figures ---------------------------------------------------------------------------------------------------

@bp.route("/reports/speed")
@roles_required(*HANDLERS)
def speed():
    """The monthly SLA table per team: signed within 1 min, dispatched within 30 min, closed within 24 h."""
    query = MonthQuery()
    table = figures.sla_table(current_user, query.value("month"))
    return render_template("report_tools/speed.html", table=table, errors=query.errors_by_field())


@bp.route("/reports/export.csv")
@roles_required(*HANDLERS)
def export():
    """The reports in the reader's scope with their clock figures, as CSV (Chinese headers; ``lang=en``: codes)."""
    from volunteer.services import csvfile

    query = MonthQuery()
    headers, rows = figures.export_table(current_user, query.value("team"), query.value("start"),
                                         query.value("end"), export_language())
    return Response(csvfile.csv_chunks(headers, rows), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="reports.csv"'})
