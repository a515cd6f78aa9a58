"""Typed text from people: trimmed, within its column's length, free of control characters.

The limit of a text field has one source, the column it is stored in (``max_length(Shift.title)``): a form can
never accept more than the database keeps (SQLite would store it; PostgreSQL refuses it with a 500).
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l

#: free text without a column length (descriptions in Text columns) is still bounded
LONG_TEXT_MAX = 2000
#: NUL and other C0/C1 control characters; a line break and a tab are allowed in multi-line text only
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def max_length(attribute: Any) -> int:
    """The length of a ``String(n)`` column, from the model attribute (``max_length(User.name)`` → 50)."""
    return attribute.property.columns[0].type.length


def field_limit(dotted: str) -> int:
    """For templates' ``maxlength``: ``field_limit("Shift.title")`` → 100 (the same number the service checks)."""
    import volunteer.models as models

    model, _, column = dotted.partition(".")
    return max_length(getattr(getattr(models, model), column)) if column else LONG_TEXT_MAX


def clean_text(errors: dict, field: str, raw: str | None, column: Any = None, *, required: Any = None,
               multiline: bool = False) -> str:
    """The trimmed value; a problem goes into ``errors[field]`` (one message per field).

    ``column`` gives the limit (default: ``LONG_TEXT_MAX`` for Text); ``required`` is the message for an empty
    value (None: may be empty); ``multiline`` allows line breaks and tabs.
    """
    value = (raw or "").strip()
    limit = max_length(column) if column is not None else LONG_TEXT_MAX
    if not value:
        if required is not None:
            errors[field] = required
    elif (_CONTROL if multiline else _CONTROL_ONE_LINE).search(value) or _SURROGATE.search(value):
        errors[field] = _l("Please remove the invisible control characters from this field.")
    elif len(value) > limit:
        errors[field] = _l("At most %(count)d characters.", count=limit)
    return value
