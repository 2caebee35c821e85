"""Claims for the load test, reproducible by seed, and the checks every answer must pass.

Uses the pure claim generator and the shipped catalog only; the service is reached over HTTP.
"""

from __future__ import annotations

import random
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from loadtests.generate import PricedItem, generate_claim, skewed_line_count
from tariffs import load_default

HOSPITAL_KEY_PREFIX = "ONESTOP_HOSPITAL_KEY_"


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


@lru_cache(maxsize=1)
def catalog() -> list[PricedItem]:
    """The default catalog's items with their reference prices (loaded once per process)."""
    loaded = load_default()
    return [
        PricedItem(entry.item, entry.reference_price)
        for entry in loaded.catalogs["220000-2018"].values()
        if entry.reference_price is not None
    ]


def claim_body(
    rng: random.Random, *, claim_id: str, hospital_id: str, person_id: str, lines: int | None
) -> dict[str, Any]:
    """A claim as the contract's JSON: `lines` fixed, or None for a skewed realistic count."""
    count = skewed_line_count(rng) if lines is None else lines
    claim = generate_claim(
        rng,
        catalog(),
        claim_id=claim_id,
        hospital_id=hospital_id,
        person_id=person_id,
        year=2018,
        line_count=count,
    )
    return {
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


FUNDS = ("basic_insurance", "critical_illness", "medical_assistance", "charity")


def bill_problems(claim: dict[str, Any], bill: dict[str, Any]) -> list[str]:
    """Everything wrong with a bill for a claim: conservation to the fen, per line and claim."""
    problems = []
    fen = _fen
    items = bill.get("items", [])
    if [item["line_no"] for item in items] != [item["line_no"] for item in claim["items"]]:
        problems.append("the bill's lines are not the claim's lines")
    for sent, item in zip(claim["items"], items, strict=False):
        amount = fen(item["amount"])
        if amount != fen(sent["amount"]):
            problems.append(f"line {item['line_no']}: amount changed")
        parts = sum(
            fen(item[name])
            for name in ("full_selfpay", "over_cap_selfpay", "first_selfpay", "in_scope")
        )
        payers = sum(fen(item[name]) for name in (*FUNDS, "patient_pay"))
        if amount != parts:
            problems.append(f"line {item['line_no']}: amount ≠ self-pay parts + in scope")
        if amount != payers:
            problems.append(f"line {item['line_no']}: amount ≠ funds + patient")
    totals = bill.get("totals", {})
    if fen(totals.get("total", "0")) != sum(fen(item["amount"]) for item in claim["items"]):
        problems.append("total ≠ the claim's lines")
    for name in (*FUNDS, "patient_pay", "in_scope"):
        if fen(totals.get(name, "0")) != sum(fen(item[name]) for item in items):
            problems.append(f"totals.{name} ≠ sum of lines")
    if fen(totals.get("fund_total", "0")) != sum(fen(totals.get(name, "0")) for name in FUNDS):
        problems.append("fund_total ≠ sum of funds")
    if fen(totals.get("total", "0")) != fen(totals.get("fund_total", "0")) + fen(
        totals.get("patient_pay", "0")
    ):
        problems.append("total ≠ fund_total + patient_pay")
    funds = [fund["fund"] for fund in bill.get("funds", [])]
    if funds != list(FUNDS):
        problems.append(f"funds out of order: {funds}")
    return problems


def _fen(text: str) -> int:
    return int(Decimal(text).scaleb(2))
