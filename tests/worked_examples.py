"""The worked examples of SETTLEMENT_RULES.md §11 as readable fixtures, exact to the fen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from settlement.model import Accumulators, Claim, ClaimLine, Filing, Gender, Group, Person, Status
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


# ---------------------------------------------------------------- sections 12–14
# Three examples of our own for the rules' additions, computed by hand in
# tests/settlement/test_additions_examples.py and reproduced through the engine, the
# workbench and HTTP.


def x1_person() -> Person:
    """X1: insured in Jilin (220000), dibao since 2017, born 1960-05-01."""
    return Person(
        "P0001",
        date(1960, 5, 1),
        "220000",
        (Status(Group.DIBAO, date(2017, 1, 1), None),),
        Gender.MALE,
    )


def x1_claim() -> Claim:
    """X1: E2's bill (lung cancer, surgery) at a Liaoning (210000) level-3 hospital, on referral."""
    return Claim(
        claim_id="ZY20180312X01",
        hospital_id="H2101001",
        person_id="P0001",
        admission_date=date(2018, 3, 1),
        discharge_date=date(2018, 3, 12),
        diagnoses=("C34.1",),
        surgery=True,
        lines=example_lines(),
        filing=Filing.REFERRAL,
    )


H1_LINES = (
    (1, "S0001", "10", "40.00", "400.00"),
    (2, "B0002", "2", "1230.50", "2461.00"),
    (3, "A0001", "20", "12.00", "240.00"),
    (4, "S0003", "10", "25.00", "250.00"),
)


def h1_person() -> Person:
    """H1: registered poor in Jilin since 2016, born 1958-06-01, female."""
    return Person(
        "P0002",
        date(1958, 6, 1),
        "220000",
        (Status(Group.REGISTERED_POOR, date(2016, 1, 1), None),),
        Gender.FEMALE,
    )


def h1_claim() -> Claim:
    """H1: gallstones (K80.1) at a Jilin level-2 hospital in 2019, ten days, first admission."""
    return Claim(
        claim_id="ZY20190511H01",
        hospital_id="H2202001",
        person_id="P0002",
        admission_date=date(2019, 5, 1),
        discharge_date=date(2019, 5, 11),
        diagnoses=("K80.1",),
        surgery=False,
        lines=_lines(H1_LINES),
    )


R1_LINES = (
    (1, "S0001", "7", "45.00", "315.00"),  # R03: 7 bed days billed for a 5-day stay
    (2, "G0002", "1", "120.00", "120.00"),  # R01: cervical cytology for a male patient
    (3, "P0002", "1", "80.00", "80.00"),  # R02: geriatric assessment at 59
    (4, "M0001", "5", "1500.00", "7500.00"),  # R04: five staplers, at most 3 an admission
    (5, "S0001", "1", "40.00", "40.00"),  # R03 again: the bed-day allowance is spent
    (6, "A0002", "10", "3.50", "35.00"),
)


def r1_person() -> Person:
    """R1: no group, insured in Jilin, male, born 1958-06-01 (59 at admission)."""
    return Person("P0003", date(1958, 6, 1), "220000", (), Gender.MALE)


def r1_claim() -> Claim:
    """R1: a Jilin level-2 stay of 5 days (2018-03-01 to 03-06) whose bill breaks R01–R04."""
    return Claim(
        claim_id="ZY20180306R01",
        hospital_id="H2202001",
        person_id="P0003",
        admission_date=date(2018, 3, 1),
        discharge_date=date(2018, 3, 6),
        diagnoses=("K80.1",),
        surgery=False,
        lines=_lines(R1_LINES),
    )


def _lines(rows: tuple[tuple[int, str, str, str, str], ...]) -> tuple[ClaimLine, ...]:
    return tuple(
        ClaimLine(line_no, code, Decimal(quantity), money(price), money(amount))
        for line_no, code, quantity, price, amount in rows
    )
