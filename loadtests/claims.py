"""Claims for the load test, reproducible by seed, and the checks every answer must pass.

Uses the pure claim generator, the shipped tariffs and the seeded population's definition
(every load-test person and hospital is a function of its index, so the generator knows a
person's region, gender, age and group without reading the database). The service itself is
reached over HTTP only.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from loadtests.generate import (
    Hospital,
    Mix,
    PricedCatalogs,
    PricedItem,
    Stay,
    generate_stay,
    skewed_line_count,
)
from settlement.model import FUND_ORDER, Claim, Gender, Group, Person, Status
from tariffs import load_default
from tariffs.loader import LoadedTariffs

HOSPITAL_KEY_PREFIX = "ONESTOP_HOSPITAL_KEY_"
DEFAULT_MIX: Final[Mix] = Mix()


def read_keys(path: Path) -> dict[str, str]:
    """The `NAME=key` lines of a keys file that `onestop demo seed` wrote."""
    return dict(
        line.split("=", 1) for line in path.read_text(encoding="utf-8").split() if "=" in line
    )


def hospital_keys(keys: dict[str, str]) -> dict[str, str]:
    """Hospital id → its key, from the keys by name."""
    return {
        name.removeprefix(HOSPITAL_KEY_PREFIX): key
        for name, key in keys.items()
        if name.startswith(HOSPITAL_KEY_PREFIX)
    }


def priced_catalogs(loaded: LoadedTariffs) -> PricedCatalogs:
    """Every tariff version's catalog items with their reference prices, and the book."""
    return PricedCatalogs(
        loaded.book,
        {
            version: tuple(
                PricedItem(entry.item, entry.reference_price)
                for entry in entries.values()
                if entry.reference_price is not None
            )
            for version, entries in loaded.catalogs.items()
        },
    )


@lru_cache(maxsize=1)
def catalogs() -> PricedCatalogs:
    """The default tariffs' priced catalogs (loaded once per process)."""
    return priced_catalogs(load_default())


# ---------------------------------------------------------------- the seeded population
# `onestop demo seed --persons N --hospitals M` (api/services/demo.py) makes every person and
# hospital a function of its index. The load generator must know them without the database,
# and reaches the service over HTTP only (tests/test_layers.py), so the definition is repeated
# here: tests/loadtests/test_loadtests.py holds this copy equal to the seeding's.

POPULATION_SEED: Final[int] = 20181231
GROUP_MIX: Final[tuple[tuple[Group | None, int], ...]] = (
    (None, 80), (Group.REGISTERED_POOR, 12), (Group.DIBAO, 6), (Group.DESTITUTE, 2),
)  # fmt: skip
REGION_MIX: Final[tuple[tuple[str, int], ...]] = (("220000", 90), ("210000", 10))
HOSPITAL_MIX: Final[tuple[tuple[int, str], ...]] = (
    (1, "220000"), (2, "220000"), (2, "220000"), (2, "220000"), (2, "210000"),
    (3, "220000"), (3, "220000"), (3, "210000"), (1, "220000"), (2, "220000"),
)  # fmt: skip
STATUS_FROM: Final[date] = date(2016, 1, 1)
PERSON_DRAWS_MAX: Final[int] = 10_000
"""Draws the seeded population may take to find a person of a region before giving up."""
_GROUPS = tuple(group for group, share in GROUP_MIX for _ in range(share))
_REGIONS = tuple(region for region, share in REGION_MIX for _ in range(share))
_POPULATION_HOSPITAL_ID = re.compile(r"LH([0-9]{4,})")


def population_person(index: int, seed: int = POPULATION_SEED) -> Person:
    """The seeded person LP… of this index (`api.services.demo.population_person`)."""
    rng = random.Random(seed * 100_000_000 + index)
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 78))
    group = rng.choice(_GROUPS)
    gender = rng.choice((Gender.MALE, Gender.FEMALE))
    region = rng.choice(_REGIONS)
    statuses = () if group is None else (Status(group, STATUS_FROM, None),)
    return Person(f"LP{index:07d}", birth, region, statuses, gender)


ID_PREFIX: Final[dict[str, str]] = {"220000": "220102", "210000": "210102"}
"""The first six digits of a seeded person's ID number, by insured region."""


def population_id_number(person: Person) -> str:
    """The seeded person's ID number (`api.services.demo.population_id_number`): the credential
    2401 carries. Its region's prefix, birth date, the index's last three digits, and the
    ISO 7064 MOD 11-2 check character."""
    index = int(person.person_id.removeprefix("LP"))
    body = f"{ID_PREFIX[person.insured_region]}{person.birth_date:%Y%m%d}{index % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def population_hospital(hospital_id: str) -> Hospital:
    """The seeded hospital LH… of this id (`api.services.demo.population_hospital`)."""
    match = _POPULATION_HOSPITAL_ID.fullmatch(hospital_id)
    if match is None:
        raise ValueError(f"{hospital_id} is not a hospital `onestop demo seed --persons` made")
    level, region = HOSPITAL_MIX[int(match.group(1)) % len(HOSPITAL_MIX)]
    return Hospital(hospital_id, level, region)


@dataclass(frozen=True, slots=True)
class SeededPopulation:
    """The persons `onestop demo seed --persons COUNT` wrote (LP0000000…), drawn by region."""

    count: int

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(region for region, share in REGION_MIX if share > 0)

    def draw(self, rng: random.Random, region: str) -> Person:
        for _ in range(PERSON_DRAWS_MAX):
            person = population_person(rng.randrange(self.count))
            if person.insured_region == region:
                return person
        raise ValueError(f"no person insured in {region} among the first {self.count} persons")


def generate(
    rng: random.Random,
    *,
    claim_id: str,
    hospital_id: str,
    persons: int,
    lines: int | None,
    mix: Mix = DEFAULT_MIX,
) -> Stay:
    """A stay at the hospital of a seeded person: `lines` fixed, or None for a skewed realistic
    count; `mix` sets the generator's knobs, their defaults the load test's."""
    count = skewed_line_count(rng) if lines is None else lines
    return generate_stay(
        rng, catalogs(), population_hospital(hospital_id), SeededPopulation(persons),
        claim_id=claim_id, line_count=count, mix=mix,
    )  # fmt: skip


def claim_body(
    rng: random.Random,
    *,
    claim_id: str,
    hospital_id: str,
    persons: int,
    lines: int | None,
    mix: Mix = DEFAULT_MIX,
) -> dict[str, Any]:
    """A claim as the contract's JSON, of a seeded person at the hospital (`generate`)."""
    stay = generate(
        rng, claim_id=claim_id, hospital_id=hospital_id, persons=persons, lines=lines, mix=mix
    )
    return claim_json(stay.claim)


def claim_json(claim: Claim) -> dict[str, Any]:
    """The contract's JSON of a claim: `filing` only on a cross-region one."""
    body: dict[str, Any] = {
        "claim_id": claim.claim_id,
        "hospital_id": claim.hospital_id,
        "person_id": claim.person_id,
        "admission_date": claim.admission_date.isoformat(),
        "discharge_date": claim.discharge_date.isoformat(),
        "diagnoses": list(claim.diagnoses),
        "surgery": claim.surgery,
        "items": [
            {
                "line_no": line.line_no,
                "item_code": line.item_code,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price.amount),
                "amount": str(line.amount.amount),
            }
            for line in claim.lines
        ],
    }
    if claim.filing is not None:
        body["filing"] = claim.filing.value
    return body


# ---------------------------------------------------------------- the checks of every answer

FUNDS: Final[tuple[str, ...]] = tuple(fund.value for fund in FUND_ORDER)
"""The five funds, in cascade order, as the bill names them."""
SELFPAY_PARTS: Final[tuple[str, ...]] = (
    "refused_selfpay", "full_selfpay", "over_cap_selfpay", "first_selfpay", "in_scope",
)  # fmt: skip
"""What a line's amount splits into before the funds (rules §4 and §14)."""
FINDING_ACTIONS: Final[frozenset[str]] = frozenset({"refused", "warning"})
_RULE_ORDER: Final[dict[str, int]] = {"R01": 1, "R02": 2, "R03": 3, "R04": 4}


def bill_problems(claim: dict[str, Any], bill: dict[str, Any]) -> list[str]:
    """Everything wrong with a bill for a claim: conservation to the fen per line and claim
    over the five funds and the self-pay parts, findings adding up to each line's refused
    self-pay, and the claim's filing answered back."""
    problems: list[str] = []
    items = bill.get("items", [])
    if [item.get("line_no") for item in items] != [item["line_no"] for item in claim["items"]]:
        problems.append("the bill's lines are not the claim's lines")
    for sent, item in zip(claim["items"], items, strict=False):
        problems += _line_problems(sent, item)
    problems += _totals_problems(claim, items, bill.get("totals", {}))
    problems += _findings_problems(items, bill.get("findings"))
    funds = [fund.get("fund") for fund in bill.get("funds", [])]
    if funds != list(FUNDS):
        problems.append(f"funds out of order: {funds}")
    if bill.get("filing") != claim.get("filing"):
        problems.append(f"filing {bill.get('filing')!r}, the claim's {claim.get('filing')!r}")
    problems += burden_problems(bill)
    return problems


def burden_problems(bill: dict[str, Any]) -> list[str]:
    """The year's burden a bill answers (rules §16) is its accumulators' `patient_paid`, and a
    crossing is from below the threshold to at or above it."""
    burden = bill.get("burden") or {}
    after = _fen(bill.get("accumulators_after", {}), "patient_paid")
    problems = []
    if _fen(burden, "year_to_date") != after:
        problems.append("burden.year_to_date ≠ accumulators_after.patient_paid")
    threshold = burden.get("threshold")
    if threshold is None:
        if burden.get("crossed"):
            problems.append("crossed without a threshold")
        return problems
    before = after - _fen(bill.get("totals", {}), "patient_pay")
    crossed = before < _fen(burden, "threshold") <= after
    if burden.get("crossed") is not crossed:
        problems.append(f"burden.crossed {burden.get('crossed')}, the figures say {crossed}")
    return problems


def pay_later_plan(bill: dict[str, Any]) -> dict[str, Any] | None:
    """A plan for a bill whose patient may pay later (rules §15): its cents paid at discharge,
    the rest in two installments 30 and 61 days after discharge; None when nothing would be
    left to pay in installments."""
    if not bill.get("pay_later_eligible"):
        return None
    patient_pay = _fen(bill["totals"], "patient_pay")
    at_discharge = patient_pay % 100
    owed = patient_pay - at_discharge
    if owed < 2:
        return None
    discharge = date.fromisoformat(bill["discharge_date"])
    first = owed - owed // 2
    return {
        "paid_at_discharge": _yuan(at_discharge),
        "installments": [
            {"due_date": (discharge + timedelta(days=30)).isoformat(), "amount": _yuan(first)},
            {"due_date": (discharge + timedelta(days=61)).isoformat(), "amount": _yuan(owed // 2)},
        ],
    }


def receivable_problems(
    bill: dict[str, Any], plan: dict[str, Any], receivable: dict[str, Any], paid_fen: int = 0
) -> list[str]:
    """Everything wrong with a receivable answered for a plan, after `paid_fen` of payments:
    the principal is the patient's share less what was paid at discharge, the installments are
    the plan's with the payments filled earliest due first, and what is outstanding is what is
    left."""
    problems = []
    principal = _fen(bill["totals"], "patient_pay") - _fen(plan, "paid_at_discharge")
    if _fen(receivable, "principal") != principal:
        problems.append(f"principal {receivable.get('principal')}, expected {_yuan(principal)}")
    if _fen(receivable, "outstanding") != principal - paid_fen:
        problems.append(
            f"outstanding {receivable.get('outstanding')}, expected {_yuan(principal - paid_fen)}"
        )
    left = paid_fen
    for sent, answered in zip(
        plan["installments"], receivable.get("installments", []), strict=False
    ):
        share = min(left, _fen(sent, "amount"))
        left -= share
        expected = (
            sent["due_date"],
            sent["amount"],
            _yuan(share),
            _yuan(_fen(sent, "amount") - share),
        )
        found = (
            answered.get("due_date"),
            answered.get("amount"),
            answered.get("paid"),
            answered.get("outstanding"),
        )
        if found != expected:
            problems.append(f"installment {found}, expected {expected}")
    status = "paid" if principal == paid_fen else "open"
    if receivable.get("status") != status:
        problems.append(f"status {receivable.get('status')}, expected {status}")
    return problems


def fen_of_text(text: str) -> int:
    """A money text of the contract ("12.05") in fen."""
    return _fen({"amount": text}, "amount")


def _yuan(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _line_problems(sent: dict[str, Any], item: dict[str, Any]) -> list[str]:
    where = f"line {item.get('line_no')}"
    amount = _fen(item, "amount")
    problems = []
    if amount != _fen(sent, "amount"):
        problems.append(f"{where}: amount changed")
    if amount != sum(_fen(item, name) for name in SELFPAY_PARTS):
        problems.append(f"{where}: amount ≠ refused + self-pay parts + in scope")
    if amount != sum(_fen(item, name) for name in (*FUNDS, "patient_pay")):
        problems.append(f"{where}: amount ≠ funds + patient")
    for name in (*SELFPAY_PARTS, *FUNDS, "patient_pay"):
        if _fen(item, name) < 0:
            problems.append(f"{where}: {name} is negative")
    return problems


def _totals_problems(
    claim: dict[str, Any], items: list[dict[str, Any]], totals: dict[str, Any]
) -> list[str]:
    problems = []
    if _fen(totals, "total") != sum(_fen(item, "amount") for item in claim["items"]):
        problems.append("total ≠ the claim's lines")
    for name in (*FUNDS, "patient_pay", *SELFPAY_PARTS):
        if _fen(totals, name) != sum(_fen(item, name) for item in items):
            problems.append(f"totals.{name} ≠ sum of lines")
    if _fen(totals, "fund_total") != sum(_fen(totals, name) for name in FUNDS):
        problems.append("fund_total ≠ sum of funds")
    if _fen(totals, "total") != _fen(totals, "fund_total") + _fen(totals, "patient_pay"):
        problems.append("total ≠ fund_total + patient_pay")
    return problems


def _findings_problems(items: list[dict[str, Any]], findings: Any) -> list[str]:
    """Each finding on a line of the bill, warnings of 0.00, in line then rule order, and a
    line's findings adding up to its refused self-pay (rules §14)."""
    if not isinstance(findings, list):
        return ["no findings list"]
    problems = []
    position = {item.get("line_no"): index for index, item in enumerate(items)}
    refused: defaultdict[Any, int] = defaultdict(int)
    for finding in findings:
        line_no, rule, action = finding.get("line_no"), finding.get("rule"), finding.get("action")
        where = f"finding {rule} on line {line_no}"
        if line_no not in position or rule not in _RULE_ORDER or action not in FINDING_ACTIONS:
            problems.append(f"{where}: not a rule, action and line of the bill")
            continue
        amount = _fen(finding, "amount")
        if action == "warning" and amount != 0:
            problems.append(f"{where}: a warning with an amount")
        if amount < 0:
            problems.append(f"{where}: a negative amount")
        refused[line_no] += amount
    order = [
        (position.get(finding.get("line_no"), -1), _RULE_ORDER.get(finding.get("rule"), 0))
        for finding in findings
    ]
    if order != sorted(order):
        problems.append("findings not in line order and then rule order")
    for item in items:
        if refused[item.get("line_no")] != _fen(item, "refused_selfpay"):
            problems.append(f"line {item.get('line_no')}: findings ≠ refused self-pay")
    return problems


def _fen(document: dict[str, Any], name: str) -> int:
    """An amount of the document in fen; a missing or malformed one reads as an impossible
    value, so that every identity it takes part in fails."""
    try:
        return int(Decimal(document[name]).scaleb(2))
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return -(10**18)
