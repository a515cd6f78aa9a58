"""Forms parsed at the edge: every form and query string becomes typed values before a service sees it.

Each field refuses what the database could not keep or a person could not mean, with its own message: text within
its column's length and without control characters, integers within the database's integer type, decimals that
are finite, dates within a sane window. Services then apply the rules of the domain (a shift cannot start in the
past, a capacity cannot drop below the sign-ups) and raise ``FieldErrors`` with the same field names.

CSRF is checked for every POST by ``CSRFProtect`` before a view runs, so these forms do not check it again.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, Form
from wtforms.validators import ValidationError

from volunteer.localtime import parse_local
from volunteer.models import (
    AuditEvent,
    Category,
    LocationSource,
    Merchant,
    PointEntry,
    RejectReason,
    Report,
    Reward,
    Role,
    Shift,
    Team,
    TeamKind,
    User,
)
from volunteer.services.text import clean_text

#: the database's INTEGER (PostgreSQL int4); an id or a count beyond it cannot exist
INT_MAX = 2**31 - 1
#: dates a person can mean here: nothing before the 1.0 paper records, nothing past a lifetime of patrols
YEARS = (2000, 2100)
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,12}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class _Typed(Field):
    """A field that parses its one raw value with ``parse`` and keeps the raw text for redisplay."""

    def __init__(self, label: str = "", required: Any = None, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.required = required

    def process_formdata(self, valuelist: list[str]) -> None:
        self.raw = valuelist[0].strip() if valuelist else ""
        self.data = None
        if not self.raw:
            if self.required is not None:
                raise ValueError(str(self.required))
            return
        self.data = self.parse(self.raw)

    def parse(self, raw: str) -> Any:
        """The typed value of a non-empty field, or ValueError with the message; each field type says how."""
        raise NotImplementedError  # abstract: every subclass defines it

    def _value(self) -> str:
        return getattr(self, "raw", "") or ("" if self.data is None else str(self.data))


class TextField(_Typed):
    """Trimmed text within ``column``'s length (``None``: a long text), without control characters."""

    def __init__(self, label: str = "", column: Any = None, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.column, self.multiline = column, multiline

    def process_formdata(self, valuelist: list[str]) -> None:
        errors: dict = {}
        self.raw = valuelist[0] if valuelist else ""
        self.data = clean_text(errors, self.name, self.raw, self.column, required=self.required,
                               multiline=self.multiline)
        if errors:
            raise ValueError(str(errors[self.name]))

    def process_data(self, value: Any) -> None:
        self.data = value if value is not None else ""


class IntField(_Typed):
    """A whole number from ``low`` to ``high`` (digits only: "²" and "1e3" are not whole numbers here)."""

    def __init__(self, label: str = "", low: int = 0, high: int = INT_MAX, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.low, self.high = low, high

    def parse(self, raw: str) -> int:
        return whole_number(raw, self.low, self.high)


def whole_number(raw: str, low: int = -INT_MAX, high: int = INT_MAX) -> int:
    """A whole number written with digits, from ``low`` to ``high``; ValueError with the message otherwise."""
    raw = raw.strip()
    if not _INTEGER.fullmatch(raw):
        raise ValueError(str(_l("Please enter a whole number.")))
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(str(_l("Please enter a number from %(low)s to %(high)s.", low=low, high=high)))
    return value


class VersionField(_Typed):
    """The version of a record that a page showed and its form carries back (digits, up to 18: a microsecond
    timestamp fits, up to the year 9999's); anything else means the page is not one we sent, or too old to trust."""

    #: microseconds from 1970 to the last instant a datetime holds (9999-12-31 23:59:59.999999 UTC)
    MAX = 253_402_300_799_999_999

    def parse(self, raw: str) -> int:
        if not re.fullmatch(r"[0-9]{1,18}", raw) or int(raw) > self.MAX:
            raise ValueError(str(_l("This page is out of date. Please reload it and try again.")))
        return int(raw)


class DecimalField(_Typed):
    """A finite decimal number from ``low`` to ``high`` (no NaN, no infinity, no exponent)."""

    def __init__(self, label: str = "", low: float = 0, high: float = 0, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.low, self.high = low, high

    def parse(self, raw: str) -> float:
        if not _DECIMAL.fullmatch(raw):
            raise ValueError(str(_l("Please enter a number.")))
        value = float(raw)
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise ValueError(str(_l("Please enter a number from %(low)s to %(high)s.", low=self.low, high=self.high)))
        return value


def _in_window(year: int) -> None:
    if not YEARS[0] <= year <= YEARS[1]:
        raise ValueError(str(_l("Please enter a date between %(start)d and %(end)d.", start=YEARS[0], end=YEARS[1])))


class LocalDateTimeField(_Typed):
    """An ``<input type=datetime-local>`` in the configured zone, as an aware UTC datetime."""

    def parse(self, raw: str) -> datetime:
        try:
            year = datetime.fromisoformat(raw).year
        except ValueError:
            year = None
        if year is not None:
            _in_window(year)  # before any zone arithmetic: 0001-01-01 00:00 in Hangzhou has no UTC time
        moment = parse_local(raw)
        if moment is None:
            raise ValueError(str(_l("Please enter a date and time like 2026-11-30 09:00.")))
        return moment


class DayField(_Typed):
    """A calendar day (YYYY-MM-DD) within the window."""

    def parse(self, raw: str) -> date:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise ValueError(str(_l("Please enter a date like 2026-11-30."))) from None
        _in_window(day.year)
        return day


class MonthField(_Typed):
    """A month (YYYY-MM) within the window, as (year, month)."""

    def parse(self, raw: str) -> tuple[int, int]:
        match = _MONTH.fullmatch(raw)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(str(_l("Please enter a month like 2026-11.")))
        _in_window(int(match.group(1)))
        return int(match.group(1)), int(match.group(2))


class ChoiceField(_Typed):
    """One of a fixed set of codes (an enum's values), as the enum member."""

    def __init__(self, label: str = "", enum: Any = None, message: Any = None, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.enum, self.message = enum, message or _l("Please choose one of the options.")

    def parse(self, raw: str) -> Any:
        try:
            return self.enum(raw)
        except ValueError:
            raise ValueError(str(self.message)) from None


class IdListField(Field):
    """Several ids (checkboxes sharing a name); anything that is not an id is refused."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = []
        for raw in valuelist:
            raw = raw.strip()
            if not raw:
                continue
            if not _INTEGER.fullmatch(raw) or not 1 <= int(raw) <= INT_MAX:
                self.data = []
                raise ValueError(str(_l("Unknown team.")))
            self.data.append(int(raw))

    def process_data(self, value: Any) -> None:
        self.data = list(value or [])


class CheckboxField(Field):
    """A checkbox: present and "on" (or "1") means yes."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = bool(valuelist) and valuelist[0] in ("on", "1", "true", "yes")

    def process_data(self, value: Any) -> None:
        self.data = bool(value)


class PostForm(FlaskForm):
    """A submitted form (the request's form fields and files)."""

    class Meta:
        csrf = False  # CSRFProtect has already checked this request

    def errors_by_field(self) -> dict[str, str]:
        """The first message of each wrong field, as the templates show them."""
        return {name: str(messages[0]) for name, messages in self.errors.items() if messages}

    def check(self) -> dict[str, str]:
        """Validate; the messages by field (empty when everything is right)."""
        self.validate()
        return self.errors_by_field()


class QueryForm(Form):
    """Filters in the query string; a wrong filter is reported and ignored, never an error page."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(request.args, **kwargs)
        self.validate()

    def errors_by_field(self) -> dict[str, str]:
        return {name: str(messages[0]) for name, messages in self.errors.items() if messages}

    def value(self, name: str) -> Any:
        """The typed value of a filter, or None when it was missing or wrong."""
        field = self[name]
        return None if field.errors else field.data


def refuse(message: Any) -> ValidationError:
    """A validation error with a lazily translated message."""
    return ValidationError(str(message))


def parse(form_class: type[PostForm], data: dict | None = None) -> PostForm:
    """Parse a form (the request's, or ``data`` for scripts and tests); FieldErrors when a field is wrong."""
    from werkzeug.datastructures import MultiDict

    from volunteer.errors import FieldErrors

    form = form_class(formdata=MultiDict(data)) if data is not None else form_class()
    errors = form.check()
    if errors:
        raise FieldErrors(errors)
    return form


# --- the forms ------------------------------------------------------------------------------------------------

class ShiftForm(PostForm):
    """A coordinator's shift (new or edited)."""

    team_id = IntField(low=1)
    title = TextField(column=Shift.title, required=_l("This field is required."))
    place_name = TextField(column=Shift.place_name, required=_l("This field is required."))
    description = TextField(multiline=True)
    latitude = DecimalField(low=-90, high=90, required=_l("Please enter a number."))
    longitude = DecimalField(low=-180, high=180, required=_l("Please enter a number."))
    radius_m = IntField(low=10, high=5000, required=_l("Please enter a number."))
    capacity = IntField(low=1, high=1000, required=_l("Please enter a number."))
    points_per_hour = IntField(low=0, high=1000, required=_l("Please enter a number."))
    repeat_weeks = IntField(low=0, high=52)
    starts_at = LocalDateTimeField(required=_l("Please enter the start date and time."))
    ends_at = LocalDateTimeField(required=_l("Please enter the end date and time."))

    def details(self):
        from volunteer.services.shifts import ShiftDetails

        return ShiftDetails(title=self.title.data, place_name=self.place_name.data,
                            description=self.description.data, latitude=self.latitude.data,
                            longitude=self.longitude.data, radius_m=self.radius_m.data, capacity=self.capacity.data,
                            points_per_hour=self.points_per_hour.data, starts_at=self.starts_at.data,
                            ends_at=self.ends_at.data, team_id=self.team_id.data,
                            repeat_weeks=self.repeat_weeks.data or 0)


class RewardForm(PostForm):
    """A reward in the catalog (an admin's) or proposed (a merchant's)."""

    merchant_id = IntField(low=1)
    title = TextField(column=Reward.title, required=_l("Please enter a title."))
    description = TextField(multiline=True)
    category = ChoiceField(enum=Category, message=_l("Choose a category."), required=_l("Choose a category."))
    points_cost = IntField(low=1, high=1_000_000, required=_l("Please enter a whole number."))
    stock = IntField(low=0, high=1_000_000)
    validity_days = IntField(low=1, high=3650, required=_l("Please enter a whole number."))
    min_star = IntField(low=0, high=5, required=_l("Please enter a whole number."))
    per_volunteer_limit = IntField(low=1, high=1000)
    limit_period_days = IntField(low=1, high=3650, required=_l("Please enter a whole number."))
    refund_on_expiry = CheckboxField()
    on_sale_from = LocalDateTimeField()  # empty: on sale at once

    def details(self):
        from volunteer.services.rewards import RewardDetails

        return RewardDetails(**{name: self[name].data for name in (
            "title", "description", "category", "points_cost", "stock", "validity_days", "min_star",
            "per_volunteer_limit", "limit_period_days", "refund_on_expiry", "on_sale_from")})


# --- patrol reports -------------------------------------------------------------------------------------------

class ReportForm(PostForm):
    """A volunteer's report (the photos come as files named "photos"). Location: WGS-84 from the browser or typed."""

    category_id = IntField(low=1, required=_l("Please choose what you found."))
    description = TextField(multiline=True, required=_l("Please describe what you found."))
    latitude = DecimalField(low=-90, high=90,
                            required=_l("Please give the place: use your location or type its latitude and longitude."))
    longitude = DecimalField(low=-180, high=180,
                             required=_l("Please give the place: use your location or type its latitude and longitude."))
    accuracy_m = DecimalField(low=0, high=100_000)
    location_source = ChoiceField(enum=LocationSource)
    #: "add mine to that report" (one of the open reports nearby that the page offered)
    join_report_id = IntField(low=1)
    #: "send mine as a new report" although open reports nearby were offered
    confirm_new = CheckboxField()


class NearbyForm(QueryForm):
    """The "already reported nearby?" look-up before sending."""

    category_id = IntField(low=1)
    latitude = DecimalField(low=-90, high=90)
    longitude = DecimalField(low=-180, high=180)


class ReportNoteForm(PostForm):
    """A step with an optional note (sign, dispatch's note, close)."""

    note = TextField(column=Report.status_note, multiline=True)


class DispatchForm(ReportNoteForm):
    """交办: to a sub-team and/or a handler."""

    team_id = IntField(low=1)
    user_id = IntField(low=1)
    #: the dispatch the page showed (``patrol_reports.dispatch_version``): a newer one refuses this one
    seen_version = VersionField()

    def validate_user_id(self, field) -> None:
        if field.data is None and self.team_id.data is None:
            raise refuse(_l("Choose a team or a handler."))


class HandleForm(PostForm):
    """办结: what was done (the photo comes as a file named "photo")."""

    note = TextField(column=Report.status_note, multiline=True, required=_l("Please say what was done."))


class CloseForm(ReportNoteForm):
    """Close; "confirmed and useful" credits the reporter."""

    useful = CheckboxField()


class FormKeyField(_Typed):
    """The one-time key a form page carries (32 hex characters), so that sending it twice does a thing once."""

    def parse(self, raw: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{32}", raw):
            raise ValueError(str(_l("This form has expired. Please reload the page and try again.")))
        return raw


class AdjustPointsForm(PostForm):
    """A coordinator's correction of a volunteer's points: plus or minus, with the reason the volunteer reads."""

    #: the page's one-time key (a request without one is adjusted as a new adjustment, as before pages had it)
    key = FormKeyField()

    amount = IntField(low=-100_000, high=100_000, required=_l("Please enter the points to add (or, with a minus "
                                                             "sign, to take away)."))
    reason = TextField(column=PointEntry.note, required=_l("Please give a reason for the adjustment."))


class RejectForm(PostForm):
    """Not taken up, with a reason the reporter reads."""

    reason = ChoiceField(enum=RejectReason, message=_l("Choose a reason."), required=_l("Choose a reason."))
    note = TextField(column=Report.status_note, multiline=True, required=_l("Please tell the reporter why."))


class ReopenForm(PostForm):
    """Reopen with a reason."""

    note = TextField(column=Report.status_note, multiline=True, required=_l("Please say why it is reopened."))


class MergeForm(ReportNoteForm):
    """Merge this report into another (its number)."""

    into_report_id = IntField(low=1, required=_l("Please enter the number of the report to keep."))


class TeamAreaForm(PostForm):
    """An admin gives a team its area: a circle and/or a polygon (one "latitude, longitude" corner per line)."""

    team_id = IntField(low=1, required=_l("Unknown team."))
    area_latitude = DecimalField(low=-90, high=90)
    area_longitude = DecimalField(low=-180, high=180)
    area_radius_m = IntField(low=1, high=100_000)
    area_polygon = TextField(multiline=True)

    def corners(self) -> list[list[float]] | None:
        """The polygon's corners, or None when the field is empty."""
        text = (self.area_polygon.data or "").strip()
        if not text:
            return None
        corners = []
        for line in text.splitlines():
            if not line.strip():
                continue
            parts = [p for p in re.split(r"[,，\s]+", line.strip()) if p]
            if len(parts) != 2 or not all(re.fullmatch(r"[+-]?[0-9]{1,3}(?:\.[0-9]{1,20})?", p) for p in parts):
                return [[999.0, 999.0]]  # the service refuses it with its message
            corners.append([float(parts[0]), float(parts[1])])
        return corners


class CategoryForm(PostForm):
    """An admin changes a report category's points, clock and flags."""

    points = IntField(low=0, high=10_000, required=_l("Please enter a whole number."))
    sign_seconds = IntField(low=1, high=7 * 24 * 3600, required=_l("Please enter a whole number."))
    dispatch_seconds = IntField(low=1, high=7 * 24 * 3600, required=_l("Please enter a whole number."))
    close_seconds = IntField(low=1, high=7 * 24 * 3600, required=_l("Please enter a whole number."))
    public_photos = CheckboxField()
    sensitive = CheckboxField()
    is_active = CheckboxField()


# --- filters in the query string ------------------------------------------------------------------------------

class ExportFilterForm(QueryForm):
    """Reports and CSV exports: a team subtree and a date range."""

    team = IntField(low=1)
    start = DayField()
    end = DayField()


class RedemptionFilterForm(QueryForm):
    """A merchant's history: dates and one of their rewards."""

    start = DayField()
    end = DayField()
    reward = IntField(low=1)


class MonthForm(QueryForm):
    """A settlement month."""

    month = MonthField()


class ShiftFilterForm(QueryForm):
    """The volunteer's shift list: a day and a place."""

    day = DayField()
    place = TextField(column=Shift.place_name)


class SearchForm(QueryForm):
    """A search box: what was typed, within a column's length (too long or with control characters: no filter)."""

    q = TextField(column=User.name)
    person = TextField(column=User.name)
    action = TextField(column=AuditEvent.action)


# --- administration -------------------------------------------------------------------------------------------

class StaffAccountForm(PostForm):
    """An admin creates a coordinator, merchant staff or another admin (volunteers register themselves)."""

    name = TextField(column=User.name, required=_l("Please enter your real name."))
    mobile = TextField(column=None, required=_l("Please enter an 11-digit mainland mobile number starting with 1."))
    password = TextField(column=None)
    role = ChoiceField(enum=Role, message=_l("Choose a role."), required=_l("Choose a role."))
    merchant_id = IntField(low=1)
    team_ids = IdListField()

    def validate_role(self, field) -> None:
        if field.data == Role.VOLUNTEER:
            raise refuse(_l("Choose a role."))


class TeamForm(PostForm):
    """A team under its parent."""

    name = TextField(column=Team.name, required=_l("Please enter a name."))
    kind = ChoiceField(enum=TeamKind, message=_l("Choose a level."), required=_l("Choose a level."))
    parent_id = IntField(low=1)


class MerchantForm(PostForm):
    """A merchant (sponsor)."""

    name = TextField(column=Merchant.name, required=_l("Please enter a name."))
    address = TextField(column=Merchant.address)


class ThumbnailConsentForm(PostForm):
    """The separate, unticked line about the check-in photo (on the consent screen and the face-data page)."""

    thumbnails = CheckboxField()
