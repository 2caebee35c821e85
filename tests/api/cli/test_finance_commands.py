"""`onestop clearing` and `onestop reconcile` on the command line: tables, files, exit codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from typer.testing import CliRunner

from api.cli import app
from tests.support.world import World

runner = CliRunner()
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the default business time zone of the finance reports


def _run(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, list(args), env={"ONESTOP_DATABASE_URL": database_url, "COLUMNS": "250"}
    )
    return result.exit_code, result.output


def _settle_two(world: World) -> list[dict[str, str]]:
    bills = []
    for _ in range(2):
        response = world.client.post(
            "/v1/settlements", json=world.claim("e2"), headers=world.hospital_headers(3)
        )
        assert response.status_code == 201, response.text
        bills.append(response.json())
    return bills


def test_clearing_on_the_command_line_matches_the_clearing_route_in_every_format(
    world: World, database_url: str, tmp_path: Path
) -> None:
    _settle_two(world)
    month = datetime.now(SHANGHAI).strftime("%Y-%m")
    hospital = world.hospitals[3]
    route = world.client.get(
        "/v1/clearing",
        params={"month": month, "hospital_id": hospital},
        headers=world.auth(world.keys.finance),
    ).json()
    code, output = _run(
        database_url, "clearing", "--month", month, "--hospital", hospital, "--format", "json"
    )
    assert code == 0, output
    assert json.loads(output) == route
    code, output = _run(database_url, "clearing", "--month", month, "--hospital", hospital)
    assert code == 0, output
    assert route["total_owed"] in output
    target = tmp_path / "clearing.xlsx"
    code, output = _run(
        database_url,
        "clearing",
        "--month",
        month,
        "--hospital",
        hospital,
        "--format",
        "xlsx",
        "--output",
        str(target),
    )
    assert code == 0, output
    sheet = load_workbook(target).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert f"{rows[-1][-1]:.2f}" == route["total_owed"]
    code, output = _run(database_url, "clearing", "--month", month, "--format", "xlsx")
    assert code == 2


def test_reconcile_detail_names_every_difference_and_exits_1(
    world: World, database_url: str, tmp_path: Path
) -> None:
    first, second = _settle_two(world)
    today = datetime.now(SHANGHAI).date().isoformat()
    records = tmp_path / "records.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["settlement_id", "claim_id", "status", "total", "fund_total", "patient_pay"])
    writer.writerow(
        [first["settlement_id"], first["claim_id"], "settled", "24100.00", "19195.10", "4904.91"]
    )
    writer.writerow(["STNOTHERE", "ZYNOTHERE", "settled", "10.00", "5.00", "5.00"])
    records.write_text(buffer.getvalue(), encoding="utf-8")
    target = tmp_path / "answer.csv"
    code, output = _run(
        database_url, "reconcile", "detail", str(records), "--hospital", world.hospitals[3],
        "--from", today, "--to", today, "--format", "csv", "--output", str(target),
    )  # fmt: skip
    assert code == 1, output
    answer = {row["settlement_id"]: row for row in csv.DictReader(target.open(encoding="utf-8"))}
    assert answer[first["settlement_id"]]["outcome"] == "amount_mismatch"
    assert answer[first["settlement_id"]]["differences"] == "patient_pay"
    assert answer["STNOTHERE"]["outcome"] == "missing_in_engine"
    assert answer[second["settlement_id"]]["outcome"] == "missing_at_hospital"


def test_reconcile_detail_refuses_a_bad_file_listing_every_problem(
    world: World, database_url: str, tmp_path: Path
) -> None:
    records = tmp_path / "records.csv"
    records.write_text(
        "settlement_id,claim_id,status,total,fund_total,patient_pay\nS1,C1,paid,1.00,1.00,0.00\nS2,C2,settled,1.001,x,0\n",
        encoding="utf-8",
    )
    code, output = _run(
        database_url, "reconcile", "detail", str(records), "--hospital", world.hospitals[3],
        "--from", "2018-01-01", "--to", "2018-01-31",
    )  # fmt: skip
    assert code == 2
    assert "4 problems" in output
    assert "records.0.status" in output
    assert "records.1.total" in output
    assert "records.1.fund_total" in output
    assert "records.1.patient_pay" in output  # "0": an amount is written with two decimals


def test_reconcile_totals_prints_settled_reversed_and_net(world: World, database_url: str) -> None:
    _settle_two(world)
    today = datetime.now(SHANGHAI).date().isoformat()
    code, output = _run(
        database_url,
        "reconcile",
        "totals",
        "--from",
        today,
        "--to",
        today,
        "--hospital",
        world.hospitals[3],
        "--format",
        "json",
    )
    assert code == 0, output
    document = json.loads(output)
    assert document["settled"]["count"] == 2
    assert document["net"]["fund_total"] == "38390.20"
