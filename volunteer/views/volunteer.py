"""Pages for volunteers: shifts, check-in and check-out, history, rewards, vouchers, points."""

from __future__ import annotations

import uuid
from datetime import date

import segno
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from volunteer.db import utcnow
from volunteer import forms
from volunteer.errors import DomainError
from volunteer.localtime import local_today
from volunteer.models import Category, Role
from volunteer.services import attendance, face_id, points, rewards, shifts, stars
from volunteer.views.common import face_checks, flash_error, form_int, page_number, redirect_with_notice, roles_required
from volunteer.views.faces import REFUSED, challenge_payload, uploaded_frames, wants_json

bp = Blueprint("volunteer", __name__, url_prefix="/volunteer")


def _float(name: str) -> float | None:
    try:
        value = float(request.form.get(name, ""))
    except ValueError:
        return None
    return value if -180 <= value <= 180 else None


# --- shifts -------------------------------------------------------------------------------------------------

@bp.route("/shifts")
@roles_required(Role.VOLUNTEER)
def list_shifts():
    """Upcoming shifts of my teams ("shifts I can still join" first), filtered by date and place."""
    filters = forms.ShiftFilterForm()
    if filters.day.errors:
        flash(_("Please choose a valid date."), "error")
    day, place = filters.value("day"), filters.value("place") or ""
    mine = shifts.my_signups_page(current_user, page_number("mine_page"))
    now = utcnow()
    checked_in = attendance.attended_shift_ids(current_user, [s.shift_id for s in mine])
    checkin_open = {s.shift_id for s in mine if attendance.checkin_open(s.shift, now) and s.shift_id not in checked_in}
    positions = shifts.waitlist_positions([s for s in mine if s.status == "waitlisted"])
    return render_template("volunteer/shifts.html", rows=shifts.upcoming_for(current_user, day, place, page_number()),
                           mine=mine, positions=positions,
                           open_records=attendance.open_attendance(current_user), checkin_open=checkin_open,
                           day=request.args.get("day", ""), place=place, now=now)


@bp.route("/shifts/<int:shift_id>/signup", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def sign_up(shift_id: int):
    """Join a shift, or its waitlist."""
    try:
        result = shifts.sign_up(current_user, shift_id)
    except DomainError as exc:
        flash_error(exc)
    else:
        if result.position:
            flash(_("The shift is full. You are number %(position)d on the waitlist; you will get a place "
                    "automatically if someone cancels.", position=result.position), "info")
        else:
            flash(_("You are signed up. Thank you!"), "success")
    return redirect(url_for("volunteer.list_shifts"))


@bp.route("/shifts/<int:shift_id>/cancel", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def cancel_signup(shift_id: int):
    """Leave a shift or its waitlist."""
    try:
        shifts.cancel_signup(current_user, shift_id)
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Your sign-up was cancelled."), "success")
    return redirect(url_for("volunteer.list_shifts"))


def _check_page(shift_id: int, direction: str):
    signup = next((s for s in shifts.my_signups(current_user) if s.shift_id == shift_id), None)
    if signup is None:
        flash(_("You are not signed up for this shift (or you are still on the waitlist)."), "error")
        return redirect(url_for("volunteer.list_shifts"))
    enrolled = face_id.is_enrolled(current_user.id)
    challenge = None
    if enrolled and face_id.has_consent(current_user.id):
        from flask import current_app

        if current_app.config["FACE_LIVENESS"]:
            challenge = challenge_payload(face_id.issue_challenge(current_user.id))
    return render_template("volunteer/check.html", shift=signup.shift, direction=direction, enrolled=enrolled,
                           challenge=challenge)


def _check_response(result: attendance.CheckResult, shift_id: int):
    if wants_json():
        return jsonify(ok=result.ok, message=result.message, review=result.can_request_review,
                       next=url_for("volunteer.list_shifts") if result.ok else None), 200 if result.ok else REFUSED
    flash(result.message, "success" if result.ok else "error")
    if result.ok:
        return redirect(url_for("volunteer.list_shifts"))
    return redirect(request.path + "?upload=1" + ("&review=1" if result.can_request_review else ""))


def _check_error(exc: DomainError):
    if wants_json():
        return jsonify(ok=False, message=exc.text), exc.status_code
    flash_error(exc)
    return redirect(url_for("volunteer.list_shifts"))


@bp.route("/shifts/<int:shift_id>/check-in", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
@face_checks
def check_in(shift_id: int):
    """Check in with the face at the patrol place."""
    if request.method == "GET":
        return _check_page(shift_id, "in")
    try:
        result = attendance.check_in(current_user, shift_id, uploaded_frames("frame"), request.form.get("token"),
                                     _float("latitude"), _float("longitude"))
    except DomainError as exc:
        return _check_error(exc)
    return _check_response(result, shift_id)


@bp.route("/shifts/<int:shift_id>/check-in/review", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def check_in_for_review(shift_id: int):
    """Check in without the face or location check; the coordinator decides."""
    try:
        result = attendance.check_in_for_review(current_user, shift_id, _float("latitude"), _float("longitude"))
    except DomainError as exc:
        return _check_error(exc)
    return _check_response(result, shift_id)


@bp.route("/shifts/<int:shift_id>/check-out", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
@face_checks
def check_out(shift_id: int):
    """Check out with the face (or for review after failures)."""
    if request.method == "GET":
        return _check_page(shift_id, "out")
    try:
        result = attendance.check_out(current_user, shift_id, uploaded_frames("frame"), request.form.get("token"),
                                      _float("latitude"), _float("longitude"))
    except DomainError as exc:
        return _check_error(exc)
    return _check_response(result, shift_id)


@bp.route("/shifts/<int:shift_id>/check-out/review", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def check_out_for_review(shift_id: int):
    """Check out without the face check; flagged for the coordinator."""
    try:
        result = attendance.check_out(current_user, shift_id, [], None, _float("latitude"), _float("longitude"),
                                      for_review=True)
    except DomainError as exc:
        return _check_error(exc)
    return _check_response(result, shift_id)


@bp.route("/me")
@roles_required(Role.VOLUNTEER)
def me():
    """"Me": my record, points, vouchers, face data, password, language, text size and signing out."""
    from volunteer.services import home

    return render_template("volunteer/me.html", s=home.about_me(current_user))


@bp.route("/history")
@roles_required(Role.VOLUNTEER)
def history():
    """Each shift, its status, the points it earned and why."""
    return render_template("volunteer/history.html", records=attendance.history(current_user, page_number()),
                           explain=attendance.explain, status_label=attendance.status_label,
                           progress=stars.progress(current_user.service_minutes))


# --- rewards ------------------------------------------------------------------------------------------------

@bp.route("/rewards")
@roles_required(Role.VOLUNTEER)
def catalog():
    """Rewards by category: what I can afford now, and what I am saving for."""
    category = request.args.get("category", "")
    return render_template("volunteer/catalog.html", items=rewards.browse(current_user, category),
                           category=category, categories=list(Category), labels=rewards.CATEGORY_LABELS)


@bp.route("/rewards/<int:reward_id>")
@roles_required(Role.VOLUNTEER)
def reward_detail(reward_id: int):
    """One reward; its button leads to the confirmation page. Before a timed sale opens, a countdown. What already
    stands in the way (too few points or stars, sold out, limit reached) shows instead of the button, with the
    next step: the same quote as the confirmation page (a read; the redemption itself checks again)."""
    quote = rewards.quote_redemption(current_user, reward_id)
    return render_template("volunteer/reward.html", q=quote, reward=quote.reward, labels=rewards.CATEGORY_LABELS,
                           star=quote.star, opens_at=quote.opens_at, now=utcnow())


@bp.route("/rewards/<int:reward_id>/redeem", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def redeem(reward_id: int):
    """Confirm (spend N points, M left; the form carries a fresh idempotency key), then spend points on the
    reward: a double click issues one voucher, and a repeat within minutes (Back, a second tab) asks again. Before
    a timed sale opens, the confirmation counts down and enables its button at the instant (static/js/countdown.js).

    The POST is a flash sale's hot path: the answer rides in the redirect's URL, not in the session (no cookie is
    written), and nothing reads ``current_user`` after the service, whose commit or rollback expires it (a reload).
    """
    if request.method == "GET":
        quote = rewards.quote_redemption(current_user, reward_id)
        return render_template("volunteer/redeem.html", q=quote, labels=rewards.CATEGORY_LABELS,
                               form_key=uuid.uuid4().hex, now=utcnow())
    user_id = current_user.id
    get_locale()  # the reader's language, chosen now for the same reason
    try:
        voucher_id = rewards.redeem(user_id, reward_id, request.form.get("key", ""), form_int("seen") or 0)
    except rewards.RepeatRedemptionError:
        return redirect(url_for("volunteer.redeem", reward_id=reward_id))  # the page asks again
    except DomainError as exc:
        if exc.status_code in (403, 404):
            raise
        return redirect_with_notice(url_for("volunteer.reward_detail", reward_id=reward_id), user_id, exc.text,
                                    "error")
    return redirect_with_notice(url_for("volunteer.voucher_detail", voucher_id=voucher_id), user_id,
                                _("Done! Show this voucher at the merchant."), "success")


@bp.route("/vouchers")
@roles_required(Role.VOLUNTEER)
def my_vouchers():
    """My vouchers with their status."""
    return render_template("volunteer/vouchers.html", vouchers=rewards.my_vouchers(current_user.id),
                           status_label=rewards.status_label, format_code=rewards.format_code)


@bp.route("/vouchers/<int:voucher_id>")
@roles_required(Role.VOLUNTEER)
def voucher_detail(voucher_id: int):
    """The voucher to show at the till: big QR code and the code in readable groups."""
    voucher = rewards.my_voucher(current_user.id, voucher_id)
    link = url_for("merchant.voucher", code=voucher.code, _external=True)
    qr = segno.make(link, error="m").svg_data_uri(scale=6, border=2)
    return render_template("volunteer/voucher.html", voucher=voucher, qr=qr, code=rewards.format_code(voucher.code),
                           status_label=rewards.status_label)


@bp.route("/vouchers/<int:voucher_id>/cancel", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def cancel_voucher(voucher_id: int):
    """Ask first, then cancel an unused voucher for a full refund."""
    if request.method == "GET":
        return render_template("volunteer/cancel_voucher.html", voucher=rewards.my_voucher(current_user.id, voucher_id),
                               status_label=rewards.status_label, format_code=rewards.format_code)
    try:
        voucher = rewards.cancel_voucher(current_user.id, voucher_id)
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("The voucher was cancelled and %(points)d points returned.", points=voucher.points_cost), "success")
    return redirect(url_for("volunteer.my_vouchers"))


@bp.route("/points")
@roles_required(Role.VOLUNTEER)
def points_history():
    """Every change of my points, and what expires when."""
    entries = points.history(current_user.id, page_number())
    return render_template("volunteer/points.html", entries=entries,
                           labels=points.entry_labels(entries.items, str(get_locale())),
                           expiry=points.upcoming_expiry(current_user.id, local_today()))


@bp.route("/certificate", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def issue_certificate():
    """Issue my service certificate (the same code again while my record is unchanged), then download it."""
    from volunteer.services import certificates

    certificates.issue_certificate(current_user)
    return redirect(url_for("volunteer.certificate"))


@bp.route("/certificate.pdf")
@roles_required(Role.VOLUNTEER)
def certificate():
    """Download my service certificate (志愿服务记录证明) with its verification code; writes nothing."""
    from flask import Response

    from volunteer.services import certificates

    issued, lines = certificates.current_certificate(current_user)
    if issued is None:
        flash(_("Your service record has changed since your last certificate (or you have none yet). Press the "
                "button to issue a new one."), "info")
        return redirect(url_for("volunteer.history"))
    pdf = certificates.render_pdf(issued, current_user.name, lines,
                                  url_for("main.verify_certificate", code=issued.code, _external=True))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="certificate-{issued.code}.pdf"'})
