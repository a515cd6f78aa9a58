"""Pages for coordinators (and admins): shifts, rosters, manual attendance, the approval queue."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from volunteer import forms
from volunteer.errors import DomainError, FieldErrors
from volunteer.db import utcnow
from volunteer.localtime import parse_local, to_local
from volunteer.models import Role
from volunteer.services import attendance, face_evidence, points, shifts, teams
from volunteer.views.common import flash_error, form_int, page_number, roles_required, safe_target

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")
STAFF = (Role.COORDINATOR, Role.ADMIN)


def _shift_form_values(shift) -> dict:
    return {"title": shift.title, "description": shift.description, "place_name": shift.place_name,
            "latitude": shift.latitude, "longitude": shift.longitude, "radius_m": shift.radius_m,
            "capacity": shift.capacity, "points_per_hour": shift.points_per_hour, "team_id": shift.team_id,
            "starts_at": to_local(shift.starts_at).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": to_local(shift.ends_at).strftime("%Y-%m-%dT%H:%M")}


@bp.route("/shifts")
@roles_required(*STAFF)
def list_shifts():
    """My teams' shifts, soonest first."""
    return render_template("coordinator/shifts.html", shifts=shifts.managed_shifts(current_user, page=page_number()))


@bp.route("/shifts/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new_shift():
    """Create a shift (optionally weekly for N weeks)."""
    errors: dict = {}
    form = request.form if request.method == "POST" else {"radius_m": 300, "capacity": 5, "points_per_hour": 10,
                                                            "latitude": 30.2590, "longitude": 120.1450}
    if request.method == "POST":
        try:
            created = shifts.create_shifts(current_user, forms.parse(forms.ShiftForm).details())
        except FieldErrors as exc:
            errors = exc.texts()
        else:
            flash(_("%(count)d shifts created.", count=len(created)), "success")
            return redirect(url_for("coordinator.list_shifts"))
    managed = teams.managed_team_ids(current_user)
    return render_template("coordinator/shift_form.html", form=form, errors=errors, shift=None,
                           teams=[t for t in teams.team_choices() if t.id in managed]), 400 if errors else 200


@bp.route("/shifts/<int:shift_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit_shift(shift_id: int):
    """Change a shift; the volunteers signed up see the change."""
    shift = shifts.get_managed_shift(current_user, shift_id)
    errors: dict = {}
    form = request.form if request.method == "POST" else _shift_form_values(shift)
    if request.method == "POST":
        try:
            shifts.update_shift(current_user, shift_id, forms.parse(forms.ShiftForm).details())
        except FieldErrors as exc:
            errors = exc.texts()
        except DomainError as exc:
            flash_error(exc)
        else:
            flash(_("The shift was updated."), "success")
            return redirect(url_for("coordinator.roster", shift_id=shift_id))
    return render_template("coordinator/shift_form.html", form=form, errors=errors, shift=shift,
                           teams=[shift.team]), 400 if errors else 200


@bp.route("/shifts/<int:shift_id>/cancel", methods=["POST"])
@roles_required(*STAFF)
def cancel_shift(shift_id: int):
    """Cancel a shift."""
    shifts.cancel_shift(current_user, shift_id)
    flash(_("The shift was cancelled; the volunteers see it on their page."), "success")
    return redirect(url_for("coordinator.list_shifts"))


@bp.route("/shifts/<int:shift_id>")
@roles_required(*STAFF)
def roster(shift_id: int):
    """Who is signed up, who checked in, and the form to record attendance by hand."""
    return _roster_page(shift_id)


def _roster_page(shift_id: int, errors: dict | None = None, user_id: int | None = None):
    shift = shifts.get_managed_shift(current_user, shift_id)
    signups = shifts.roster(shift_id, page_number())
    records = {a.user_id: a for a in attendance.for_shift(shift_id, [s.user_id for s in signups])}
    adjustable = points.adjustable_volunteer_ids(current_user, [s.user_id for s in signups])
    return render_template("coordinator/roster.html", shift=shift, signups=signups, records=records,
                           adjustable=adjustable,
                           status_label=attendance.status_label, bounds=attendance.manual_bounds(shift, utcnow()),
                           errors=errors or {}, error_user=user_id, form=request.form), 400 if errors else 200


@bp.route("/shifts/<int:shift_id>/manual", methods=["POST"])
@roles_required(*STAFF)
def record_manual(shift_id: int):
    """Record a volunteer's check-in and check-out times by hand (no face check-in; same points)."""
    user_id = form_int("user_id") or 0
    times, errors = {}, {}
    for name in ("check_in_at", "check_out_at"):
        raw = (request.form.get(name) or "").strip()
        times[name] = parse_local(raw) if raw else None
        if raw and times[name] is None:
            errors[name] = _("Please enter a date and time.")
    try:
        if errors:
            raise FieldErrors(errors)
        attendance.record_manual(current_user, shift_id, user_id, times["check_in_at"], times["check_out_at"])
    except FieldErrors as exc:
        return _roster_page(shift_id, exc.texts(), user_id)
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Attendance recorded. It waits in the approval queue."), "success")
    return redirect(url_for("coordinator.roster", shift_id=shift_id, page=page_number()))  # back to that page


@bp.route("/approvals")
@roles_required(*STAFF)
def approval_queue():
    """Pending records, oldest first, with the evidence at a glance."""
    return render_template("coordinator/approvals.html", rows=attendance.queue(current_user, page_number()),
                           flag_labels=attendance.FLAG_LABELS, clean=attendance.count_clean(current_user))


@bp.route("/approvals/photos/<int:thumbnail_id>.jpg")
@roles_required(*STAFF)
def check_in_photo(thumbnail_id: int):
    """The check-in face crop a volunteer agreed to show, for a coordinator who manages the record (the service
    checks); never cached, never a static file."""
    image = face_evidence.thumbnail_image(current_user, thumbnail_id)
    response = Response(image, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.route("/approvals/<int:attendance_id>/approve", methods=["POST"])
@roles_required(*STAFF)
def approve(attendance_id: int):
    """Approve one record."""
    try:
        record = attendance.approve_attendance(current_user, attendance_id)
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Approved: %(points)d points to %(name)s.", points=record.points_awarded, name=record.user.name),
              "success")
    return redirect(url_for("coordinator.approval_queue"))


@bp.route("/approvals/approve-clean", methods=["POST"])
@roles_required(*STAFF)
def approve_clean():
    """Approve every record with nothing unusual, in one action."""
    count = attendance.approve_clean(current_user)
    flash(_("%(count)d records approved.", count=count), "success")
    return redirect(url_for("coordinator.approval_queue"))


@bp.route("/approvals/<int:attendance_id>/reject", methods=["POST"])
@roles_required(*STAFF)
def reject(attendance_id: int):
    """Reject with a reason the volunteer sees (after approval: a reversal)."""
    try:
        attendance.reject_attendance(current_user, attendance_id, request.form.get("reason", ""))
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Rejected. The volunteer sees your reason."), "success")
    return redirect(safe_target(request.form.get("back"), "coordinator.approval_queue"))


@bp.route("/volunteers/<int:user_id>/adjust", methods=["GET", "POST"])
@roles_required(*STAFF)
def adjust_points(user_id: int):
    """Correct a volunteer's points with a reason (audited): the form, then the correction."""
    volunteer = points.volunteer_to_adjust(current_user, user_id)
    back = safe_target(request.values.get("back"))
    if request.method == "GET":
        return render_template("coordinator/adjust.html", volunteer=volunteer, errors={}, form={}, back=back,
                               form_key=uuid.uuid4().hex)
    try:
        form = forms.parse(forms.AdjustPointsForm)
        points.adjust_points(current_user, user_id, form.amount.data, form.reason.data, form_key=form.key.data)
    except FieldErrors as exc:
        # the same key again: once the person corrects the fields, the one adjustment they meant is made
        key = request.form.get("key", "") if "key" not in exc.texts() else uuid.uuid4().hex
        return render_template("coordinator/adjust.html", volunteer=volunteer, errors=exc.texts(), form=request.form,
                               back=back, form_key=key), 400
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Points adjusted."), "success")
    return redirect(back)
