"""Registration, sign-in, sign-out and the language switch."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from volunteer.errors import DomainError, FieldErrors
from volunteer.extensions import client_address, form_key, limiter
from volunteer.services import accounts, teams
from volunteer.views.common import form_int, safe_target

bp = Blueprint("auth", __name__)


def _failed_login(response) -> bool:
    return response.status_code == 401


def _config(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


_account = form_key("mobile", accounts.normalise_mobile)


def _account_at_address() -> str:
    return f"{_account()}@{client_address()}"


# Failed logins only. The tight limit is per account *and* address, so a stranger's failures lock out the
# stranger, not the owner signing in from elsewhere; the account's own, higher ceiling caps guessing spread
# over many addresses; the per-address limit caps one address trying many accounts.
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_config("LOGIN_LIMIT_PER_ACCOUNT_AND_ADDRESS"), key_func=_account_at_address, methods=["POST"],
               deduct_when=_failed_login)
@limiter.limit(_config("LOGIN_LIMIT_PER_ACCOUNT"), key_func=_account, methods=["POST"], deduct_when=_failed_login)
@limiter.limit(_config("LOGIN_LIMIT_PER_IP"), methods=["POST"], deduct_when=_failed_login)
def login():
    """Sign in with mobile number and password."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    if request.method == "POST":
        try:
            user = accounts.authenticate(request.form.get("mobile", ""), request.form.get("password", ""))
        except DomainError as exc:
            return render_template("auth/login.html", error=exc.text, mobile=request.form.get("mobile", "")), 401
        chose_large_text = session.get("large_text") is True
        session.clear()  # a fresh session at login: nothing from before survives
        login_user(user)
        session["locale"] = user.locale
        if chose_large_text and not user.large_text:  # turned on at the sign-in page: the text stays large
            accounts.set_large_text(user.id, True)
        return redirect(safe_target(request.args.get("next")))
    return render_template("auth/login.html", error=None, mobile=session.get("registered_mobile", ""))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out everywhere: the session token changes, so a copied cookie stops working."""
    accounts.end_sessions(current_user.id)
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


def _completed(response) -> bool:
    return response.status_code == 302


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_config("REGISTER_LIMIT_PER_IP"), methods=["POST"], deduct_when=_completed)
def register():
    """A volunteer creates their own account, then signs in.

    A mobile number that is already registered gets the same answer as a new one (no account is touched), so the
    form cannot be used to find out who volunteers here; the sign-in page then tells the two cases apart only for
    whoever knows the password.
    """
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = request.form
    errors: dict = {}
    if request.method == "POST":
        try:
            accounts.register_volunteer(form.get("name", ""), form.get("mobile", ""), form.get("password", ""),
                                        form.get("confirm", ""), form_int("team_id"), session.get("locale", "zh_CN"))
        except FieldErrors as exc:
            errors = exc.texts()
        except accounts.AlreadyRegisteredError:
            pass  # answered exactly like a new registration
        if not errors:
            session["registered_mobile"] = accounts.normalise_mobile(form.get("mobile", ""))
            flash(_("Thank you. If this mobile number was new, your account is ready: please sign in. If it was "
                    "already registered, sign in with your existing password (your coordinator can reset a "
                    "forgotten one)."), "success")
            return redirect(url_for("auth.login"))
    status = 400 if errors else 200
    return render_template("auth/register.html", errors=errors, form=form, teams=teams.team_choices()), status


@bp.route("/language/<code>", methods=["POST"])
def set_language(code: str):
    """Switch between 中文 and English; remembered for the account when signed in."""
    if code not in current_app.config["LANGUAGES"]:
        code = current_app.config["BABEL_DEFAULT_LOCALE"]
    session["locale"] = code
    if current_user.is_authenticated:
        accounts.set_locale(current_user.id, code)
    return redirect(safe_target(request.form.get("next")))


@bp.route("/text-size", methods=["POST"])
def set_text_size():
    """Larger text on or off; remembered for the account when signed in, else for this browser."""
    large = request.form.get("large") == "1"
    session["large_text"] = large
    if current_user.is_authenticated:
        accounts.set_large_text(current_user.id, large)
    return redirect(safe_target(request.form.get("next")))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change my password (everyone); other devices are signed out."""
    errors: dict = {}
    if request.method == "POST":
        try:
            accounts.change_password(current_user.id, request.form.get("current", ""), request.form.get("password", ""),
                                     request.form.get("confirm", ""))
        except FieldErrors as exc:
            errors = exc.texts()
        else:
            login_user(current_user._get_current_object())  # this device stays signed in with the new token
            flash(_("Your password was changed. Other devices have been signed out."), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/password.html", errors=errors), 400 if errors else 200
