"""The engine's words, pinned: every rejection message, rule finding and fund explanation a
person reads (the API's `msg`, the slip's 说明), in English and Chinese, to the character.

`make mutate` (docs/mutation.md) showed the engine's tests read the codes and figures but not
the texts built from them: a rejection that said `None`, a finding's Chinese left out, an
explanation's exact amount rounded or its nested reason left in English all went unnoticed.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from moneyed import Money

from settlement.engine import settle
from settlement.model import Accumulators, Claim, ClaimLine, Gender, Person
from settlement.money import SCALE, format_exact, format_fen, format_ppm, money
from settlement.rejection import Rejection
from settlement.result import FindingAction, Settlement
from settlement.rules import format_quantity
from settlement.tariff import TariffBook
from tests.worked_examples import example_claim, example_lines, person, r1_claim, r1_person


def line(line_no: int, code: str, quantity: str, price: str, amount: str) -> ClaimLine:
    return ClaimLine(line_no, code, Decimal(quantity), money(price), money(amount))


def with_line(index: int, replacement: ClaimLine) -> Claim:
    lines = list(example_lines())
    lines[index] = replacement
    return example_claim(lines=tuple(lines))


def problems(claim: Claim, book: TariffBook) -> list[tuple[str, tuple[str | int, ...], str]]:
    result = settle(claim, person(), 3, Accumulators(year=2018), book)
    assert isinstance(result, Rejection), result
    return [(problem.code.value, problem.loc, problem.msg) for problem in result.problems]


# ---------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("replacement", "code", "field", "message"),
    [
        (line(1, "S0001", "NaN", "45.00", "495.00"), "not_a_number", "quantity",
         "quantity is not a finite number"),
        (line(1, "S0001", "1000000", "45.00", "45000000.00"), "out_of_range", "quantity",
         "quantity 1000000 is out of range (below 1000000)"),
        (line(1, "S0001", "11", "100000000", "495.00"), "out_of_range", "unit_price",
         "unit_price 100000000 is out of range (below 100000000)"),
        (line(1, "S0001", "11", "45.00", "1000000000.00"), "out_of_range", "amount",
         "amount 1000000000.00 is out of range (below 1000000000)"),
        (line(1, "S0001", "11.00001", "45.00", "495.00"), "too_many_decimals", "quantity",
         "quantity 11.00001 has 5 decimals; at most 4 are allowed"),
        (line(1, "S0001", "11", "45.1234567", "495.00"), "too_many_decimals", "unit_price",
         "unit_price 45.1234567 has 7 decimals; at most 6 are allowed"),
        (line(1, "S0001", "11", "45.00", "495.001"), "too_many_decimals", "amount",
         "amount 495.001 has 3 decimals; at most 2 are allowed"),
        (line(1, "S0001", "11", "45.00", "-495.00"), "negative_amount", "amount",
         "amount -495.00 is negative"),
        (line(1, "S0001", "0", "45.00", "0.00"), "quantity_not_positive", "quantity",
         "line 1: quantity must be positive"),
        (line(1, "S0001", "-1", "45.00", "0.00"), "quantity_not_positive", "quantity",
         "line 1: quantity must be positive"),
    ],
)  # fmt: skip
def test_each_line_problem_is_named_in_words_at_its_field(
    book: TariffBook, replacement: ClaimLine, code: str, field: str, message: str
) -> None:
    """A maximum itself is out of range (the limits are exclusive); a negative quantity is
    not positive and nothing else (its sign is not checked twice)."""
    assert problems(with_line(0, replacement), book) == [(code, ("items", 0, field), message)]


def test_a_line_number_used_twice_is_named_in_words(book: TariffBook) -> None:
    claim = with_line(1, line(1, "S0002", "1", "12000.00", "12000.00"))
    assert problems(claim, book) == [
        ("duplicate_line_no", ("items", 1, "line_no"), "line number 1 is used more than once")
    ]


def test_a_price_in_another_currency_is_named_in_words(book: TariffBook) -> None:
    dollars = ClaimLine(1, "S0001", Decimal("11"), Money("45.00", "USD"), money("495.00"))
    assert problems(with_line(0, dollars), book) == [
        ("wrong_currency", ("items", 0, "unit_price"), "unit_price is in USD; only CNY is settled")
    ]


def test_each_claim_problem_is_named_in_words_at_its_field(book: TariffBook) -> None:
    claim = example_claim()

    def named(
        claim: Claim, who: Person | None = None, level: int = 3, year: int = 2018
    ) -> list[tuple[str, tuple[str | int, ...], str]]:
        result = settle(claim, who or person(), level, Accumulators(year=year), book)
        assert isinstance(result, Rejection), result
        return [(problem.code.value, problem.loc, problem.msg) for problem in result.problems]

    early = dataclasses.replace(claim, discharge_date=date(2018, 2, 28))
    assert named(early) == [("discharge_before_admission", ("discharge_date",),
                             "discharge 2018-02-28 is before admission 2018-03-01")]  # fmt: skip
    unborn = dataclasses.replace(person(), birth_date=date(2018, 3, 2))
    assert named(claim, unborn) == [("admission_before_birth", ("admission_date",),
                                     "admission 2018-03-01 is before the person's birth")]  # fmt: skip
    assert named(dataclasses.replace(claim, diagnoses=())) == [
        ("no_diagnosis", ("diagnoses",), "at least one diagnosis is needed")
    ]
    assert named(dataclasses.replace(claim, diagnoses=("C34.1",) * 51)) == [
        ("out_of_range", ("diagnoses",), "51 diagnoses; at most 50 are allowed")
    ]
    assert named(dataclasses.replace(claim, diagnoses=("C34.1", "肺癌"))) == [
        ("invalid_diagnosis", ("diagnoses", 1), "'肺癌' is not an ICD-10 code (like C34 or C34.1)")
    ]
    assert named(dataclasses.replace(claim, lines=())) == [
        ("no_lines", ("items",), "the claim has no lines")
    ]
    assert named(claim, year=2017) == [("accumulators_year_mismatch", ("accumulators", "year"),
                                        "accumulators are for 2017; the claim's policy year is 2018")]  # fmt: skip
    assert named(claim, level=4) == [
        ("unknown_hospital_level", ("hospital_level",), "hospital level 4 is not 1, 2 or 3")
    ]


def test_a_claim_at_its_limits_settles(book: TariffBook) -> None:
    """Admitted on the day of birth, with 50 diagnoses: both within the limits."""
    newborn = dataclasses.replace(person(), birth_date=date(2018, 3, 1))
    diagnosed = dataclasses.replace(example_claim(), diagnoses=("C34.1",) * 50)
    for claim, who in ((example_claim(), newborn), (diagnosed, person())):
        result = settle(claim, who, 3, Accumulators(year=2018), book)
        assert isinstance(result, Settlement), result


# ---------------------------------------------------------------- rule findings


def r1_settled(book: TariffBook, *extra: ClaimLine) -> Settlement:
    """R1, with `extra` lines after its own."""
    claim = r1_claim()
    claim = dataclasses.replace(claim, lines=(*claim.lines, *extra))
    result = settle(claim, r1_person(), 2, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result
    return result


def test_every_r1_finding_reads_the_same_in_english_and_chinese(book: TariffBook) -> None:
    found = [(f.message, f.message_zh) for f in r1_settled(book).findings]
    assert found == [
        ("line 1: S0001 普通病房床位费 is billed at most once per inpatient day; the stay has 5 "
         "days, 5 left for this code: quantity 7 → 5, 90.00 refused",
         "第1行 S0001 普通病房床位费 每住院日限1次，住院5天，本项目剩余5：数量 7 → 5，90.00 元不予支付"),
        ("line 2: G0002 宫颈细胞学检查 is for female patients only; the patient is male: "
         "quantity 1 → 0, 120.00 refused",
         "第2行 G0002 宫颈细胞学检查 限女性使用，患者为男性：数量 1 → 0，120.00 元不予支付"),
        ("line 3: P0002 老年综合评估 is for ages 60 and over; the patient was 59 at admission: "
         "quantity 1 → 0, 80.00 refused",
         "第3行 P0002 老年综合评估 限60周岁及以上使用，患者入院时59周岁：数量 1 → 0，80.00 元不予支付"),
        ("line 4: M0001 一次性使用吻合器 is limited to 3 per admission, 3 left for this code: "
         "quantity 5 → 3, 3000.00 refused",
         "第4行 M0001 一次性使用吻合器 每次住院限3，本项目剩余3：数量 5 → 3，3000.00 元不予支付"),
        ("line 5: S0001 普通病房床位费 is billed at most once per inpatient day; the stay has 5 "
         "days, 0 left for this code: quantity 1 → 0, 40.00 refused",
         "第5行 S0001 普通病房床位费 每住院日限1次，住院5天，本项目剩余0：数量 1 → 0，40.00 元不予支付"),
    ]  # fmt: skip


def test_an_item_for_ages_up_to_a_limit_names_its_range(book: TariffBook) -> None:
    """P0001 (newborn hearing screening) is for ages up to 0; R1's patient is 59."""
    screening = line(7, "P0001", "1", "60.00", "60.00")
    settlement = r1_settled(book, screening)
    (finding,) = [f for f in settlement.findings if f.line_no == 7]
    assert (finding.message, finding.message_zh) == (
        "line 7: P0001 新生儿听力筛查 is for ages up to 0; the patient was 59 at admission: "
        "quantity 1 → 0, 60.00 refused",
        "第7行 P0001 新生儿听力筛查 限0周岁及以下使用，患者入院时59周岁：数量 1 → 0，60.00 元不予支付",
    )


def test_a_warning_for_a_patient_of_unknown_gender_reads_in_both_languages(
    book: TariffBook,
) -> None:
    unknown = dataclasses.replace(r1_person(), gender=Gender.UNKNOWN)
    result = settle(r1_claim(), unknown, 2, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result
    (warning,) = [f for f in result.findings if f.action is FindingAction.WARNING]
    assert (warning.message, warning.message_zh) == (
        "line 2: G0002 宫颈细胞学检查 is for female patients only; the patient's gender is "
        "unknown: paid, to be reviewed",
        "第2行 G0002 宫颈细胞学检查 限女性使用，患者性别未知：予以支付，请复核",
    )


# ---------------------------------------------------------------- fund explanations


def explained(settlement: Settlement) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(step.fund.value, step.explanation, step.explanation_zh) for step in settlement.funds]


def test_e2_explains_every_fund_to_the_exact_amount_in_english_and_chinese(
    e2: Settlement,
) -> None:
    """Exact intermediate amounts keep every decimal they have (12184.315, 3178.6375); the
    charity reason, a phrase inside a sentence, is translated with it."""
    assert explained(e2) == [
        ("basic_insurance", (
            "level-3 hospital: deductible (起付线) 900.00, rate 0.60",
            "dibao tilt: deductible × 0.50, rate + 0.05 = 0.65",
            "in scope 19195.10 − deductible 450.00 = 18745.10 × 0.65 = 12184.315 → 12184.32",
            "annual cap 150000.00, paid this year 0.00, left 150000.00: pays 12184.32",
        ), (
            "3级医院：起付线 900.00，报销比例 0.60",
            "低保对象倾斜：起付线 × 0.50，报销比例 + 0.05 = 0.65",
            "政策范围内 19195.10 − 起付线 450.00 = 18745.10 × 0.65 = 12184.315 → 12184.32",
            "年度最高支付限额 150000.00，本年已支付 0.00，剩余 150000.00：支付 12184.32",
        )),
        ("critical_illness", (
            "base 7010.78 (in scope left after basic insurance); annual deductible 5000.00; "
            "year's base before this claim 0.00",
            "dibao tilt: deductible × 0.50, every band's rate + 0.05",
            "above the deductible line this year: 0.00 → 2010.78, this claim 2010.78",
            "band [0.00, 50000.00): 2010.78 × 0.55",
            "exact 1105.929 → 1105.93",
            "no annual cap for dibao: pays 1105.93",
        ), (
            "基数 7010.78（基本医保支付后的政策范围内自付）；年度起付线 5000.00；本次之前年度累计 0.00",
            "低保对象倾斜：起付线 × 0.50，各段报销比例 + 0.05",
            "本年起付线以上累计：0.00 → 2010.78，本次 2010.78",
            "分段 [0.00, 50000.00)：2010.78 × 0.55",
            "精确值 1105.929 → 1105.93",
            "低保对象不设封顶线：支付 1105.93",
        )),
        ("medical_assistance", (
            "dibao: below the critical-illness deductible line 5000.00 × 0.50 + above it, left "
            "by critical illness, 904.85 × 0.75 = 3178.6375 → 3178.64",
            "annual cap 30000.00, paid this year 0.00, left 30000.00: pays 3178.64",
        ), (
            "低保对象：大病保险起付线以下 5000.00 × 0.50 + 起付线以上大病保险支付后剩余 904.85 × 0.75 "
            "= 3178.6375 → 3178.64",
            "年度最高支付限额 30000.00，本年已支付 0.00，剩余 30000.00：支付 3178.64",
        )),
        ("charity", (
            "listed disease 肺癌 (lung cancer), diagnosis C34.1: the in-scope remainder 2726.21 "
            "is free (政策范围内费用全部免费)",
            "no charity cap: pays 2726.21",
        ), (
            "救助病种 肺癌（lung cancer），诊断 C34.1：政策范围内剩余 2726.21 全部免费",
            "慈善救助不设限额：支付 2726.21",
        )),
        ("health_fund", (
            "no health fund under tariff 220000-2018: pays 0.00",
        ), (
            "政策 220000-2018 未设健康扶贫基金：支付 0.00",
        )),
    ]  # fmt: skip


# ---------------------------------------------------------------- numbers as words


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0.00"), (5, "0.05"), (-5, "-0.05"), (-1205, "-12.05"), (123456, "1234.56")],
)
def test_fen_are_written_as_yuan_with_their_sign(fen: int, text: str) -> None:
    assert format_fen(fen) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("12184.315", "12184.315"),  # every decimal kept
        ("3178.6375", "3178.6375"),
        ("0.000001", "0.000001"),
        ("10977.06", "10977.06"),
        ("1234.5", "1234.50"),  # at least two decimals
        ("12345", "12345.00"),
        ("100", "100.00"),
        ("1200", "1200.00"),  # never in exponent form (1.2E+3)
        ("0", "0.00"),
    ],
)
def test_an_exact_amount_keeps_its_decimals_and_at_least_two(value: str, text: str) -> None:
    """The amount as the engine holds it: yuan × 100 fen × SCALE, an integer."""
    numerator = int(Decimal(value).scaleb(2) * SCALE)
    assert format_exact(numerator, SCALE) == text


@pytest.mark.parametrize(
    ("ppm", "text"), [(600_000, "0.60"), (1_000_000, "1.00"), (55_000, "0.055"), (1, "0.000001")]
)
def test_a_rate_is_written_with_two_to_six_decimals(ppm: int, text: str) -> None:
    assert format_ppm(ppm) == text


@pytest.mark.parametrize(
    ("units", "text"), [(110_000, "11"), (5_000, "0.5"), (12_345, "1.2345"), (100_000, "10")]
)
def test_a_quantity_is_written_as_the_claim_writes_it(units: int, text: str) -> None:
    assert format_quantity(units) == text
