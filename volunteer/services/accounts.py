"""Accounts: registration, sign-in, sign-out, staff creation, language."""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from volunteer.errors import DomainError, FieldErrors, NotFoundError, PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import Merchant, Role, Team, User
from volunteer.services import audit
from volunteer.services.text import clean_text

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
LOCALES = ("zh_CN", "en")
ROLE_LABELS = {Role.VOLUNTEER: _l("Volunteer"), Role.COORDINATOR: _l("Coordinator"), Role.MERCHANT: _l("Merchant staff"),
               Role.ADMIN: _l("Administrator")}


class LoginFailedError(DomainError):
    message = _l("Wrong mobile number or password.")
    status_code = 401


class OwnAccountError(DomainError):
    message = _l("You cannot disable your own account.")
    status_code = 409


class OwnPasswordResetError(DomainError):
    message = _l("You cannot reset your own password here; please use “Change password” instead.")
    status_code = 409


def require_admin(actor: User) -> None:
    """Raise PermissionDeniedError unless the acting user is an administrator."""
    if actor.role != Role.ADMIN:
        raise PermissionDeniedError()


class AlreadyRegisteredError(DomainError):
    """Self-registration with a mobile number that has an account; the view answers as for a new one."""

    message = _l("This mobile number is already registered. Please sign in instead.")
    status_code = 409


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).resolve().parent.parent / "data" / "common_passwords.txt"
    return frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())


def normalise_mobile(mobile: str) -> str:
    """Strip spaces, dashes and a +86 prefix."""
    digits = re.sub(r"[\s-]", "", mobile or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits


def _check_password(password: str, confirm: str | None, errors: dict) -> None:
    if len(password) < PASSWORD_MIN:
        errors["password"] = _l("The password needs at least 8 characters.")
    elif len(password) > PASSWORD_MAX:
        errors["password"] = _l("The password can have at most 128 characters.")
    elif password.lower() in _common_passwords():
        errors["password"] = _l("This password is too common and easy to guess. Please choose another.")
    elif confirm is not None and password != confirm:
        errors["confirm"] = _l("The two passwords are not the same.")


def _mobile_taken(mobile: str) -> bool:
    return db.session.scalar(select(User.id).where(User.mobile == mobile)) is not None


def _validate_person(name: str, mobile: str, password: str, confirm: str | None, say_taken: bool = True) -> dict:
    errors: dict = {}
    clean_text(errors, "name", name, User.name, required=_l("Please enter your real name."))
    if not MOBILE_RE.match(mobile):
        errors["mobile"] = _l("Please enter an 11-digit mainland mobile number starting with 1.")
    elif say_taken and _mobile_taken(mobile):
        errors["mobile"] = AlreadyRegisteredError.message
    _check_password(password, confirm, errors)
    return errors


def register_volunteer(name: str, mobile: str, password: str, confirm: str, team_id: int | None,
                       locale: str = "zh_CN") -> User:
    """Create a volunteer account; every bad field gets its own message and nothing is saved.

    The field errors never depend on whether the mobile number has an account; only a form that is right in
    every other way learns it, through AlreadyRegisteredError, after the same work as a registration (the
    existing account is left alone).
    """
    name, mobile = (name or "").strip(), normalise_mobile(mobile)
    errors = _validate_person(name, mobile, password or "", confirm or "", say_taken=False)
    team = db.session.get(Team, team_id) if team_id else None
    if team is None:
        errors["team"] = _l("Please choose your team.")
    if errors:
        raise FieldErrors(errors)
    password_hash = generate_password_hash(password)  # also for a taken number: no timing difference
    if _mobile_taken(mobile):
        raise AlreadyRegisteredError()
    user = User(name=name, mobile=mobile, password_hash=password_hash, role=Role.VOLUNTEER,
                locale=locale if locale in LOCALES else "zh_CN", teams=[team])
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        if not _mobile_taken(mobile):
            raise
        raise AlreadyRegisteredError() from None  # registered by a concurrent request a moment ago
    audit.record(user.id, "account.register", f"user:{user.id}")
    db.session.commit()
    return user


def create_user(actor: User | None, name: str, mobile: str, password: str, role: Role,
                merchant_id: int | None = None, team_ids: tuple[int, ...] = ()) -> User:
    """An admin (or the server's operator through the CLI: ``actor`` None) creates a coordinator, merchant staff,
    admin or volunteer."""
    if actor is not None:
        require_admin(actor)
    name, mobile = (name or "").strip(), normalise_mobile(mobile)
    errors = _validate_person(name, mobile, password or "", None)
    merchant = db.session.get(Merchant, merchant_id) if merchant_id else None
    if role == Role.MERCHANT and merchant is None:
        errors["merchant"] = _l("Merchant staff must belong to a merchant.")
    teams = [db.session.get(Team, t) for t in team_ids]
    if any(t is None for t in teams):
        errors["teams"] = _l("Unknown team.")
    if errors:
        raise FieldErrors(errors)
    user = User(name=name, mobile=mobile, password_hash=generate_password_hash(password), role=role,
                merchant=merchant if role == Role.MERCHANT else None)
    if role == Role.COORDINATOR:
        user.managed_teams = teams
    elif role == Role.VOLUNTEER:
        user.teams = teams
    db.session.add(user)
    db.session.flush()
    audit.record(actor.id if actor else None, "account.create", f"user:{user.id}", role=role.value, mobile=mobile)
    db.session.commit()
    return user


def authenticate(mobile: str, password: str) -> User:
    """The enabled user with these credentials, or LoginFailedError (same message either way)."""
    user = db.session.scalar(select(User).where(User.mobile == normalise_mobile(mobile)))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")  # same work as a real check: no timing oracle
        raise LoginFailedError()
    if not check_password_hash(user.password_hash, password or "") or not user.is_enabled:
        raise LoginFailedError()
    return user


_DUMMY_HASH = generate_password_hash("not-a-real-password")


def end_sessions(user_id: int) -> None:
    """Invalidate every login cookie of this user (logout, disable, password change)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError()
    user.session_token = secrets.token_hex(16)
    db.session.commit()


def set_enabled(actor: User, user_id: int, enabled: bool) -> User:
    """An admin disables or re-enables an account (not their own: someone must remain to undo it); disabling ends
    its sessions."""
    require_admin(actor)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError()
    if user.id == actor.id and not enabled:
        raise OwnAccountError()
    before = user.is_enabled
    user.is_enabled = enabled
    if not enabled:
        user.session_token = secrets.token_hex(16)
    audit.record(actor.id, "account.enable" if enabled else "account.disable", f"user:{user.id}",
                 before=before, after=enabled)
    db.session.commit()
    return user


TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to confuse when read aloud


def get_person(actor: User, user_id: int) -> User:
    """An admin looks at one account (to confirm an action on it)."""
    require_admin(actor)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError()
    return user


def person_to_reset(actor: User, user_id: int) -> User:
    """The account an admin may give a temporary password: anybody's but their own (their own password is
    changed the normal way, knowing the current one)."""
    user = get_person(actor, user_id)
    if user.id == actor.id:
        raise OwnPasswordResetError()
    return user


def reset_password(actor: User, user_id: int) -> str:
    """An admin gives a person a temporary password (e.g. someone imported from the old system); their
    sessions end. Returns the temporary password, to be passed on once and changed at first sign-in."""
    user = person_to_reset(actor, user_id)
    temporary = "-".join("".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(4)) for _ in range(3))
    user.password_hash = generate_password_hash(temporary)
    user.session_token = secrets.token_hex(16)
    audit.record(actor.id, "account.reset_password", f"user:{user.id}")
    db.session.commit()
    return temporary


def change_password(user_id: int, current: str, new: str, confirm: str) -> None:
    """A signed-in person changes their own password; other sessions end, this one is renewed by the view."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError()
    errors: dict = {}
    if not check_password_hash(user.password_hash, current or ""):
        errors["current"] = _l("The current password is not right.")
    _check_password(new or "", confirm or "", errors)
    if not errors and new == current:
        errors["password"] = _l("Please choose a password different from the current one.")
    if errors:
        raise FieldErrors(errors)
    user.password_hash = generate_password_hash(new)
    user.session_token = secrets.token_hex(16)
    audit.record(user_id, "account.change_password", f"user:{user.id}")
    db.session.commit()


def set_large_text(user_id: int, on: bool) -> None:
    """Remember whether a person reads the pages in larger type."""
    user = db.session.get(User, user_id)
    if user is not None:
        user.large_text = on
        db.session.commit()


def set_locale(user_id: int, locale: str) -> None:
    """Remember the language a person chose."""
    if locale not in LOCALES:
        raise DomainError(_l("Unknown language."))
    user = db.session.get(User, user_id)
    if user is not None:
        user.locale = locale
        db.session.commit()
