"""Rejections of sections 12–14 at the engine: filings, tariffs of two regions, and every
problem of a claim listed at once.

The claims are worked example X1 (a Jilin dibao patient treated in Liaoning on referral) with
one thing broken, or several, so that any problem reported comes from the broken parts alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from settlement.engine import settle
from settlement.model import Accumulators, Claim, ClaimLine, Filing, Gender, Person
from settlement.money import money
from settlement.rejection import ProblemCode, Rejection
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import example_lines, x1_claim, x1_person

Loc = tuple[str | int, ...]


def liaoning_person() -> Person:
    """Insured in Liaoning (210000), no group."""
    return Person("P0021", date(1960, 5, 1), "210000", (), Gender.FEMALE)


def outcome(
    claim: Claim,
    book: TariffBook,
    hospital_region: str | None = "210000",
    who: Person | None = None,
    level: int = 3,
) -> Settlement | Rejection:
    accumulators = Accumulators(year=claim.discharge_date.year)
    return settle(claim, who or x1_person(), level, accumulators, book, hospital_region)


def rejected(
    claim: Claim,
    book: TariffBook,
    hospital_region: str | None = "210000",
    who: Person | None = None,
) -> Rejection:
    result = outcome(claim, book, hospital_region, who)
    assert isinstance(result, Rejection), result
    return result


def settled(
    claim: Claim,
    book: TariffBook,
    hospital_region: str | None = "210000",
    who: Person | None = None,
) -> Settlement:
    result = outcome(claim, book, hospital_region, who)
    assert isinstance(result, Settlement), result
    return result


def where(rejection: Rejection) -> list[tuple[ProblemCode, Loc]]:
    return [(problem.code, problem.loc) for problem in rejection.problems]


def on(claim: Claim, day: date) -> Claim:
    """The claim discharged on `day`, admitted eleven days before."""
    return replace(claim, admission_date=date.fromordinal(day.toordinal() - 11), discharge_date=day)


def open_ended(book: TariffBook, version: str) -> TariffBook:
    """The book with one version in force without an end."""
    return TariffBook(
        tuple(
            replace(tariff, effective_to=None) if tariff.version == version else tariff
            for tariff in book.tariffs
        )
    )


# --------------------------------------------------------------------------- filing


@pytest.mark.parametrize(
    ("who", "hospital_region", "day"),
    [
        (x1_person(), "210000", date(2018, 3, 12)),
        (x1_person(), "210000", date(2019, 12, 31)),
        (liaoning_person(), "220000", date(2018, 3, 12)),
        (liaoning_person(), "220000", date(2019, 6, 30)),
    ],
)
def test_a_cross_region_claim_without_a_filing_is_rejected_with_filing_required(
    book: TariffBook, who: Person, hospital_region: str, day: date
) -> None:
    claim = on(replace(x1_claim(), filing=None), day)
    rejection = rejected(claim, book, hospital_region, who)
    assert where(rejection) == [(ProblemCode.FILING_REQUIRED, ("filing",))]
    message = rejection.problems[0].msg
    assert who.insured_region in message
    assert hospital_region in message
    assert "resident, referral, emergency or temporary" in message


@pytest.mark.parametrize("filing", list(Filing))
@pytest.mark.parametrize("hospital_region", [None, "220000"])
def test_an_in_region_claim_with_a_filing_is_rejected_with_filing_not_allowed(
    book: TariffBook, filing: Filing, hospital_region: str | None
) -> None:
    claim = replace(x1_claim(), filing=filing)
    rejection = rejected(claim, book, hospital_region)
    assert where(rejection) == [(ProblemCode.FILING_NOT_ALLOWED, ("filing",))]
    assert str(filing) in rejection.problems[0].msg
    assert "220000" in rejection.problems[0].msg


@pytest.mark.parametrize("filing", list(Filing))
def test_every_filing_settles_a_cross_region_claim(book: TariffBook, filing: Filing) -> None:
    settlement = settled(replace(x1_claim(), filing=filing), book)
    assert settlement.filing is filing


# ------------------------------------------------------------------------ no tariff


def test_a_treatment_region_without_any_tariff_is_rejected_naming_region_and_date(
    book: TariffBook,
) -> None:
    rejection = rejected(x1_claim(), book, "110000")
    assert where(rejection) == [(ProblemCode.NO_TARIFF, ("discharge_date",))]
    assert "110000" in rejection.problems[0].msg
    assert "2018-03-12" in rejection.problems[0].msg


def test_an_insured_region_without_any_tariff_is_rejected_naming_region_and_date(
    book: TariffBook,
) -> None:
    beijing = replace(x1_person(), insured_region="110000")
    rejection = rejected(x1_claim(), book, "220000", beijing)
    assert where(rejection) == [(ProblemCode.NO_TARIFF, ("discharge_date",))]
    assert "110000" in rejection.problems[0].msg
    assert "2018-03-12" in rejection.problems[0].msg


def test_a_treatment_region_whose_tariff_has_ended_is_rejected_the_day_after_its_end(
    book: TariffBook,
) -> None:
    """210000-2018 is in force to 2019-12-31. With Jilin's 2019 tariff kept in force, a
    Liaoning stay settles on 2019-12-31 and is rejected on 2020-01-01, naming 210000."""
    jilin_open = open_ended(book, "220000-2019")
    last_day = settled(on(x1_claim(), date(2019, 12, 31)), jilin_open)
    assert last_day.catalog_version == "210000-2018"
    day_after = on(x1_claim(), date(2020, 1, 1))
    rejection = rejected(day_after, jilin_open)
    assert where(rejection) == [(ProblemCode.NO_TARIFF, ("discharge_date",))]
    assert "210000" in rejection.problems[0].msg
    assert "2020-01-01" in rejection.problems[0].msg
    # In-region the same stay settles: the missing tariff is the treatment region's alone.
    in_region = settled(replace(day_after, filing=None), jilin_open, None)
    assert in_region.catalog_version == "220000-2019"


def test_a_2020_cross_region_claim_names_both_regions_without_a_tariff(book: TariffBook) -> None:
    rejection = rejected(on(x1_claim(), date(2020, 3, 12)), book)
    assert where(rejection) == [
        (ProblemCode.NO_TARIFF, ("discharge_date",)),
        (ProblemCode.NO_TARIFF, ("discharge_date",)),
    ]
    insured, treatment = (problem.msg for problem in rejection.problems)
    assert "220000" in insured
    assert "210000" in treatment
    assert all("2020-03-12" in problem.msg for problem in rejection.problems)


def test_item_codes_are_looked_up_in_the_treatment_regions_catalog(book: TariffBook) -> None:
    """With A0002 removed from Liaoning's catalog only, X1 is rejected for line 7 in Liaoning
    and settles at home."""
    without_a0002 = TariffBook(
        tuple(
            replace(
                tariff,
                catalog={code: item for code, item in tariff.catalog.items() if code != "A0002"},
            )
            if tariff.region == "210000"
            else tariff
            for tariff in book.tariffs
        )
    )
    rejection = rejected(x1_claim(), without_a0002)
    assert where(rejection) == [(ProblemCode.UNKNOWN_ITEM_CODE, ("items", 6, "item_code"))]
    assert "A0002" in rejection.problems[0].msg
    settled(replace(x1_claim(), filing=None), without_a0002, None)


# ------------------------------------------------------------ no cross-region policy


def test_a_policy_tariff_without_cross_region_rates_rejects_its_insureds_claims_elsewhere(
    book: TariffBook,
) -> None:
    jilin_stays_home = TariffBook(
        tuple(
            replace(tariff, cross_region=None) if tariff.version == "220000-2018" else tariff
            for tariff in book.tariffs
        )
    )
    rejection = rejected(x1_claim(), jilin_stays_home)
    assert where(rejection) == [(ProblemCode.NO_CROSS_REGION_POLICY, ("filing",))]
    assert "220000-2018" in rejection.problems[0].msg
    assert "210000" in rejection.problems[0].msg
    # The policy is the insured region's: at home the claim settles, and a Liaoning patient
    # treated in Jilin settles too (Jilin's missing cross-region rates are not theirs).
    settled(replace(x1_claim(), filing=None), jilin_stays_home, None)
    visitor = settled(x1_claim(), jilin_stays_home, "220000", liaoning_person())
    assert (visitor.tariff_version, visitor.catalog_version) == ("210000-2018", "220000-2018")


# ------------------------------------------------------------- every problem at once


def test_a_missing_filing_an_unknown_code_and_a_discharge_before_admission_are_all_listed(
    book: TariffBook,
) -> None:
    lines = list(example_lines())
    lines[1] = ClaimLine(2, "X9999", Decimal(1), money("12000.00"), money("12000.00"))
    claim = replace(
        x1_claim(),
        filing=None,
        admission_date=date(2018, 3, 12),
        discharge_date=date(2018, 3, 1),
        lines=tuple(lines),
    )
    rejection = rejected(claim, book)
    assert where(rejection) == [
        (ProblemCode.DISCHARGE_BEFORE_ADMISSION, ("discharge_date",)),
        (ProblemCode.FILING_REQUIRED, ("filing",)),
        (ProblemCode.UNKNOWN_ITEM_CODE, ("items", 1, "item_code")),
    ]
    assert "X9999" in rejection.problems[2].msg


def test_a_filing_in_region_a_missing_tariff_and_a_wrong_amount_are_all_listed(
    book: TariffBook,
) -> None:
    """In 2020 Jilin has no tariff: item codes cannot be looked up, amounts still are checked."""
    lines = list(example_lines())
    lines[0] = ClaimLine(1, "S0001", Decimal(11), money("45.00"), money("495.01"))
    claim = replace(on(x1_claim(), date(2020, 3, 12)), lines=tuple(lines))
    rejection = rejected(claim, book, None)
    assert where(rejection) == [
        (ProblemCode.NO_TARIFF, ("discharge_date",)),
        (ProblemCode.FILING_NOT_ALLOWED, ("filing",)),
        (ProblemCode.AMOUNT_MISMATCH, ("items", 0, "amount")),
    ]


def test_no_cross_region_policy_an_unknown_code_and_an_unknown_level_are_all_listed(
    book: TariffBook,
) -> None:
    jilin_stays_home = TariffBook(
        tuple(replace(tariff, cross_region=None) for tariff in book.tariffs)
    )
    lines = list(example_lines())
    lines[6] = ClaimLine(7, "Z0001", Decimal(30), money("3.50"), money("105.00"))
    claim = replace(x1_claim(), lines=tuple(lines))
    result = settle(claim, x1_person(), 4, Accumulators(year=2018), jilin_stays_home, "210000")
    assert isinstance(result, Rejection), result
    assert where(result) == [
        (ProblemCode.UNKNOWN_HOSPITAL_LEVEL, ("hospital_level",)),
        (ProblemCode.NO_CROSS_REGION_POLICY, ("filing",)),
        (ProblemCode.UNKNOWN_ITEM_CODE, ("items", 6, "item_code")),
    ]


def test_a_filing_that_is_no_filing_kind_is_refused_not_a_crash(book: TariffBook) -> None:
    """The service's contract refuses it first; a direct caller of the engine gets a problem."""
    claim = replace(x1_claim(), filing="abroad")  # type: ignore[arg-type]
    result = settle(claim, x1_person(), 3, Accumulators(year=2018), book, "210000")
    assert isinstance(result, Rejection)
    assert [(p.code, p.loc) for p in result.problems] == [(ProblemCode.UNKNOWN_FILING, ("filing",))]
