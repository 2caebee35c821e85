"""The `onestop` workbench: bills from files, every problem of a refused claim, tariff checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from api.cli.common import EXIT_REFUSED
from tests.support.world import EXAMPLES

runner = CliRunner()


def _settle(*extra: str, example: str = "e2", level: str = "3") -> list[str]:
    folder = EXAMPLES / example
    return [
        "settle",
        str(folder / "claim.json"),
        "--person",
        str(folder / "person.json"),
        "--hospital-level",
        level,
        *extra,
    ]


def test_settle_prints_the_itemized_bill_as_tables() -> None:
    result = runner.invoke(app, _settle(), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "charity disease 肺癌" in result.output
    assert "12184.32" in result.output
    assert "4904.90" in result.output
    assert "in scope 19195.10 − deductible 450.00 = 18745.10 × 0.65 = 12184.315 → 12184.32" in (
        result.output
    )


def test_settle_in_json_gives_the_contract_shape_without_ids() -> None:
    result = runner.invoke(
        app,
        _settle(
            "--format",
            "json",
            "--accumulators",
            str(EXAMPLES / "e4" / "accumulators.json"),
            example="e4",
            level="2",
        ),
    )
    assert result.exit_code == 0, result.output
    bill = json.loads(result.output)
    assert "settlement_id" not in bill
    assert bill["status"] == "preview"
    assert bill["totals"]["fund_total"] == "18663.33"
    assert bill["totals"]["patient_pay"] == "5436.67"
    assert [fund["fund"] for fund in bill["funds"]] == [
        "basic_insurance",
        "critical_illness",
        "medical_assistance",
        "charity",
    ]
    assert [fund["fund_code"] for fund in bill["funds"]] == ["390100", "390200", "610100", "999997"]
    assert bill["accumulators_after"]["ci_base"] == "33939.02"
    assert len(bill["items"]) == 8


def test_a_refused_claim_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    claim = json.loads((EXAMPLES / "e1" / "claim.json").read_text(encoding="utf-8"))
    claim["items"][0]["item_code"] = "NOPE1"
    claim["items"][1]["amount"] = "12000.01"
    claim["discharge_date"] = "2018-02-01"
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(claim), encoding="utf-8")
    person = str(EXAMPLES / "e1" / "person.json")
    result = runner.invoke(app, ["settle", str(path), "--person", person, "--hospital-level", "3"])
    assert result.exit_code == EXIT_REFUSED
    assert "3 problems" in result.output
    assert "NOPE1" in result.output
    assert "amount_mismatch" in result.output
    assert "discharge_before_admission" in result.output


def test_a_claim_file_with_json_numbers_for_money_is_refused_naming_each_field(
    tmp_path: Path,
) -> None:
    claim = json.loads((EXAMPLES / "e1" / "claim.json").read_text(encoding="utf-8"))
    claim["items"][0]["amount"] = 495.0
    claim["items"][2]["quantity"] = 4
    claim["surprise"] = True
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(claim), encoding="utf-8")
    person = str(EXAMPLES / "e1" / "person.json")
    result = runner.invoke(app, ["settle", str(path), "--person", person, "--hospital-level", "3"])
    assert result.exit_code == EXIT_REFUSED
    assert "items.0.amount" in result.output
    assert "items.2.quantity" in result.output
    assert "surprise" in result.output


def test_tariffs_check_lists_the_shipped_versions() -> None:
    result = runner.invoke(app, ["tariffs", "check"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "220000-2018" in result.output
    assert "220000-2019" in result.output


def test_tariffs_check_fails_and_names_the_problem_in_a_broken_directory(tmp_path: Path) -> None:
    target = tmp_path / "220000"
    shutil.copytree(EXAMPLES.parents[1] / "tariffs" / "data" / "220000", target)
    toml = target / "220000-2018.toml"
    text = toml.read_text(encoding="utf-8")
    broken = text.replace(
        'rate_above_line = { value = "0.75"', 'rate_above_line = { value = "0.65"'
    )
    assert broken != text
    toml.write_text(broken, encoding="utf-8")
    result = runner.invoke(app, ["tariffs", "check", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "rate_above_line" in result.output
    assert "0.70" in result.output
