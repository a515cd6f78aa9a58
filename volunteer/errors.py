"""Domain errors (each a message a person understands) and the friendly HTTP error pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """A rule of the domain refused the action; ``text`` says why, in the reader's language."""

    message: Any = _l("That cannot be done.")
    status_code = 400

    def __init__(self, message: Any = None, **params: Any) -> None:
        self._message = message if message is not None else self.message
        self.params = params
        super().__init__(str(self._message))

    @property
    def text(self) -> str:
        """The translated message with its parameters filled in."""
        message = str(self._message)
        return message % self.params if self.params else message

    def __str__(self) -> str:
        return self.text


class FieldErrors(DomainError):
    """Several form fields are wrong; ``fields`` maps each to its own message."""

    message = _l("Please correct the fields marked below.")

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__()
        self.fields = fields

    def texts(self) -> dict[str, str]:
        """Each field's message, translated."""
        return {name: str(msg) for name, msg in self.fields.items()}


class NulCharacterError(DomainError):
    """A NUL character: nobody types one, no database column can keep one (PostgreSQL refuses it)."""

    message = _l("The request contains an invisible character that cannot be stored. Please check what you typed.")
    status_code = 400


class NotFoundError(DomainError):
    message = _l("Not found.")
    status_code = 404


class PermissionDeniedError(DomainError):
    message = _l("You do not have permission to do that.")
    status_code = 403


class InvalidStateError(DomainError):
    message = _l("This can no longer be done: the record has changed. Please reload the page.")
    status_code = 409


ERROR_TITLES = {
    400: _l("The request could not be understood"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("That action is not allowed here"),
    413: _l("The file is too large"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong on our side"),
}

ERROR_HINTS = {
    400: _l("Please go back and try again. If you submitted a form, reload it first."),
    403: _l("If you think you should have access, ask your coordinator."),
    404: _l("The address may be mistyped, or the item was removed."),
    405: _l("Please go back and use the buttons on the page."),
    413: _l("Please choose a smaller photo (at most 5 MB)."),
    429: _l("Please wait a little and try again."),
    500: _l("Nothing was changed. Please try again in a moment; if it keeps happening, tell your coordinator."),
}


def render_error(code: int, detail: str | None = None):
    """Render the friendly page for an HTTP status."""
    wants_json = request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/")
    title = str(ERROR_TITLES.get(code, ERROR_TITLES[500]))
    hint = detail or str(ERROR_HINTS.get(code, ERROR_HINTS[500]))
    if wants_json:
        return {"error": title, "message": hint}, code
    return render_template("error.html", code=code, title=title, hint=hint), code


def register_error_handlers(app: Flask) -> None:
    """Friendly pages for the HTTP errors a person can meet."""

    def handle_http(exc: HTTPException):
        code = exc.code or 500
        detail = None
        if code == 429:
            from volunteer.views.common import retry_message

            detail = retry_message()
        elif code == 400 and getattr(exc, "description", "").startswith("The CSRF"):
            from flask_babel import gettext

            detail = gettext("This form has expired. Please reload the page and try again.")
        return render_error(code, detail)

    app.register_error_handler(HTTPException, handle_http)

    def handle_domain(exc: DomainError):
        return render_error(exc.status_code, exc.text)

    app.register_error_handler(DomainError, handle_domain)

    def handle_unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        from volunteer.extensions import db

        db.session.rollback()
        return render_error(500)

    if not app.config.get("PROPAGATE_EXCEPTIONS"):
        app.register_error_handler(Exception, handle_unexpected)
