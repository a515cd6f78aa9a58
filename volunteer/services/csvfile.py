"""The one CSV writer behind every export: UTF-8 with a BOM for Excel, and no cell Excel would run as a formula.

A volunteer who registers as ``=HYPERLINK("http://evil.example","点我")`` (or a reward with that title) must
reach the coordinator's spreadsheet as text. OWASP's advice: a cell starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return gets a leading ``'``, which Excel and LibreOffice show as text and do not evaluate.

Numbers: a ledger amount of -100 is data and must stay a number a spreadsheet can sum. The choice here is by
type, not by content: values that are numbers in Python (int, float, Decimal — they come from numeric columns
and are never text a person typed) are written as they are; every string is text and is neutralised when it
starts with one of those characters, even when it looks like a number ("-100", "+1"). The other common rule,
leaving any cell that parses entirely as a number alone, would have to agree with every spreadsheet's idea of a
number ("-1e3", "-1,5", "- 1", full-width digits...), and a mistake there is a formula; a typed name such as
"-100" costs nothing to show as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

BOM = "\ufeff"
#: what makes Excel (or LibreOffice, Google Sheets) read a cell as a formula or a DDE command
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: rows encoded per chunk by csv_chunks
_CHUNK_ROWS = 500


def safe_cell(value: Any) -> Any:
    """The value as written to a CSV cell: numbers unchanged, text with a leading ' when it could be a formula."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_chunks(headers: Iterable[Any], rows: Iterable[Iterable[Any]]) -> Iterator[bytes]:
    """The CSV as UTF-8 pieces, the BOM first; rows are read as they come (a generator is never held whole)."""
    yield BOM.encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in headers])
    for number, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(cell) for cell in row])
        if number % _CHUNK_ROWS == 0:
            yield _take(buffer)
    yield _take(buffer)


def _take(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


def to_csv(headers: Iterable[Any], rows: Iterable[Iterable[Any]]) -> bytes:
    """The whole CSV (UTF-8 with a BOM, so Excel opens Chinese text correctly)."""
    return b"".join(csv_chunks(headers, rows))
