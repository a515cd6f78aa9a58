"""Patrol reports: the volunteer's report form and own reports; the handlers' queue and steps. Photos are served
only through the scope-checked route, never from static/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from limits import parse as parse_limit

from volunteer import forms
from volunteer.errors import DomainError, FieldErrors
from volunteer.extensions import limiter
from volunteer.localtime import format_local
from volunteer.models import LocationSource, RejectReason, ReportState, Role
from volunteer.services import patrol_reports as pr
from volunteer.services.patrol_reports import open311
from volunteer.views.common import flash_error, page_number, roles_required
from volunteer.views.faces import uploaded_frames

bp = Blueprint("reports", __name__, url_prefix="/reports")
REPORTERS = (Role.VOLUNTEER, Role.COORDINATOR, Role.ADMIN)
HANDLERS = (Role.COORDINATOR, Role.ADMIN)


#: the limiter's bucket of "already reported nearby?" look-ups, shared by the look-up and the form (below)
NEARBY_SCOPE = "report-nearby"


def _nearby_key() -> str:
    # the account, not the address: the budget follows the person across networks and signing in again
    return f"{NEARBY_SCOPE}:{current_user.id if current_user.is_authenticated else request.remote_addr}"


#: the "already reported nearby?" look-up is an oracle on where reports are: a budget per account
nearby_checks = limiter.shared_limit(lambda: current_app.config["REPORT_NEARBY_LIMIT"], scope=NEARBY_SCOPE,
                                     key_func=_nearby_key)


def _may_ask_nearby() -> bool:
    """Take one look-up from the account's "already reported nearby?" budget, the bucket GET /reports/nearby
    draws on (the key, scope and key prefix Flask-Limiter gives ``nearby_checks``): sending the form asks the same
    question, so without this a script could ask it without limit. Spent, the report is filed as new instead:
    nothing typed is lost."""
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    bucket = [prefix, _nearby_key(), NEARBY_SCOPE] if prefix else [_nearby_key(), NEARBY_SCOPE]
    return limiter.limiter.hit(parse_limit(current_app.config["REPORT_NEARBY_LIMIT"]), *bucket)


@bp.context_processor
def labels() -> dict:
    """The translated names of states, reasons and timeline lines, for this blueprint's pages."""
    return {"STATE_LABELS": pr.STATE_LABELS, "REJECT_LABELS": pr.REJECT_LABELS, "ACTION_LABELS": pr.ACTION_LABELS,
            "clock_text": clock_text, "reporter_clock_text": reporter_clock_text}


def _duration(seconds: int) -> str:
    """A span for the queue: minutes under an hour, hours under two days, then days (rounded down)."""
    minutes = seconds // 60
    if minutes < 60:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes)
    if minutes < 48 * 60:
        return ngettext("%(num)d hour", "%(num)d hours", minutes // 60)
    return ngettext("%(num)d day", "%(num)d days", minutes // (24 * 60))


def clock_text(clock: pr.Clock) -> str:
    """The handler's line: "12 minutes left (to sign for)", "overdue by 3 hours (to dispatch)", "just overdue"."""
    stage = clock.stage_label
    if clock.overdue:
        if -clock.seconds_left < 60:
            return _("just overdue (%(stage)s)", stage=stage)
        return _("overdue by %(time)s (%(stage)s)", time=_duration(-clock.seconds_left), stage=stage)
    if clock.seconds_left < 60:
        return _("under a minute left (%(stage)s)", stage=stage)
    return _("%(time)s left (%(stage)s)", time=_duration(clock.seconds_left), stage=stage)


def reporter_clock_text(report, clock: pr.Clock) -> str:
    """The reporter's line: what the team will do by when, and calmly, once late, that the team above follows up
    (the handlers' "overdue: escalated" is theirs)."""
    if clock.overdue:
        return _("This is taking longer than planned. The team above has been reminded to follow up.")
    time = format_local(clock.due_at)
    if clock.stage == "sign":
        return _("The handling team will take on your report by %(time)s.", time=time)
    if clock.stage == "dispatch":
        return _("The handling team will pass it to someone to deal with by %(time)s.", time=time)
    if report.state == ReportState.HANDLED:
        return _("The handling team will check and close it by %(time)s.", time=time)
    return _("The handling team will deal with it by %(time)s.", time=time)


def _form_page(form: Mapping[str, Any], errors: dict, nearby: list | None = None,
               status: int = 200) -> tuple[str, int]:
    """The report form, again with what was typed, the fields' messages and any open reports nearby."""
    groups = pr.list_categories()
    locale = str(get_locale())
    everything = open311.what_is_public_overall([c for g in groups for c in g.children], locale)
    # the place's messages once each ("please give the place" is the latitude's and the longitude's)
    location_errors = list(dict.fromkeys(errors[n] for n in ("latitude", "longitude", "accuracy_m") if errors.get(n)))
    return render_template("reports/new.html", form=form, errors=errors, groups=groups,
                           location_errors=location_errors,
                           what_is_public=open311.what_is_public, what_is_public_overall=everything,
                           nearby=nearby or [], nearby_label=nearby_label, locale=locale,
                           max_photos=current_app.config["REPORT_MAX_PHOTOS"],
                           max_mb=current_app.config["REPORT_PHOTO_MAX_BYTES"] // (1024 * 1024)), status


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*REPORTERS)
def new_report():
    """The report form: what, where (WGS-84 from the browser, or typed), up to three photos."""
    if request.method == "GET":
        return _form_page({"location_source": LocationSource.GPS.value}, {})
    photos = uploaded_frames("photos")
    try:
        form = forms.parse(forms.ReportForm)
        if form.join_report_id.data is None and not form.confirm_new.data and _may_ask_nearby():
            nearby = pr.find_duplicates(current_user, form.category_id.data, form.latitude.data,
                                        form.longitude.data)
            if nearby:  # ask first: "already reported nearby — add yours to it?"
                return _form_page(request.form, {}, nearby, 409)
        report = pr.file_report(
            current_user, category_id=form.category_id.data, description=form.description.data,
            latitude=form.latitude.data, longitude=form.longitude.data, accuracy_m=form.accuracy_m.data,
            location_source=form.location_source.data or LocationSource.PIN, photos=photos,
            join_report_id=form.join_report_id.data)
    except FieldErrors as exc:
        return _form_page(request.form, exc.texts(), status=400)
    except DomainError as exc:
        flash_error(exc)
        return _form_page(request.form, {}, status=exc.status_code)
    if report.duplicate_of_id:
        flash(_("Thank you! Your report was added to report No. %(number)d nearby.", number=report.duplicate_of_id),
              "success")
    else:
        flash(_("Thank you! Report No. %(number)d was sent to %(team)s.", number=report.id, team=report.team.name),
              "success")
    return redirect(url_for("reports.show_report", report_id=report.id))


def nearby_label(candidate: pr.DuplicateCandidate) -> str:
    """"Add mine to report No. 12 (within 50 m, …)": never the distance in metres."""
    return _("Add mine to report No. %(number)d (within %(metres)d m, %(state)s, %(time)s)",
             number=candidate.report_id, metres=current_app.config["REPORT_DUPLICATE_METRES"],
             state=pr.state_label(candidate.state), time=format_local(candidate.created_at))


@bp.route("/nearby")
@roles_required(*REPORTERS)
@nearby_checks
def nearby_reports():
    """Open reports of the category near the point (for the form's "already reported?" box): no text, no names,
    no distance; a clue only for those who may already read it."""
    query = forms.NearbyForm()
    values = [query.value(n) for n in ("category_id", "latitude", "longitude")]
    if None in values:
        return jsonify(reports=[])
    found = pr.find_duplicates(current_user, *values)
    return jsonify(reports=[{"id": c.report_id, "label": nearby_label(c)} for c in found])


@bp.route("/mine")
@roles_required(*REPORTERS)
def my_reports():
    """My reports, newest first, with where each stands."""
    return render_template("reports/mine.html", reports=pr.list_my_reports(current_user, page_number()),
                           locale=str(get_locale()))


@bp.route("/<int:report_id>")
@roles_required(*REPORTERS)
def show_report(report_id: int):
    """One report: what, where, photos, the timeline; for handlers also the next steps."""
    detail = pr.get_report(current_user, report_id)
    teams_, handlers = pr.list_dispatch_choices(current_user, report_id) if "dispatch" in detail.steps else ([], [])
    return render_template("reports/show.html", d=detail, r=detail.report, locale=str(get_locale()),
                           dispatch_teams=teams_, dispatch_handlers=handlers, reject_reasons=list(RejectReason),
                           dispatch_version=pr.dispatch_version(detail.report))


@bp.route("/photos/<int:photo_id>")
@roles_required(*REPORTERS)
def photo(photo_id: int):
    """A report photo for the reporter, its handlers and admins only; never cached by a shared cache."""
    stored = pr.get_photo(current_user, photo_id)
    response = Response(stored.data, mimetype=stored.content_type)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.route("/queue")
@roles_required(*HANDLERS)
def queue():
    """My teams' open reports, least time left first; overdue ones of the teams under mine are marked escalated."""
    return render_template("reports/queue.html", rows=pr.list_queue(current_user, page_number()),
                           figures=pr.count_reports(current_user), locale=str(get_locale()))


def _step(report_id: int, done: str, run):
    try:
        run()
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(done, "success")
    return redirect(url_for("reports.show_report", report_id=report_id))


@bp.route("/<int:report_id>/sign", methods=["POST"])
@roles_required(*HANDLERS)
def sign(report_id: int):
    """签收."""
    return _step(report_id, _("Signed for. The dispatch clock is running."),
                 lambda: pr.sign_report(current_user, report_id))


@bp.route("/<int:report_id>/dispatch", methods=["POST"])
@roles_required(*HANDLERS)
def dispatch(report_id: int):
    """交办 to a team under this report's team or to a handler."""
    def run():
        form = forms.parse(forms.DispatchForm)
        pr.dispatch_report(current_user, report_id, team_id=form.team_id.data, user_id=form.user_id.data,
                           note=form.note.data, seen_version=form.seen_version.data)
    return _step(report_id, _("Dispatched."), run)


@bp.route("/<int:report_id>/handle", methods=["POST"])
@roles_required(*HANDLERS)
def handle(report_id: int):
    """办结, with what was done and an optional photo."""
    photos = uploaded_frames("photo")

    def run():
        form = forms.parse(forms.HandleForm)
        pr.handle_report(current_user, report_id, note=form.note.data, photo=photos[0] if photos else None)
    return _step(report_id, _("Marked as handled. The reporter can read your note."), run)


@bp.route("/<int:report_id>/close", methods=["POST"])
@roles_required(*HANDLERS)
def close(report_id: int):
    """Close; "confirmed and useful" credits the reporter."""
    def run():
        form = forms.parse(forms.CloseForm)
        pr.close_report(current_user, report_id, useful=form.useful.data, note=form.note.data)
    return _step(report_id, _("Closed."), run)


@bp.route("/<int:report_id>/reject", methods=["POST"])
@roles_required(*HANDLERS)
def reject(report_id: int):
    """Not taken up, with a reason."""
    def run():
        form = forms.parse(forms.RejectForm)
        pr.reject_report(current_user, report_id, reason=form.reason.data, note=form.note.data)
    return _step(report_id, _("Not taken up. The reporter sees your reason."), run)


@bp.route("/<int:report_id>/reopen", methods=["POST"])
@roles_required(*HANDLERS)
def reopen(report_id: int):
    """Reopen with a reason."""
    def run():
        form = forms.parse(forms.ReopenForm)
        pr.reopen_report(current_user, report_id, note=form.note.data)
    return _step(report_id, _("Reopened. The clock starts again."), run)


@bp.route("/<int:report_id>/merge", methods=["POST"])
@roles_required(*HANDLERS)
def merge(report_id: int):
    """Merge this report into another one (a duplicate)."""
    def run():
        form = forms.parse(forms.MergeForm)
        pr.merge_report(current_user, report_id, form.into_report_id.data, note=form.note.data)
    return _step(report_id, _("Merged."), run)


# --- administration: categories and team areas --------------------------------------------------------------

@bp.route("/admin/categories")
@roles_required(Role.ADMIN)
def admin_categories():
    """The category tree with each category's points, clock and flags; team areas for routing."""
    from volunteer.services import teams

    return render_template("reports/admin.html", groups=pr.list_categories(include_inactive=True),
                           teams=teams.team_choices(), locale=str(get_locale()), errors={}, form={})


@bp.route("/admin/categories/<int:category_id>", methods=["POST"])
@roles_required(Role.ADMIN)
def update_category(category_id: int):
    """Change one category (applies to reports arriving or moving on afterwards)."""
    def run():
        form = forms.parse(forms.CategoryForm)
        pr.update_category(current_user, category_id, points=form.points.data, sign_seconds=form.sign_seconds.data,
                           dispatch_seconds=form.dispatch_seconds.data, close_seconds=form.close_seconds.data,
                           public_photos=form.public_photos.data, sensitive=form.sensitive.data,
                           is_active=form.is_active.data)
    try:
        run()
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Saved."), "success")
    return redirect(url_for("reports.admin_categories"))


@bp.route("/admin/areas", methods=["POST"])
@roles_required(Role.ADMIN)
def set_team_area():
    """Give a team its area (a circle and/or a polygon, WGS-84); empty fields clear it."""
    try:
        form = forms.parse(forms.TeamAreaForm)
        pr.set_team_area(current_user, form.team_id.data, latitude=form.area_latitude.data,
                         longitude=form.area_longitude.data, radius_m=form.area_radius_m.data,
                         polygon=form.corners())
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Saved."), "success")
    return redirect(url_for("reports.admin_categories"))
