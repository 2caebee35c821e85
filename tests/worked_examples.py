"""The worked examples of SETTLEMENT_RULES.md §11 as readable fixtures, exact to the fen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from settlement.model import Accumulators, Claim, ClaimLine, Group, Person, Status
from settlement.money import money

# line, code, quantity, unit price, amount — the claim all three examples share.
EXAMPLE_LINES = (
    (1, "S0001", "11", "45.00", "495.00"),
    (2, "S0002", "1", "12000.00", "12000.00"),
    (3, "B0002", "4", "1230.50", "4922.00"),
    (4, "B0001", "20", "18.75", "375.00"),
    (5, "C0001", "6", "388.00", "2328.00"),
    (6, "M0001", "2", "1800.00", "3600.00"),
    (7, "A0002", "30", "3.50", "105.00"),
    (8, "S0003", "11", "25.00", "275.00"),
)


def example_lines() -> tuple[ClaimLine, ...]:
    return tuple(
        ClaimLine(line_no, code, Decimal(quantity), money(price), money(amount))
        for line_no, code, quantity, price, amount in EXAMPLE_LINES
    )


def example_claim(
    diagnosis: str = "C34.1",
    *,
    surgery: bool = True,
    admission: date = date(2018, 3, 1),
    discharge: date = date(2018, 3, 12),
    lines: tuple[ClaimLine, ...] | None = None,
) -> Claim:
    return Claim(
        claim_id="ZY20180312001",
        hospital_id="H2201001",
        person_id="P0001",
        admission_date=admission,
        discharge_date=discharge,
        diagnoses=(diagnosis,),
        surgery=surgery,
        lines=example_lines() if lines is None else lines,
    )


def person(
    group: Group | None = None,
    *,
    valid_from: date = date(2017, 1, 1),
    valid_to: date | None = None,
    birth_date: date = date(1960, 5, 1),
) -> Person:
    statuses = () if group is None else (Status(group, valid_from, valid_to),)
    return Person("P0001", birth_date, "220000", statuses)


def e4_accumulators() -> Accumulators:
    """Before E4: one admission, basic 20000.00, ci base 30000.00, ci 12000.00, assist 5000.00."""
    return Accumulators(
        year=2018,
        admissions=1,
        basic_paid=money("20000.00"),
        ci_base=money("30000.00"),
        ci_paid=money("12000.00"),
        assistance_paid=money("5000.00"),
    )
