"""Formula injection in the files the command line writes (issue 11, item 3): `onestop clearing`
in CSV and XLSX with hospitals whose names are formulas, and `onestop reconcile detail`'s CSV
with record ids a spreadsheet would read as formulas, on both databases."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from api.cli import app
from api.core.config import Settings
from tests.api.services.spreadsheet_checks import (
    assert_csv_neutralised,
    assert_xlsx_neutralised,
    clearing_document,
    settle_at_hostile_hospitals,
)
from tests.support.world import World

runner = CliRunner()


def _run(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, list(args), env={"ONESTOP_DATABASE_URL": database_url, "COLUMNS": "250"}
    )
    return result.exit_code, result.output


def test_onestop_clearing_neutralises_hostile_hospital_names_in_csv_and_xlsx(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    month = settle_at_hostile_hospitals(world, settings)
    document = clearing_document(world, month)
    files = {extension: tmp_path / f"clearing.{extension}" for extension in ("csv", "xlsx")}
    for extension, target in files.items():
        code, output = _run(
            settings.database_url, "clearing", "--month", month, "--format", extension,
            "--output", str(target),
        )  # fmt: skip
        assert code == 0, output
    assert_csv_neutralised(files["csv"].read_text(encoding="utf-8"), document, world)
    assert_xlsx_neutralised(files["xlsx"].read_bytes(), document, world)

    code, output = _run(settings.database_url, "clearing", "--month", month, "--format", "csv")
    assert code == 0, output
    assert_csv_neutralised(output, document, world)


def test_reconcile_detail_neutralises_record_ids_a_spreadsheet_would_read_as_formulas(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    # "-A1" is a valid id (letters, digits, _ . -) and, to a spreadsheet, the formula =-A1.
    today = datetime.now(ZoneInfo(settings.business_timezone)).date().isoformat()
    records = tmp_path / "records.csv"
    records.write_text(
        "settlement_id,claim_id,status,total,fund_total,patient_pay\n"
        "-A1,-B2,settled,10.00,5.00,5.00\n",
        encoding="utf-8",
    )
    target = tmp_path / "answer.csv"
    code, output = _run(
        settings.database_url, "reconcile", "detail", str(records), "--hospital",
        world.hospitals[3], "--from", today, "--to", today, "--format", "csv",
        "--output", str(target),
    )  # fmt: skip
    assert code == 1, output
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["outcome", "settlement_id", "claim_id", "hospital", "engine", "differences"]
    assert ["missing_in_engine", "'-A1", "'-B2"] in [row[:3] for row in rows[1:]]
    for row in rows:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
