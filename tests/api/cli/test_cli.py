"""The `onestop` workbench: bills from files, every problem of a refused claim, tariff checks;
the worked examples of SETTLEMENT_RULES.md §12–14 (X1, H1, R1) to the fen, as tables and JSON."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.common import EXIT_REFUSED
from api.core.contract import ClaimIn, PersonIn
from settlement.model import Claim, Person
from tests.support.world import EXAMPLES
from tests.worked_examples import h1_claim, h1_person, r1_claim, r1_person, x1_claim, x1_person

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
        "health_fund",
    ]
    assert [fund["fund_code"] for fund in bill["funds"]] == [
        "390100", "390200", "610100", "999997", "610103",
    ]  # fmt: skip
    assert bill["accumulators_after"]["ci_base"] == "33939.02"
    assert bill["accumulators_after"]["health_paid"] == "0.00"
    assert len(bill["items"]) == 8
    assert (bill["insured_region"], bill["treatment_region"]) == ("220000", "220000")
    assert bill["filing"] is None
    assert bill["catalog_version"] == bill["tariff_version"] == "220000-2018"
    assert bill["findings"] == []
    assert bill["totals"]["refused_selfpay"] == bill["totals"]["health_fund"] == "0.00"


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


# ---------------------------------------------------------------- X1, H1, R1 (rules §12–14)
# The figures of tests/settlement/test_additions_examples.py, from the files in docs/examples.

WORKED: dict[str, tuple[Claim, Person]] = {
    "x1": (x1_claim(), x1_person()),
    "h1": (h1_claim(), h1_person()),
    "r1": (r1_claim(), r1_person()),
}
PAID = {
    "x1": ["10749.04", "2334.56", "3932.58", "2977.52", "0.00"],
    "h1": ["2087.04", "0.00", "385.88", "0.00", "100.00"],
    "r1": ["2163.75", "0.00", "0.00", "0.00", "0.00"],
}
TOTALS = {
    "x1": {"total": "24100.00", "in_scope": "19993.70", "deductible_applied": "450.00",
           "refused_selfpay": "0.00", "health_fund": "0.00", "fund_total": "19993.70",
           "patient_pay": "4106.30"},
    "h1": {"total": "3351.00", "in_scope": "2858.80", "first_selfpay": "492.20",
           "health_fund": "100.00", "fund_total": "2572.92", "patient_pay": "778.08"},
    "r1": {"total": "8090.00", "refused_selfpay": "3330.00", "over_cap_selfpay": "25.00",
           "first_selfpay": "1350.00", "in_scope": "3385.00", "fund_total": "2163.75",
           "patient_pay": "5926.25"},
}  # fmt: skip
R1_FINDINGS = [
    ("R03", "超住院天数", 1, "refused", "90.00"),
    ("R01", "超性别", 2, "refused", "120.00"),
    ("R02", "超年龄", 3, "refused", "80.00"),
    ("R04", "超限量", 4, "refused", "3000.00"),
    ("R03", "超住院天数", 5, "refused", "40.00"),
]


def _example(name: str, *extra: str) -> list[str]:
    """The `settle` arguments of an example folder: level, and region where it has one."""
    folder = EXAMPLES / name
    region = folder / "hospital_region"
    return [
        "settle",
        str(folder / "claim.json"),
        "--person",
        str(folder / "person.json"),
        "--hospital-level",
        (folder / "hospital_level").read_text(encoding="utf-8").strip(),
        *(
            ["--hospital-region", region.read_text(encoding="utf-8").strip()]
            if region.exists()
            else []
        ),
        *extra,
    ]


def _bill(name: str) -> dict[str, Any]:
    result = runner.invoke(app, _example(name, "--format", "json"))
    assert result.exit_code == 0, result.output
    bill: dict[str, Any] = json.loads(result.output)
    return bill


@pytest.mark.parametrize("name", sorted(WORKED))
def test_the_example_files_are_the_worked_examples_the_engine_tests_settle(name: str) -> None:
    claim, person = WORKED[name]
    folder = EXAMPLES / name
    assert ClaimIn.model_validate_json((folder / "claim.json").read_bytes()).to_engine() == claim
    stored = PersonIn.model_validate_json((folder / "person.json").read_bytes())
    assert stored.to_engine(claim.person_id) == person


@pytest.mark.parametrize("name", sorted(WORKED))
def test_the_workbench_settles_x1_h1_and_r1_in_json_to_the_fen(name: str) -> None:
    bill = _bill(name)
    assert [fund["paid"] for fund in bill["funds"]] == PAID[name]
    assert [fund["fund_code"] for fund in bill["funds"]][-1] == "610103"
    for key, figure in TOTALS[name].items():
        assert bill["totals"][key] == figure, key
    health_fen = sum(int(item["health_fund"].replace(".", "")) for item in bill["items"])
    assert health_fen == int(bill["totals"]["health_fund"].replace(".", ""))
    assert bill["accumulators_after"]["health_paid"] == bill["totals"]["health_fund"]


def test_x1_in_json_is_cross_region_on_referral_with_liaonings_catalog() -> None:
    bill = _bill("x1")
    assert (bill["insured_region"], bill["treatment_region"]) == ("220000", "210000")
    assert bill["filing"] == "referral"
    assert (bill["tariff_version"], bill["catalog_version"]) == ("220000-2018", "210000-2018")
    assert bill["findings"] == []
    assert [item["in_scope"] for item in bill["items"]] == [
        "495.00", "12000.00", "4183.70", "375.00", "0.00", "2560.00", "105.00", "275.00",
    ]  # fmt: skip
    basic = bill["funds"][0]
    assert "cross-region claim, filing referral: rate − 0.10 = 0.55" in basic["explanation"]


def test_r1_in_json_lists_each_rules_finding_and_the_refused_amounts() -> None:
    bill = _bill("r1")
    found = [
        (f["rule"], f["name"], f["line_no"], f["action"], f["amount"]) for f in bill["findings"]
    ]
    assert found == R1_FINDINGS
    assert bill["findings"][0]["message"] == (
        "line 1: S0001 普通病房床位费 is billed at most once per inpatient day; the stay has 5 "
        "days, 5 left for this code: quantity 7 → 5, 90.00 refused"
    )
    assert [item["refused_selfpay"] for item in bill["items"]] == [
        "90.00", "120.00", "80.00", "3000.00", "40.00", "0.00",
    ]  # fmt: skip


def test_x1_as_tables_shows_both_regions_the_filing_the_catalog_and_five_funds() -> None:
    result = runner.invoke(app, _example("x1"), env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    output = result.output
    assert "insured region 220000  treatment region 210000 (cross-region)" in output
    assert "filing referral  tariff 220000-2018  catalog 210000-2018" in output
    assert "refused 违规" in output
    assert "health fund" in output
    for figure in (*PAID["x1"][:4], "19993.70", "4106.30"):
        assert figure in output, figure
    assert "health_fund (610103): base 0.00, payable 0.00, no cap, paid 0.00" in output
    assert "cross-region claim, filing referral: rate − 0.10 = 0.55" in output
    assert "Findings" not in output


def test_h1_as_tables_shows_the_health_fund_paying_100_00() -> None:
    result = runner.invoke(app, _example("h1"), env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    output = result.output
    assert "insured region 220000  treatment region 220000 (in-region)  filing none" in output
    assert "health fund 健康扶贫基金" in output
    assert "health_fund (610103): base 385.88, payable 100.00, no cap, paid 100.00" in output
    assert (
        "in scope left 385.88 − patient's share at most 2858.80 × 0.10 = 285.88 → 100.00" in output
    )
    for figure in ("2087.04", "385.88", "2572.92", "778.08"):
        assert figure in output, figure


def test_r1_as_tables_shows_a_findings_table_and_the_refused_column() -> None:
    result = runner.invoke(app, _example("r1"), env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    output = result.output
    assert "Findings (合理性审核)" in output
    for rule, name, line_no, action, amount in R1_FINDINGS:
        row = rf"│ {rule}\s+│ {name}\s+│\s+{line_no} │ {action}\s+│\s+{amount} │ line {line_no}: "
        assert re.search(row, output), row
    assert "refused self-pay 违规自付" in output
    assert "3330.00" in output
    assert "5926.25" in output


def test_the_hospital_region_must_be_six_digits() -> None:
    result = runner.invoke(app, _example("h1", "--hospital-region", "2200"), env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "six digits" in result.output


def test_a_referral_claim_at_a_hospital_of_the_persons_own_region_is_refused() -> None:
    """Without --hospital-region the hospital is of the person's region: X1's filing is
    refused (a filing belongs to a cross-region claim only)."""
    arguments = [part for part in _example("x1") if part not in ("--hospital-region", "210000")]
    result = runner.invoke(app, arguments)
    assert result.exit_code == EXIT_REFUSED
    assert "filing_not_allowed" in result.output


# ---------------------------------------------------------------- rules §15–16 in the workbench


def test_the_workbench_shows_who_may_pay_later_and_the_years_burden(tmp_path: Path) -> None:
    """E4 (registered_poor, level 2): may pay later; 5436.67 paid from 0.00 crosses 5000.00."""
    result = runner.invoke(
        app,
        _settle("--accumulators", str(EXAMPLES / "e4" / "accumulators.json"), example="e4",
                level="2"),
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pay later (先诊疗后付费): yes" in result.output
    assert "5436.67 paid this year; threshold 5000.00, crossed by this claim" in result.output
    at_level_3 = runner.invoke(app, _settle(), env={"COLUMNS": "200"})
    assert "pay later (先诊疗后付费): no" in at_level_3.output
    assert "4904.90 paid this year; threshold 5000.00, not crossed by this claim" in (
        at_level_3.output
    )


def test_the_workbench_reads_and_saves_patient_paid_to_chain_a_persons_claims(
    tmp_path: Path,
) -> None:
    """E2 on 95.10 already paid reaches 5000.00 exactly and crosses; saved, the accumulators
    settle the next claim on 5000.00, which no longer crosses."""
    before = tmp_path / "before.json"
    before.write_text(json.dumps({"year": 2018, "patient_paid": "95.10"}), encoding="utf-8")
    saved = tmp_path / "after.json"
    first = runner.invoke(
        app, _settle("--accumulators", str(before), "--save-accumulators", str(saved),
                     "--format", "json"),
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    bill = json.loads(first.output)
    assert bill["burden"] == {"year_to_date": "5000.00", "threshold": "5000.00", "crossed": True}
    assert bill["pay_later_eligible"] is False
    after = json.loads(saved.read_text(encoding="utf-8"))
    assert after["patient_paid"] == "5000.00"
    assert after == bill["accumulators_after"]
    second = runner.invoke(app, _settle("--accumulators", str(saved), "--format", "json"))
    assert second.exit_code == 0, second.output
    assert json.loads(second.output)["burden"] == {
        "year_to_date": "9904.90", "threshold": "5000.00", "crossed": False,
    }  # fmt: skip
