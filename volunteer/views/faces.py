"""Face pages: notice and consent, enrolment, verification, deleting face data."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from volunteer import forms
from volunteer.errors import DomainError
from volunteer.models import Role
from volunteer.services import face_evidence, face_id
from volunteer.views.common import face_checks, roles_required

bp = Blueprint("faces", __name__, url_prefix="/faces")
#: the status of a face or check-in attempt that was understood but refused (its JSON says why)
REFUSED = 422


def pose_label(step: str) -> str:
    """An instruction in the reader's language."""
    return {"left": _("Turn your head slowly to your left"), "right": _("Turn your head slowly to your right"),
            "straight": _("Look straight at the camera")}[step]


def wants_json() -> bool:
    """The camera script asks for JSON; the plain form fallback gets pages."""
    return request.accept_mimetypes.best == "application/json"


def uploaded_frames(field: str) -> list[bytes]:
    """The uploaded pictures of one field, in order; empty inputs are skipped."""
    frames = []
    for upload in request.files.getlist(field):
        if upload and upload.filename != "":
            frames.append(upload.read())
        upload.close()  # large uploads are spooled to temporary files
    return frames


def challenge_payload(challenge) -> dict:
    """What the page needs to run a challenge."""
    steps = challenge.steps.split(",")
    return {"token": challenge.token, "steps": steps, "labels": [pose_label(s) for s in steps],
            "seconds": current_app.config["FACE_CHALLENGE_SECONDS"]}


@bp.route("/")
@roles_required(Role.VOLUNTEER)
def privacy():
    """My face data: what is stored, and the buttons to enrol, verify or delete."""
    since = face_evidence.thumbnail_consent_since(current_user.id)
    return render_template("faces/privacy.html", consent=face_id.has_consent(current_user.id),
                           enrolled=face_id.is_enrolled(current_user.id), thumbnails_on=since is not None,
                           thumbnails_since=since, thumbnail_days=current_app.config["FACE_THUMBNAIL_DAYS"])


@bp.route("/consent", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def consent():
    """The separate notice and consent for face processing; declining is a first-class choice."""
    if request.method == "POST":
        if request.form.get("decision") == "accept":
            form = forms.parse(forms.ThumbnailConsentForm)  # the separate line: unticked means no
            face_id.give_consent(current_user.id, thumbnails=form.thumbnails.data)
            return redirect(url_for("faces.enrol"))
        return render_template("faces/declined.html")
    return render_template("faces/consent.html", policy_version=current_app.config["FACE_POLICY_VERSION"],
                           tolerance=current_app.config["FACE_TOLERANCE"],
                           thumbnails_on=face_evidence.has_thumbnail_consent(current_user.id),
                           thumbnail_days=current_app.config["FACE_THUMBNAIL_DAYS"])


@bp.route("/enrol", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
@face_checks
def enrol():
    """Three captures from the camera (or three uploads)."""
    if not face_id.has_consent(current_user.id):
        return redirect(url_for("faces.consent"))
    if request.method == "GET":
        return render_template("faces/enrol.html")
    try:
        face_id.enrol(current_user.id, uploaded_frames("photo"))
    except DomainError as exc:
        if wants_json():
            return jsonify(ok=False, message=exc.text), exc.status_code
        flash(exc.text, "error")
        return render_template("faces/enrol.html"), exc.status_code
    message = _("Your face is enrolled. You can now check in with it.")
    if wants_json():
        return jsonify(ok=True, message=message, next=url_for("faces.verify"))
    flash(message, "success")
    return redirect(url_for("faces.privacy"))


@bp.route("/challenge", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def new_challenge():
    """A fresh one-time challenge for the camera script."""
    return jsonify(challenge_payload(face_id.issue_challenge(current_user.id)))


@bp.route("/verify", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
@face_checks
def verify():
    """Try face verification (the same check as at check-in), to practise or test the camera."""
    if not face_id.is_enrolled(current_user.id):
        flash(_("You have not enrolled your face yet."), "info")
        return redirect(url_for("faces.privacy"))
    if request.method == "POST":
        try:
            result = face_id.verify(current_user.id, uploaded_frames("frame"), request.form.get("token"))
        except DomainError as exc:
            if wants_json():
                return jsonify(ok=False, message=exc.text), exc.status_code
            flash(exc.text, "error")
            return redirect(url_for("faces.verify", upload=1))
        if wants_json():  # a refused verification is a 4xx too: nothing reads "200" as success by mistake
            return jsonify(ok=result.accepted, message=result.message, reason=result.reason), \
                200 if result.accepted else REFUSED
        flash(result.message, "success" if result.accepted else "error")
        return redirect(url_for("faces.verify") if result.accepted else url_for("faces.verify", upload=1))
    challenge = face_id.issue_challenge(current_user.id) if current_app.config["FACE_LIVENESS"] else None
    return render_template("faces/verify.html", challenge=challenge_payload(challenge) if challenge else None,
                           action=url_for("faces.verify"))


@bp.route("/thumbnails", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def set_thumbnails():
    """Switch the check-in photo for the coordinator on or off (off deletes the photos kept, at once)."""
    form = forms.parse(forms.ThumbnailConsentForm)
    try:
        removed = face_evidence.set_thumbnail_consent(current_user, form.thumbnails.data)
    except DomainError as exc:
        flash(exc.text, "error")
        return redirect(url_for("faces.privacy"))
    if form.thumbnails.data:
        flash(_("Your coordinator will see a small photo of each check-in from now on."), "success")
    else:
        flash(_("Switched off. %(count)d check-in photos were deleted.", count=removed), "success")
    return redirect(url_for("faces.privacy"))


@bp.route("/delete", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def delete_data():
    """Delete my face data now (all templates at once) and withdraw consent."""
    removed = face_id.delete_face_data(current_user, current_user.id)
    flash(_("Your face data was deleted (%(count)d templates). You can still check in through your coordinator.",
            count=removed), "success")
    return redirect(url_for("faces.privacy"))
