"""Spreadsheet-safe exports: the one rule that keeps a cell from becoming a formula (CSV
injection, OWASP), and the CSV and XLSX writers that apply it to every cell they write.

Every export that finance staff open in Excel or LibreOffice goes through here: the clearing
CSV and XLSX (route, finance view, `onestop clearing`) and the reconciliation CSVs. A value
that came from outside (a hospital's name, a claim id a hospital sent) may start with `=`;
written as is, the spreadsheet would run it (`=HYPERLINK(...)` leaks the sheet, DDE
`+cmd|'/C calc'!A0` starts a program).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

Cell = str | int | Decimal | None
"""What an export writes in one cell: text, a whole number, an exact amount, or nothing."""

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
"""First characters that make a spreadsheet read a cell as a formula (OWASP lists `=`, `+`,
`-`, `@`, tab and carriage return; a line feed is refused alike, being the same trap)."""

PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
"""Text that is purely a decimal number (`12.05`, `-12.05`, `0`): a spreadsheet can only read
it as that number, so it needs no neutralising and stays usable in sums."""

NEUTRALISING_PREFIX = "'"
"""OWASP's remedy: a leading single quote makes a spreadsheet show the cell as text."""

XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Control characters an XLSX file cannot hold (openpyxl refuses them with an error)."""


def neutralised(value: Cell) -> Cell:
    """The value as it is safe to write in a spreadsheet cell (CSV or XLSX): the one rule.

    - Numbers (`int`, `Decimal`) and `None` are returned unchanged: a number is never a
      formula.
    - Text that is purely a plain decimal number (`PLAIN_NUMBER`: an optional leading `-`,
      digits, optionally a point and digits) is returned unchanged, so that money written
      as text, `"-12.05"` included, still opens as the number -12.05 that finance staff sum.
    - Any other text whose first character is in `FORMULA_TRIGGERS` (`=`, `+`, `-`, `@`,
      tab, carriage return, line feed), or whose first character after leading whitespace
      is one of `=`, `+`, `-`, `@` (some importers trim spaces), is prefixed with a single
      quote: `=HYPERLINK(...)` is written `'=HYPERLINK(...)`, `-1+2` is written `'-1+2`.
    - All other text is returned unchanged.

    The same text is written to CSV and to XLSX (there, as a string cell: see
    `xlsx_append`), so a sheet saved again as CSV from the spreadsheet stays safe too.
    """
    if not isinstance(value, str):
        assert value is None or isinstance(value, int | Decimal), type(value)
        return value
    if PLAIN_NUMBER.fullmatch(value):
        return value
    first = value[:1]
    first_shown = value.lstrip()[:1]
    if first in FORMULA_TRIGGERS or first_shown in FORMULA_TRIGGERS:
        return NEUTRALISING_PREFIX + value
    return value


def safe_row(row: Iterable[Cell]) -> list[Cell]:
    """Every cell of the row `neutralised`: the row to hand to any `csv.writer`."""
    return [neutralised(value) for value in row]


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def write_csv(handle: _Writable, rows: Iterable[Sequence[Cell]]) -> None:
    """Write the rows as RFC 4180 CSV, every cell `neutralised`.

    Lines end with CRLF, as RFC 4180 says: Python's writer quotes a field only for the
    characters of its line terminator, so with `\\n` alone a carriage return inside a
    field would be written bare and split the row in the reader.
    """
    writer = csv.writer(handle, lineterminator="\r\n")
    for row in rows:
        writer.writerow(safe_row(row))


def csv_text(rows: Iterable[Sequence[Cell]]) -> str:
    """The rows as CSV text, every cell `neutralised` (see `write_csv`)."""
    buffer = io.StringIO()
    write_csv(buffer, rows)
    return buffer.getvalue()


def xlsx_append(sheet: Worksheet, row: Sequence[Cell]) -> None:
    """Append the row to the worksheet, every cell `neutralised`, text always as a string.

    openpyxl turns any string starting with `=` into a formula cell; every text cell is
    therefore set to the string type (`s`) after it is written, whatever it starts with, and
    control characters an XLSX cannot hold are replaced by U+FFFD instead of failing.
    """
    values = [
        XLSX_ILLEGAL.sub("\ufffd", value) if isinstance(value, str) else value
        for value in safe_row(row)
    ]
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
        assert cell.data_type != "f", cell.coordinate
