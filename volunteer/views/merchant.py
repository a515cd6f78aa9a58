"""Pages for merchant staff: redeem at the till, history, settlement, proposals."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from volunteer import forms
from volunteer.errors import DomainError, FieldErrors
from volunteer.extensions import limiter
from volunteer.localtime import this_month
from volunteer.models import Category, Role
from volunteer.services import merchants, rewards
from volunteer.views.common import export_language, flash_error, form_int, page_number, roles_required

bp = Blueprint("merchant", __name__, url_prefix="/merchant")


def _staff_key() -> str:
    # the account id, not get_id(): that carries the session token, and signing in again must not reset the budget
    return f"merchant-staff:{current_user.id if current_user.is_authenticated else request.remote_addr}"


def _lookup_limit() -> str:
    return current_app.config["VOUCHER_LOOKUP_LIMIT"]


def _unknown(response) -> bool:
    return response.status_code == 404


#: guessing codes is limited per staff account, one budget for all three code routes (only unknown codes count)
guarded = limiter.shared_limit(_lookup_limit, scope="voucher-codes", key_func=_staff_key, deduct_when=_unknown)


@bp.route("/", methods=["GET", "POST"])
@roles_required(Role.MERCHANT)
@guarded
def redeem_lookup():
    """Type a voucher code (any case, spaces and dashes ignored)."""
    if request.method == "POST":
        typed = request.form.get("code", "")
        try:
            voucher = merchants.find_voucher(current_user, typed)
        except DomainError as exc:
            return render_template("merchant/redeem.html", voucher=None, error=exc.text, typed=typed), exc.status_code
        return redirect(url_for("merchant.voucher", code=voucher.code))
    return render_template("merchant/redeem.html", voucher=None, error=None, typed="")


@bp.route("/v/<code>")
@roles_required(Role.MERCHANT)
@guarded
def voucher(code: str):
    """What a QR code opens: the voucher, the volunteer's masked name and mobile, one big button."""
    try:
        found = merchants.find_voucher(current_user, code)
    except DomainError as exc:
        return render_template("merchant/redeem.html", voucher=None, error=exc.text, typed=code), exc.status_code
    problem = merchants.refusal(found)
    return render_template("merchant/redeem.html", voucher=found, error=problem.text if problem else None, typed="",
                           name=merchants.mask_name(found.user.name), mobile=merchants.mask_mobile(found.user.mobile),
                           code=rewards.format_code(found.code))


@bp.route("/v/<code>/redeem", methods=["POST"])
@roles_required(Role.MERCHANT)
@guarded
def honour(code: str):
    """Redeem it: exactly once, whichever till presses first."""
    try:
        done = merchants.honour_voucher(current_user, code)
    except DomainError as exc:
        if exc.status_code == 404:
            return render_template("merchant/redeem.html", voucher=None, error=exc.text, typed=code), 404
        return redirect(url_for("merchant.voucher", code=code))  # the voucher page says why, once
    flash(_("Redeemed: %(title)s for %(name)s.", title=done.reward.title, name=merchants.mask_name(done.user.name)),
          "success")
    return redirect(url_for("merchant.redeem_lookup"))


@bp.route("/history")
@roles_required(Role.MERCHANT)
def history():
    """Every redemption by this merchant, with time and staff; filter by date and reward."""
    filters = forms.RedemptionFilterForm()
    start, end, reward_id = filters.value("start"), filters.value("end"), filters.value("reward")
    return render_template("merchant/history.html",
                           rows=merchants.history(current_user, start, end, reward_id, page_number()),
                           rewards=merchants.merchant_rewards(current_user), start=request.args.get("start", ""),
                           end=request.args.get("end", ""), reward_id=reward_id,
                           mask_name=merchants.mask_name)


def _month() -> tuple[int, int]:
    return forms.MonthForm().value("month") or this_month()


@bp.route("/settlement")
@roles_required(Role.MERCHANT)
def settlement():
    """Per month, per reward: count redeemed and points value (printable)."""
    year, month = _month()
    rows = merchants.settlement(current_user, year, month)
    return render_template("merchant/settlement.html", rows=rows, month=f"{year:04d}-{month:02d}",
                           total_count=sum(r.count for r in rows), total_points=sum(r.points for r in rows))


@bp.route("/settlement.csv")
@roles_required(Role.MERCHANT)
def settlement_csv():
    """The settlement as CSV (UTF-8 with BOM for Excel): Chinese headers (``lang=zh``) or the codes (``lang=en``)."""
    year, month = _month()
    label = f"{year:04d}-{month:02d}"
    body = merchants.settlement_csv(merchants.settlement(current_user, year, month), label, export_language())
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="settlement-{label}.csv"'})


@bp.route("/rewards", methods=["GET", "POST"])
@roles_required(Role.MERCHANT)
def propose():
    """Our rewards; propose a new one (an admin approves it)."""
    errors: dict = {}
    if request.method == "POST":
        try:
            rewards.save_reward(current_user, current_user.merchant_id, forms.parse(forms.RewardForm).details())
        except FieldErrors as exc:
            errors = exc.texts()
        else:
            flash(_("Thank you! An administrator will review your proposal."), "success")
            return redirect(url_for("merchant.propose"))
    return render_template("merchant/rewards.html", items=merchants.merchant_rewards(current_user), errors=errors,
                           form=request.form, categories=list(Category), labels=rewards.CATEGORY_LABELS), \
        400 if errors else 200


@bp.route("/rewards/<int:reward_id>/restock", methods=["POST"])
@roles_required(Role.MERCHANT)
def request_restock(reward_id: int):
    """Ask for more stock."""
    try:
        merchants.request_restock(current_user, reward_id, form_int("amount") or 0)
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Restock requested. An administrator will approve it."), "success")
    return redirect(url_for("merchant.propose"))
