"""Policy branches no shipped tariff takes, on hand-built variants of the default tariffs: a
capped charity or health fund (and a year already past the cap), a group without assistance
rates or without an assistance cap, charity for fewer groups, a hospital level without basic
rates, a cross-region reduction larger than the rate, a critical-illness band open upwards
reached, and the health fund's refusals of a group it does not cover and of a cross-region
claim.

`make mutate` (docs/mutation.md) left these unpinned: the shipped tariffs cap neither charity
nor the health fund, give every group assistance rates with a cap, and no worked example
reaches the last critical-illness band, so a wrong cap sentence, a cap left read as 0.01 past
the cap or a charity payment subtracted from the year's figures all passed. Every expected
figure below is worked by hand from E2 (SETTLEMENT_RULES.md §11: in scope 19195.10; basic
12184.32, critical illness 1105.93, assistance 3178.64, charity 2726.21) or H1 (§13: in scope
2858.80; basic 2087.04, assistance 385.88, the health fund 100.00 of the 385.88 left).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from settlement.engine import settle
from settlement.model import Accumulators, Claim, Filing, Fund, Group, Person
from settlement.money import money
from settlement.rejection import Problem, ProblemCode, Rejection
from settlement.result import FundStep, Settlement
from settlement.tariff import Band, Tariff, TariffBook
from tests.worked_examples import example_claim, h1_claim, h1_person, person, x1_claim, x1_person

E2_DIBAO = person(Group.DIBAO, valid_from=date(2017, 1, 1))


def varied(book: TariffBook, version: str, **changes: Any) -> TariffBook:
    """The book with tariff `version`'s fields replaced by `changes`."""
    return TariffBook(
        tuple(
            replace(tariff, **changes) if tariff.version == version else tariff
            for tariff in book.tariffs
        )
    )


def tariff(book: TariffBook, version: str) -> Tariff:
    (found,) = (candidate for candidate in book.tariffs if candidate.version == version)
    return found


def settled(
    book: TariffBook,
    claim: Claim,
    who: Person,
    level: int,
    before: Accumulators,
    hospital_region: str | None = None,
) -> Settlement:
    result = settle(claim, who, level, before, book, hospital_region)
    assert isinstance(result, Settlement), result
    return result


def step(result: Settlement, fund: Fund) -> FundStep:
    (found,) = (candidate for candidate in result.funds if candidate.fund is fund)
    return found


def figures(found: FundStep) -> tuple[int, int, int | None, int]:
    return (found.base_fen, found.payable_fen, found.cap_remaining_fen, found.paid_fen)


# ---------------------------------------------------------------- charity


def capped_charity(book: TariffBook, cap_fen: int) -> TariffBook:
    policy = tariff(book, "220000-2018").charity
    return varied(book, "220000-2018", charity=replace(policy, annual_cap_fen=cap_fen))


def test_a_capped_charity_pays_what_is_left_of_its_cap_and_counts_it_in_the_year(
    book: TariffBook,
) -> None:
    """Cap 1000.00, 300.00 paid earlier this year: 700.00 left of the 2726.21 charity would
    pay; the year's charity figure goes to 1000.00; the patient keeps the 2026.21 more."""
    before = Accumulators(year=2018, charity_paid=money("300.00"))
    result = settled(capped_charity(book, 100000), example_claim(), E2_DIBAO, 3, before)
    charity = step(result, Fund.CHARITY)
    assert figures(charity) == (272621, 272621, 70000, 70000)
    assert charity.explanation == (
        "listed disease 肺癌 (lung cancer), diagnosis C34.1: the in-scope remainder 2726.21 is "
        "free (政策范围内费用全部免费)",
        "charity cap left 700.00: pays 700.00",
    )
    assert charity.explanation_zh == (
        "救助病种 肺癌（lung cancer），诊断 C34.1：政策范围内剩余 2726.21 全部免费",
        "慈善救助限额剩余 700.00：支付 700.00",
    )
    assert result.totals.charity_fen == 70000
    assert result.totals.patient_pay_fen == 2410000 - 1919510 + 272621 - 70000
    assert result.accumulators_after_fen.charity_paid == 100000


def test_a_charity_cap_already_passed_leaves_nothing_not_a_fen(book: TariffBook) -> None:
    """1200.00 paid against a cap of 1000.00 (a cap lowered mid-year): 0.00 left, pays 0.00."""
    before = Accumulators(year=2018, charity_paid=money("1200.00"))
    result = settled(capped_charity(book, 100000), example_claim(), E2_DIBAO, 3, before)
    charity = step(result, Fund.CHARITY)
    assert figures(charity) == (272621, 272621, 0, 0)
    assert charity.explanation[1] == "charity cap left 0.00: pays 0.00"
    assert result.accumulators_after_fen.charity_paid == 120000


def test_charity_for_fewer_groups_refuses_a_group_it_does_not_name(book: TariffBook) -> None:
    policy = tariff(book, "220000-2018").charity
    only_destitute = varied(
        book, "220000-2018", charity=replace(policy, groups=frozenset({Group.DESTITUTE}))
    )
    result = settled(only_destitute, example_claim(), E2_DIBAO, 3, Accumulators(year=2018))
    charity = step(result, Fund.CHARITY)
    assert figures(charity) == (272621, 0, None, 0)
    assert charity.explanation == ("not in a charity group: pays 0.00",)
    assert result.charity_disease is None


@pytest.mark.parametrize(
    ("claim", "english", "chinese"),
    [
        (
            example_claim(surgery=False),
            "肺癌 is covered only when treated by surgery: pays 0.00",
            "肺癌仅限手术治疗：支付 0.00",
        ),
        (
            example_claim("C91.0"),
            "儿童白血病 is covered up to age 14; age at admission 57: pays 0.00",
            "儿童白血病限 14 周岁及以下；入院时 57 周岁：支付 0.00",
        ),
    ],
    ids=["without surgery", "over the disease's age"],
)
def test_charity_names_why_a_listed_disease_is_not_covered(
    book: TariffBook, claim: Claim, english: str, chinese: str
) -> None:
    """Lung cancer needs surgery; childhood leukaemia (C91.0) is covered up to age 14, and
    E2's patient, born 1960-05-01, was 57 on 2018-03-01."""
    charity = step(settled(book, claim, E2_DIBAO, 3, Accumulators(year=2018)), Fund.CHARITY)
    assert (charity.paid_fen, charity.explanation, charity.explanation_zh) == (
        0,
        (english,),
        (chinese,),
    )


# ---------------------------------------------------------------- medical assistance


def test_a_group_without_assistance_rates_gets_none_and_charity_pays_the_rest(
    book: TariffBook,
) -> None:
    """Without dibao's rates assistance pays 0.00 of the 5904.85 left after critical illness
    (19195.10 − 12184.32 − 1105.93), and charity, uncapped, pays all of it."""
    rates = dict(tariff(book, "220000-2018").assistance)
    del rates[Group.DIBAO]
    without = varied(book, "220000-2018", assistance=rates)
    result = settled(without, example_claim(), E2_DIBAO, 3, Accumulators(year=2018))
    assistance = step(result, Fund.MEDICAL_ASSISTANCE)
    assert figures(assistance) == (590485, 0, None, 0)
    assert assistance.explanation == ("dibao has no assistance rates: pays 0.00",)
    assert assistance.explanation_zh == ("低保对象无救助比例：支付 0.00",)
    assert figures(step(result, Fund.CHARITY)) == (590485, 590485, None, 590485)


def test_assistance_without_a_cap_says_so(book: TariffBook) -> None:
    rates = dict(tariff(book, "220000-2018").assistance)
    rates[Group.DIBAO] = replace(rates[Group.DIBAO], annual_cap_fen=None)
    uncapped = varied(book, "220000-2018", assistance=rates)
    result = settled(uncapped, example_claim(), E2_DIBAO, 3, Accumulators(year=2018))
    assistance = step(result, Fund.MEDICAL_ASSISTANCE)
    assert figures(assistance) == (590485, 317864, None, 317864)
    assert assistance.explanation[1] == "no annual cap: pays 3178.64"
    assert assistance.explanation_zh[1] == "不设年度限额：支付 3178.64"


# ---------------------------------------------------------------- the health fund


def test_a_capped_health_fund_pays_what_is_left_of_its_cap(book: TariffBook) -> None:
    """H1's fund would pay 100.00; cap 150.00 with 80.00 paid this year leaves 70.00."""
    policy = tariff(book, "220000-2019").health_fund
    assert policy is not None
    capped = varied(book, "220000-2019", health_fund=replace(policy, annual_cap_fen=15000))
    before = Accumulators(year=2019, health_paid=money("80.00"))
    result = settled(capped, h1_claim(), h1_person(), 2, before)
    health = step(result, Fund.HEALTH_FUND)
    assert figures(health) == (38588, 10000, 7000, 7000)
    assert health.explanation == (
        "in scope left 385.88 − patient's share at most 2858.80 × 0.10 = 285.88 → 100.00",
        "annual cap 150.00, paid this year 80.00, left 70.00: pays 70.00",
    )
    assert health.explanation_zh == (
        "政策范围内剩余 385.88 − 个人自付上限 2858.80 × 0.10 = 285.88 → 100.00",
        "年度最高支付限额 150.00，本年已支付 80.00，剩余 70.00：支付 70.00",
    )
    assert result.accumulators_after_fen.health_paid == 15000


def test_a_health_fund_share_above_what_is_left_pays_nothing_not_a_fen(book: TariffBook) -> None:
    """At most 20% of 2858.80 is 571.76, more than the 385.88 left: payable 0.00."""
    policy = tariff(book, "220000-2019").health_fund
    assert policy is not None
    higher = varied(book, "220000-2019", health_fund=replace(policy, selfpay_ratio_max_ppm=200000))
    result = settled(higher, h1_claim(), h1_person(), 2, Accumulators(year=2019))
    health = step(result, Fund.HEALTH_FUND)
    assert figures(health) == (38588, 0, None, 0)
    assert health.explanation == (
        "in scope left 385.88 − patient's share at most 2858.80 × 0.20 = 571.76 → 0.00",
        "no annual cap: pays 0.00",
    )


def test_the_health_fund_refuses_a_group_it_does_not_cover(book: TariffBook) -> None:
    dibao = replace(h1_person(), statuses=(replace(h1_person().statuses[0], group=Group.DIBAO),))
    result = settled(book, h1_claim(), dibao, 2, Accumulators(year=2019))
    health = step(result, Fund.HEALTH_FUND)
    assert health.paid_fen == 0
    assert health.explanation == ("not eligible: group dibao is not covered: pays 0.00",)
    assert health.explanation_zh == ("不符合条件：低保对象不在保障范围：支付 0.00",)


def test_the_health_fund_refuses_a_cross_region_claim(book: TariffBook) -> None:
    """H1's stay treated in Liaoning on a resident filing: the fund pays in-region stays only."""
    claim = replace(h1_claim(), filing=Filing.RESIDENT)
    result = settled(book, claim, h1_person(), 2, Accumulators(year=2019), "210000")
    health = step(result, Fund.HEALTH_FUND)
    assert health.paid_fen == 0
    assert health.explanation == ("not eligible: cross-region claim: pays 0.00",)
    assert health.explanation_zh == ("不符合条件：异地就医：支付 0.00",)


# ---------------------------------------------------------------- basic insurance


@pytest.mark.parametrize("level", [1, 2, 3])
def test_a_hospital_level_the_tariff_has_no_rates_for_is_refused(
    book: TariffBook, level: int
) -> None:
    basic = tariff(book, "220000-2018").basic
    levels = {key: value for key, value in basic.levels.items() if key != level}
    without = varied(book, "220000-2018", basic=replace(basic, levels=levels))
    result = settle(example_claim(), E2_DIBAO, level, Accumulators(year=2018), without)
    assert result == Rejection(
        (
            Problem(
                ProblemCode.UNKNOWN_HOSPITAL_LEVEL,
                ("hospital_level",),
                f"tariff 220000-2018 has no rates for hospital level {level}",
            ),
        )
    )


def test_a_cross_region_rate_without_a_group_is_the_levels_less_the_reduction(
    book: TariffBook,
) -> None:
    """No tilt, no bonus: 0.60 − 0.10 (referral) = 0.50."""
    nobody = replace(x1_person(), statuses=())
    result = settled(book, x1_claim(), nobody, 3, Accumulators(year=2018), "210000")
    basic = step(result, Fund.BASIC_INSURANCE)
    assert basic.rate_ppm == 500000
    assert basic.explanation[:2] == (
        "level-3 hospital: deductible (起付线) 900.00, rate 0.60",
        "cross-region claim, filing referral: rate − 0.10 = 0.50",
    )


def test_a_reduction_larger_than_the_rate_leaves_a_rate_of_zero_not_a_millionth(
    book: TariffBook,
) -> None:
    """0.60 + 0.05 (dibao) − 0.70 is below 0: the rate is 0.00 and basic insurance pays 0.00."""
    policy = tariff(book, "220000-2018").cross_region
    assert policy is not None
    reductions = {**policy.rate_reduction_ppm, Filing.REFERRAL: 700000}
    steep = varied(book, "220000-2018", cross_region=replace(policy, rate_reduction_ppm=reductions))
    result = settled(steep, x1_claim(), x1_person(), 3, Accumulators(year=2018), "210000")
    basic = step(result, Fund.BASIC_INSURANCE)
    assert (basic.rate_ppm, basic.payable_fen, basic.paid_fen) == (0, 0, 0)
    assert basic.explanation[2] == "cross-region claim, filing referral: rate − 0.70 = 0.00"


def test_the_basic_step_keeps_the_rate_it_paid_at(e2: Settlement) -> None:
    """E2: 0.60 at level 3, + 0.05 for dibao; the other funds have no single rate."""
    assert [found.rate_ppm for found in e2.funds] == [650000, None, None, None, None]


# ---------------------------------------------------------------- critical illness


def test_a_band_open_upwards_is_written_to_infinity(book: TariffBook) -> None:
    """Bands [0, 1000.00) at 0.50 and [1000.00, ∞) at 0.70, each + 0.05 for dibao, over E2's
    2010.78 above the line: 1000.00 × 0.55 + 1010.78 × 0.75 = 550.00 + 758.085 = 1308.085."""
    policy = tariff(book, "220000-2018").critical_illness
    bands = (Band(0, 100000, 500000), Band(100000, None, 700000))
    two_bands = varied(book, "220000-2018", critical_illness=replace(policy, bands=bands))
    result = settled(two_bands, example_claim(), E2_DIBAO, 3, Accumulators(year=2018))
    critical = step(result, Fund.CRITICAL_ILLNESS)
    assert critical.paid_fen == 130809
    assert critical.explanation[3:6] == (
        "band [0.00, 1000.00): 1000.00 × 0.55",
        "band [1000.00, ∞): 1010.78 × 0.75",
        "exact 1308.085 → 1308.09",
    )
    assert critical.explanation_zh[4] == "分段 [1000.00, ∞)：1010.78 × 0.75"


# ---------------------------------------------------------------- the settlement's own fields


def test_a_settlement_names_the_claims_hospital_person_and_dates(e2: Settlement) -> None:
    assert (e2.hospital_id, e2.person_id, e2.admission_date, e2.discharge_date) == (
        "H2201001",
        "P0001",
        date(2018, 3, 1),
        date(2018, 3, 12),
    )
