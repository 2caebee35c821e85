"""The load-test suite itself: reproducible claims of the seeded population, the checks of
every answer (five funds, refused self-pay, findings, filing) passing on real bills and failing
on tampered ones, and a short smoke run that fails on any failed request or wrong answer."""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from api.core.contract import settlement_json
from api.services import demo
from loadtests.claims import (
    GROUP_MIX,
    HOSPITAL_MIX,
    POPULATION_SEED,
    REGION_MIX,
    STATUS_FROM,
    bill_problems,
    catalogs,
    claim_body,
    claim_json,
    generate,
    population_hospital,
    population_id_number,
    population_person,
)
from loadtests.generate import Hospital, Mix, PersonPool, generate_stay
from settlement.engine import settle
from settlement.model import Accumulators, Gender, Group, Person, Status
from settlement.result import Settlement
from tariffs import load_default

ROOT = Path(__file__).resolve().parents[2]
LOADED = load_default()


def test_the_load_tests_copy_of_the_population_is_the_one_the_seeding_writes() -> None:
    """`onestop demo seed --persons` and the load generator agree on every person and hospital
    (the generator may not import the service, so it holds a copy of the definition)."""
    assert (GROUP_MIX, REGION_MIX, HOSPITAL_MIX) == (
        demo.GROUP_MIX, demo.REGION_MIX, demo.HOSPITAL_MIX,
    )  # fmt: skip
    assert (POPULATION_SEED, STATUS_FROM) == (demo.POPULATION_SEED, demo.STATUS_FROM)
    for index in range(0, 100_000, 7):
        assert population_person(index) == demo.population_person(index), index
        person = population_person(index)
        assert population_id_number(person) == demo.population_id_number(person), index
    for index in range(100):
        hospital_id, level, region = demo.population_hospital(index)
        assert population_hospital(hospital_id) == Hospital(hospital_id, level, region)


def test_the_same_seed_gives_the_same_claims_and_another_seed_other_claims() -> None:
    def claims(seed: int) -> list[dict[str, object]]:
        rng = random.Random(seed)
        return [
            claim_body(rng, claim_id=f"C{i}", hospital_id="LH0000", persons=2000, lines=None)
            for i in range(20)
        ]

    assert claims(3) == claims(3)
    assert claims(3) != claims(4)


def test_generated_claims_are_valid_for_the_treatment_catalog_with_skewed_line_counts() -> None:
    rng = random.Random(5)
    counts = []
    for i in range(200):
        hospital_id = ("LH0000", "LH0004", "LH0007", "LH0005")[i % 4]
        stay = generate(rng, claim_id=f"C{i}", hospital_id=hospital_id, persons=2000, lines=None)
        claim = claim_json(stay.claim)
        catalog = LOADED.book.select(stay.hospital.region, stay.claim.discharge_date)
        assert catalog is not None
        counts.append(len(claim["items"]))
        assert all(item["item_code"] in catalog.catalog for item in claim["items"])
        assert claim["diagnoses"]
        assert claim["person_id"] == stay.person.person_id
        assert population_person(int(stay.person.person_id[2:])) == stay.person
    assert min(counts) < 15
    assert max(counts) > 60


def test_a_cross_region_pair_sends_its_filing_and_an_in_region_pair_none() -> None:
    rng = random.Random(6)
    kinds = set()
    for i in range(300):
        stay = generate(rng, claim_id=f"C{i}", hospital_id="LH0007", persons=2000, lines=5)
        body = claim_json(stay.claim)
        if stay.person.insured_region == "210000":
            assert "filing" not in body
        else:
            kinds.add(body["filing"])
    assert kinds == {"resident", "referral", "emergency", "temporary"}


# ---------------------------------------------------------------- the checks of every answer


def _bill(claim: dict[str, Any], settlement: Settlement) -> dict[str, Any]:
    """The service's answer for a settlement, in the contract's shape."""
    assert claim["claim_id"] == settlement.claim_id
    return settlement_json(
        settlement, settlement_id="S1", status="settled", settled_at=None, reversed_at=None
    )


def _settled(
    stays_mix: Mix, persons: PersonPool, hospital: Hospital, want: Callable[[Settlement], bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first (claim JSON, bill) of the seeded stays that settles to what `want` accepts."""
    rng = random.Random(20181231)
    for index in range(500):
        stay = generate_stay(
            rng, catalogs(), hospital, persons, claim_id=f"T{index}", line_count=12,
            mix=stays_mix,
        )  # fmt: skip
        result = settle(
            stay.claim, stay.person, hospital.level, Accumulators(stay.claim.policy_year),
            LOADED.book, hospital.region,
        )  # fmt: skip
        assert isinstance(result, Settlement), result
        if want(result):
            claim = claim_json(stay.claim)
            return claim, _bill(claim, result)
    raise AssertionError("no such settlement among the seeded stays")


REGISTERED_POOR = PersonPool.of(
    [
        Person(
            "PR1", date(1985, 3, 1), "220000",
            (Status(Group.REGISTERED_POOR, date(2016, 1, 1), None),), Gender.MALE,
        ),
        Person("PL1", date(1962, 3, 1), "210000", (), Gender.FEMALE),
    ]
)  # fmt: skip


@cache
def _with_findings_and_health_fund() -> tuple[dict[str, Any], dict[str, Any]]:
    mix = Mix(rule_breaking_percent=100, health_fund_percent=100, listed_percent=0,
              cross_region_percent=0)  # fmt: skip
    return _settled(
        mix, REGISTERED_POOR, Hospital("LH0001", 2, "220000"),
        lambda s: s.totals.health_fund_fen > 0 and s.totals.refused_selfpay_fen > 0,
    )  # fmt: skip


def test_the_bill_check_passes_real_bills_of_every_kind() -> None:
    claim, bill = _with_findings_and_health_fund()
    assert bill_problems(claim, bill) == []
    cross_claim, cross_bill = _settled(
        Mix(cross_region_percent=100), REGISTERED_POOR, Hospital("LH0004", 2, "210000"),
        lambda s: s.filing is not None,
    )  # fmt: skip
    assert cross_claim["filing"] == cross_bill["filing"]
    assert bill_problems(cross_claim, cross_bill) == []


def _line_with_finding(bill: dict[str, Any]) -> dict[str, Any]:
    line_no = bill["findings"][0]["line_no"]
    item: dict[str, Any] = next(i for i in bill["items"] if i["line_no"] == line_no)
    return item


def _fen(text: str) -> int:
    return int(Decimal(text).scaleb(2))


def _plus_fen(text: str, fen: int = 1) -> str:
    """The amount `text` with `fen` added, as the bill writes amounts."""
    return f"{(Decimal(text) + Decimal(fen).scaleb(-2)):.2f}"


def test_the_bill_check_finds_a_finding_that_does_not_add_up_to_the_refused_self_pay() -> None:
    claim, bill = _with_findings_and_health_fund()
    tampered = copy.deepcopy(bill)
    finding = tampered["findings"][0]
    finding["amount"] = _plus_fen(finding["amount"])
    assert f"line {finding['line_no']}: findings ≠ refused self-pay" in bill_problems(
        claim, tampered
    )


def test_the_bill_check_finds_refused_self_pay_moved_into_scope() -> None:
    """The line's split still adds up; its findings and the totals no longer do."""
    claim, bill = _with_findings_and_health_fund()
    tampered = copy.deepcopy(bill)
    line = _line_with_finding(tampered)
    line["refused_selfpay"] = _plus_fen(line["refused_selfpay"], -1)
    line["in_scope"] = _plus_fen(line["in_scope"], 1)
    problems = bill_problems(claim, tampered)
    assert f"line {line['line_no']}: findings ≠ refused self-pay" in problems
    assert "totals.refused_selfpay ≠ sum of lines" in problems
    assert "totals.in_scope ≠ sum of lines" in problems


def test_the_bill_check_finds_a_line_whose_parts_miss_the_refused_self_pay() -> None:
    claim, bill = _with_findings_and_health_fund()
    tampered = copy.deepcopy(bill)
    line = _line_with_finding(tampered)
    line["refused_selfpay"] = "0.00"
    problems = bill_problems(claim, tampered)
    assert f"line {line['line_no']}: amount ≠ refused + self-pay parts + in scope" in problems


def test_the_bill_check_finds_a_fen_of_the_health_fund_out_of_place() -> None:
    claim, bill = _with_findings_and_health_fund()
    tampered = copy.deepcopy(bill)
    line = next(item for item in tampered["items"] if item["health_fund"] != "0.00")
    line["health_fund"] = _plus_fen(line["health_fund"])
    problems = bill_problems(claim, tampered)
    assert f"line {line['line_no']}: amount ≠ funds + patient" in problems
    assert "totals.health_fund ≠ sum of lines" in problems


def test_the_bill_check_finds_the_fifth_fund_missing_or_left_out_of_the_fund_total() -> None:
    claim, bill = _with_findings_and_health_fund()
    without_fund = copy.deepcopy(bill)
    without_fund["funds"] = without_fund["funds"][:4]
    assert any(p.startswith("funds out of order") for p in bill_problems(claim, without_fund))
    four_funds_total = copy.deepcopy(bill)
    totals = four_funds_total["totals"]
    health_fund = _fen(totals["health_fund"])
    totals["fund_total"] = _plus_fen(totals["fund_total"], -health_fund)
    totals["patient_pay"] = _plus_fen(totals["patient_pay"], health_fund)
    problems = bill_problems(claim, four_funds_total)
    assert "fund_total ≠ sum of funds" in problems
    assert "totals.patient_pay ≠ sum of lines" in problems


def test_the_bill_check_finds_a_warning_with_an_amount() -> None:
    claim, bill = _with_findings_and_health_fund()
    tampered = copy.deepcopy(bill)
    finding = tampered["findings"][0]
    finding["action"] = "warning"
    assert f"finding {finding['rule']} on line {finding['line_no']}: a warning with an amount" in (
        bill_problems(claim, tampered)
    )


def test_the_bill_check_finds_findings_out_of_order_or_missing() -> None:
    claim, bill = _with_findings_and_health_fund()
    last_line = bill["items"][-1]["line_no"]
    assert (bill["findings"][0]["line_no"], bill["findings"][0]["rule"]) < (last_line, "R04")
    tampered = copy.deepcopy(bill)
    warning = {"rule": "R04", "line_no": last_line, "action": "warning", "amount": "0.00"}
    tampered["findings"].insert(0, warning)
    assert bill_problems(claim, tampered) == ["findings not in line order and then rule order"]
    missing = copy.deepcopy(bill)
    del missing["findings"]
    assert bill_problems(claim, missing) == ["no findings list"]


def test_the_bill_check_finds_a_filing_not_answered_back() -> None:
    claim, bill = _settled(
        Mix(cross_region_percent=100), REGISTERED_POOR, Hospital("LH0004", 2, "210000"),
        lambda s: s.filing is not None,
    )  # fmt: skip
    tampered = copy.deepcopy(bill)
    tampered["filing"] = None
    assert any(p.startswith("filing None") for p in bill_problems(claim, tampered))


def test_the_bill_check_finds_a_fen_out_of_place_in_a_small_bill() -> None:
    claim: dict[str, Any] = {"items": [{"line_no": 1, "amount": "10.00"}]}
    good: dict[str, Any] = {
        "items": [{"line_no": 1, "amount": "10.00", "refused_selfpay": "1.00", "full_selfpay": "0.00",
                   "over_cap_selfpay": "0.00", "first_selfpay": "0.00", "in_scope": "9.00",
                   "basic_insurance": "6.00", "critical_illness": "0.00", "medical_assistance": "0.00",
                   "charity": "0.00", "health_fund": "0.50", "patient_pay": "3.50"}],
        "totals": {"total": "10.00", "refused_selfpay": "1.00", "full_selfpay": "0.00",
                   "over_cap_selfpay": "0.00", "first_selfpay": "0.00", "in_scope": "9.00",
                   "basic_insurance": "6.00", "critical_illness": "0.00", "medical_assistance": "0.00",
                   "charity": "0.00", "health_fund": "0.50", "fund_total": "6.50", "patient_pay": "3.50"},
        "funds": [{"fund": f} for f in ("basic_insurance", "critical_illness", "medical_assistance",
                                        "charity", "health_fund")],
        "findings": [{"rule": "R03", "line_no": 1, "action": "refused", "amount": "1.00"}],
        "filing": None,
    }  # fmt: skip
    assert bill_problems(claim, good) == []
    bad = copy.deepcopy(good)
    bad["items"][0]["patient_pay"] = "3.51"
    assert "line 1: amount ≠ funds + patient" in bill_problems(claim, bad)


def test_a_short_load_test_against_a_fresh_service_has_no_failure(tmp_path: Path) -> None:
    """wrk against the bare app and the service, then the locust mix: no failure anywhere,
    one of the four users settling whole stays through /v1/nhsa (every transaction's answers
    right and counted)."""
    completed = subprocess.run(
        [sys.executable, "-m", "loadtests.run", "--duration", "6", "--users", "4", "--persons", "2000",
         "--hospitals", "3", "--lines", "skewed", "--name", f"pytest-smoke-{tmp_path.name}",
         "--settle-seconds", "2", "--connections", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert "failures 0" in output
    comparison = next(line for line in output.splitlines() if line.startswith("settle-only: bare"))
    assert " 0 errors" in comparison, comparison
    summary_line = next(line for line in output.splitlines() if line.startswith("settlements/s"))
    assert float(summary_line.split()[1]) > 0
    nhsa_line = next(line for line in output.splitlines() if line.startswith("nhsa stays/s"))
    assert "(1 of 4 users through /v1/nhsa;" in nhsa_line, nhsa_line
    for infno in ("2401", "2301", "2402", "2304"):
        row = next(
            line.strip() for line in output.splitlines()
            if line.strip().startswith(f"/v1/nhsa {infno}: ")
        )  # fmt: skip
        requests, failures = (int(part.split()[0]) for part in row.split(", ")[-2:])
        assert (requests > 0, failures) == (True, 0), row


# ---------------------------------------------------------------- after the bill (rules §15–16)


def test_the_burden_check_takes_a_real_bill_and_finds_each_slip() -> None:
    from loadtests.claims import burden_problems

    _, bill = _with_findings_and_health_fund()  # registered poor at level 2: may pay later
    assert bill["pay_later_eligible"] is True
    assert burden_problems(bill) == []
    wrong = {
        **bill,
        "burden": {**bill["burden"], "year_to_date": _plus_fen(bill["burden"]["year_to_date"])},
    }
    assert burden_problems(wrong) == ["burden.year_to_date ≠ accumulators_after.patient_paid"]
    crossing = {**bill, "burden": {**bill["burden"], "threshold": bill["burden"]["year_to_date"]}}
    assert burden_problems(crossing) == ["burden.crossed False, the figures say True"]
    assert burden_problems({**crossing, "burden": {**crossing["burden"], "crossed": True}}) == []
    nothing = {**bill, "burden": {**bill["burden"], "threshold": None, "crossed": True}}
    assert burden_problems(nothing) == ["crossed without a threshold"]


def test_the_load_tests_plan_and_its_check_follow_the_contract() -> None:
    from loadtests.claims import pay_later_plan, receivable_problems

    _, bill = _with_findings_and_health_fund()
    plan = pay_later_plan(bill)
    assert plan is not None
    patient_pay = _fen(bill["totals"]["patient_pay"])
    owed = patient_pay - _fen(plan["paid_at_discharge"])
    assert _fen(plan["paid_at_discharge"]) == patient_pay % 100
    assert sum(_fen(i["amount"]) for i in plan["installments"]) == owed
    first = _fen(plan["installments"][0]["amount"])
    receivable = {
        "principal": plan["installments"][0]["amount"] and f"{owed / 100:.2f}",
        "outstanding": f"{(owed - first) / 100:.2f}",
        "status": "open",
        "installments": [
            {
                **plan["installments"][0],
                "paid": plan["installments"][0]["amount"],
                "outstanding": "0.00",
            },
            {
                **plan["installments"][1],
                "paid": "0.00",
                "outstanding": plan["installments"][1]["amount"],
            },
        ],
    }
    assert receivable_problems(bill, plan, receivable, first) == []
    assert receivable_problems(bill, plan, receivable, first - 1) != []
    assert receivable_problems(bill, plan, {**receivable, "status": "paid"}, first) == [
        "status paid, expected open"
    ]
    assert pay_later_plan({**bill, "pay_later_eligible": False}) is None
