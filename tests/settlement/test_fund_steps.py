"""Every fund's step of the worked examples, as `setldetail` and the slip show it: the fund code,
what the fund looked at (base), what its rules give (payable), what was left of its cap, what it
paid, and its explanation in English and Chinese, to the character.

`make mutate` (docs/mutation.md) found these read only through what each fund paid: a step that
did not pay could carry a wrong fund code, base or reason (a later admission's halved
deductible, a group without assistance rates, a health-fund refusal) unnoticed. The figures are
the engine's own for the examples of SETTLEMENT_RULES.md, whose payments the worked-example
tests check by hand; this pins the rest of each step.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from settlement.engine import settle
from settlement.model import Accumulators, Claim, Group, Person
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import (
    example_claim,
    h1_claim,
    h1_person,
    person,
    x1_claim,
    x1_person,
)

Step = tuple[str, str, int, int, int | None, int, tuple[str, ...], tuple[str, ...]]

CASES: dict[str, tuple[Claim, Person, int, Accumulators, str | None]] = {
    "e1": (example_claim(), person(), 3, Accumulators(year=2018), None),
    "e2 after an earlier admission": (
        example_claim(),
        person(Group.DIBAO, valid_from=date(2017, 1, 1)),
        3,
        Accumulators(year=2018, admissions=1),
        None,
    ),
    "h1": (h1_claim(), h1_person(), 2, Accumulators(year=2019), None),
    "h1 without a group": (
        h1_claim(),
        dataclasses.replace(h1_person(), statuses=()),
        2,
        Accumulators(year=2019),
        None,
    ),
    "x1": (x1_claim(), x1_person(), 3, Accumulators(year=2018), "210000"),
}

STEPS: dict[str, list[Step]] = {
    "e1": [
        (
            "basic_insurance",
            "390100",
            1919510,
            1097706,
            15000000,
            1097706,
            (
                "level-3 hospital: deductible (起付线) 900.00, rate 0.60",
                "in scope 19195.10 − deductible 900.00 = 18295.10 × 0.60 = 10977.06 → 10977.06",
                "annual cap 150000.00, paid this year 0.00, left 150000.00: pays 10977.06",
            ),
            (
                "3级医院：起付线 900.00，报销比例 0.60",
                "政策范围内 19195.10 − 起付线 900.00 = 18295.10 × 0.60 = 10977.06 → 10977.06",
                "年度最高支付限额 150000.00，本年已支付 0.00，剩余 150000.00：支付 10977.06",
            ),
        ),
        (
            "critical_illness",
            "390200",
            821804,
            0,
            30000000,
            0,
            (
                "base 8218.04 (in scope left after basic insurance); annual deductible 10000.00; "
                "year's base before this claim 0.00",
                "above the deductible line this year: 0.00 → 0.00, this claim 0.00",
                "exact 0.00 → 0.00",
                "annual cap 300000.00, paid this year 0.00, left 300000.00: pays 0.00",
            ),
            (
                "基数 8218.04（基本医保支付后的政策范围内自付）；年度起付线 10000.00；本次之前年度累计 0.00",
                "本年起付线以上累计：0.00 → 0.00，本次 0.00",
                "精确值 0.00 → 0.00",
                "年度最高支付限额 300000.00，本年已支付 0.00，剩余 300000.00：支付 0.00",
            ),
        ),
        (
            "medical_assistance",
            "610100",
            821804,
            0,
            None,
            0,
            ("no assistance group: pays 0.00",),
            ("非救助对象：支付 0.00",),
        ),
        (
            "charity",
            "999997",
            821804,
            0,
            None,
            0,
            ("not in a charity group: pays 0.00",),
            ("非慈善救助对象：支付 0.00",),
        ),
        (
            "health_fund",
            "610103",
            821804,
            0,
            None,
            0,
            ("no health fund under tariff 220000-2018: pays 0.00",),
            ("政策 220000-2018 未设健康扶贫基金：支付 0.00",),
        ),
    ],
    "e2 after an earlier admission": [
        (
            "basic_insurance",
            "390100",
            1919510,
            1233057,
            15000000,
            1233057,
            (
                "level-3 hospital: deductible (起付线) 900.00, rate 0.60",
                "dibao tilt: deductible × 0.50, rate + 0.05 = 0.65",
                "later admission of 2018 (1 before): deductible × 0.50",
                "in scope 19195.10 − deductible 225.00 = 18970.10 × 0.65 = 12330.565 → 12330.57",
                "annual cap 150000.00, paid this year 0.00, left 150000.00: pays 12330.57",
            ),
            (
                "3级医院：起付线 900.00，报销比例 0.60",
                "低保对象倾斜：起付线 × 0.50，报销比例 + 0.05 = 0.65",
                "2018年度内再次住院（此前 1 次）：起付线 × 0.50",
                "政策范围内 19195.10 − 起付线 225.00 = 18970.10 × 0.65 = 12330.565 → 12330.57",
                "年度最高支付限额 150000.00，本年已支付 0.00，剩余 150000.00：支付 12330.57",
            ),
        ),
        (
            "critical_illness",
            "390200",
            686453,
            102549,
            None,
            102549,
            (
                "base 6864.53 (in scope left after basic insurance); "
                "annual deductible 5000.00; year's base before this "
                "claim 0.00",
                "dibao tilt: deductible × 0.50, every band's rate + 0.05",
                "above the deductible line this year: 0.00 → 1864.53, this claim 1864.53",
                "band [0.00, 50000.00): 1864.53 × 0.55",
                "exact 1025.4915 → 1025.49",
                "no annual cap for dibao: pays 1025.49",
            ),
            (
                "基数 6864.53（基本医保支付后的政策范围内自付）；年度起付线 5000.00；本次之前年度累计 0.00",
                "低保对象倾斜：起付线 × 0.50，各段报销比例 + 0.05",
                "本年起付线以上累计：0.00 → 1864.53，本次 1864.53",
                "分段 [0.00, 50000.00)：1864.53 × 0.55",
                "精确值 1025.4915 → 1025.49",
                "低保对象不设封顶线：支付 1025.49",
            ),
        ),
        (
            "medical_assistance",
            "610100",
            583904,
            312928,
            3000000,
            312928,
            (
                "dibao: below the critical-illness deductible line "
                "5000.00 × 0.50 + above it, left by critical illness, "
                "839.04 × 0.75 = 3129.28 → 3129.28",
                "annual cap 30000.00, paid this year 0.00, left 30000.00: pays 3129.28",
            ),
            (
                "低保对象：大病保险起付线以下 5000.00 × 0.50 + 起付线以上大病保险支付后剩余 839.04 × "
                "0.75 = 3129.28 → 3129.28",
                "年度最高支付限额 30000.00，本年已支付 0.00，剩余 30000.00：支付 3129.28",
            ),
        ),
        (
            "charity",
            "999997",
            270976,
            270976,
            None,
            270976,
            (
                "listed disease 肺癌 (lung cancer), diagnosis C34.1: the "
                "in-scope remainder 2709.76 is free (政策范围内费用全部免费)",
                "no charity cap: pays 2709.76",
            ),
            (
                "救助病种 肺癌（lung cancer），诊断 C34.1：政策范围内剩余 2709.76 全部免费",
                "慈善救助不设限额：支付 2709.76",
            ),
        ),
        (
            "health_fund",
            "610103",
            0,
            0,
            None,
            0,
            ("no health fund under tariff 220000-2018: pays 0.00",),
            ("政策 220000-2018 未设健康扶贫基金：支付 0.00",),
        ),
    ],
    "h1": [
        (
            "basic_insurance",
            "390100",
            285880,
            208704,
            15000000,
            208704,
            (
                "level-2 hospital: deductible (起付线) 500.00, rate 0.75",
                "registered_poor tilt: deductible × 0.50, rate + 0.05 = 0.80",
                "in scope 2858.80 − deductible 250.00 = 2608.80 × 0.80 = 2087.04 → 2087.04",
                "annual cap 150000.00, paid this year 0.00, left 150000.00: pays 2087.04",
            ),
            (
                "2级医院：起付线 500.00，报销比例 0.75",
                "建档立卡贫困人口倾斜：起付线 × 0.50，报销比例 + 0.05 = 0.80",
                "政策范围内 2858.80 − 起付线 250.00 = 2608.80 × 0.80 = 2087.04 → 2087.04",
                "年度最高支付限额 150000.00，本年已支付 0.00，剩余 150000.00：支付 2087.04",
            ),
        ),
        (
            "critical_illness",
            "390200",
            77176,
            0,
            None,
            0,
            (
                "base 771.76 (in scope left after basic insurance); annual deductible 5000.00; "
                "year's base before this claim 0.00",
                "registered_poor tilt: deductible × 0.50, every band's rate + 0.05",
                "above the deductible line this year: 0.00 → 0.00, this claim 0.00",
                "exact 0.00 → 0.00",
                "no annual cap for registered_poor: pays 0.00",
            ),
            (
                "基数 771.76（基本医保支付后的政策范围内自付）；年度起付线 5000.00；本次之前年度累计 0.00",
                "建档立卡贫困人口倾斜：起付线 × 0.50，各段报销比例 + 0.05",
                "本年起付线以上累计：0.00 → 0.00，本次 0.00",
                "精确值 0.00 → 0.00",
                "建档立卡贫困人口不设封顶线：支付 0.00",
            ),
        ),
        (
            "medical_assistance",
            "610100",
            77176,
            38588,
            3000000,
            38588,
            (
                "registered_poor: below the critical-illness deductible line 771.76 × 0.50 + above "
                "it, left by critical illness, 0.00 × 0.70 = 385.88 → 385.88",
                "annual cap 30000.00, paid this year 0.00, left 30000.00: pays 385.88",
            ),
            (
                "建档立卡贫困人口：大病保险起付线以下 771.76 × 0.50 + 起付线以上大病保险支付后剩余 "
                "0.00 × 0.70 = 385.88 → 385.88",
                "年度最高支付限额 30000.00，本年已支付 0.00，剩余 30000.00：支付 385.88",
            ),
        ),
        (
            "charity",
            "999997",
            38588,
            0,
            None,
            0,
            ("primary diagnosis K80.1 is not a listed disease: pays 0.00",),
            ("主要诊断 K80.1 不属于救助病种：支付 0.00",),
        ),
        (
            "health_fund",
            "610103",
            38588,
            10000,
            None,
            10000,
            (
                "in scope left 385.88 − patient's share at most 2858.80 × 0.10 = 285.88 → 100.00",
                "no annual cap: pays 100.00",
            ),
            (
                "政策范围内剩余 385.88 − 个人自付上限 2858.80 × 0.10 = 285.88 → 100.00",
                "不设年度限额：支付 100.00",
            ),
        ),
    ],
    "h1 without a group": [
        (
            "basic_insurance",
            "390100",
            285880,
            176910,
            15000000,
            176910,
            (
                "level-2 hospital: deductible (起付线) 500.00, rate 0.75",
                "in scope 2858.80 − deductible 500.00 = 2358.80 × 0.75 = 1769.10 → 1769.10",
                "annual cap 150000.00, paid this year 0.00, left 150000.00: pays 1769.10",
            ),
            (
                "2级医院：起付线 500.00，报销比例 0.75",
                "政策范围内 2858.80 − 起付线 500.00 = 2358.80 × 0.75 = 1769.10 → 1769.10",
                "年度最高支付限额 150000.00，本年已支付 0.00，剩余 150000.00：支付 1769.10",
            ),
        ),
        (
            "critical_illness",
            "390200",
            108970,
            0,
            30000000,
            0,
            (
                "base 1089.70 (in scope left after basic insurance); annual "
                "deductible 10000.00; year's base before this claim 0.00",
                "above the deductible line this year: 0.00 → 0.00, this claim 0.00",
                "exact 0.00 → 0.00",
                "annual cap 300000.00, paid this year 0.00, left 300000.00: pays 0.00",
            ),
            (
                "基数 1089.70（基本医保支付后的政策范围内自付）；年度起付线 10000.00；本次之前年度累计 0.00",
                "本年起付线以上累计：0.00 → 0.00，本次 0.00",
                "精确值 0.00 → 0.00",
                "年度最高支付限额 300000.00，本年已支付 0.00，剩余 300000.00：支付 0.00",
            ),
        ),
        (
            "medical_assistance",
            "610100",
            108970,
            0,
            None,
            0,
            ("no assistance group: pays 0.00",),
            ("非救助对象：支付 0.00",),
        ),
        (
            "charity",
            "999997",
            108970,
            0,
            None,
            0,
            ("not in a charity group: pays 0.00",),
            ("非慈善救助对象：支付 0.00",),
        ),
        (
            "health_fund",
            "610103",
            108970,
            0,
            None,
            0,
            ("not eligible: no assistance group: pays 0.00",),
            ("不符合条件：非救助对象：支付 0.00",),
        ),
    ],
    "x1": [
        (
            "basic_insurance",
            "390100",
            1999370,
            1074904,
            15000000,
            1074904,
            (
                "level-3 hospital: deductible (起付线) 900.00, rate 0.60",
                "dibao tilt: deductible × 0.50, rate + 0.05 = 0.65",
                "cross-region claim, filing referral: rate − 0.10 = 0.55",
                "in scope 19993.70 − deductible 450.00 = 19543.70 × 0.55 = 10749.035 → 10749.04",
                "annual cap 150000.00, paid this year 0.00, left 150000.00: pays 10749.04",
            ),
            (
                "3级医院：起付线 900.00，报销比例 0.60",
                "低保对象倾斜：起付线 × 0.50，报销比例 + 0.05 = 0.65",
                "异地就医（转诊转院）：报销比例 − 0.10 = 0.55",
                "政策范围内 19993.70 − 起付线 450.00 = 19543.70 × 0.55 = 10749.035 → 10749.04",
                "年度最高支付限额 150000.00，本年已支付 0.00，剩余 150000.00：支付 10749.04",
            ),
        ),
        (
            "critical_illness",
            "390200",
            924466,
            233456,
            None,
            233456,
            (
                "base 9244.66 (in scope left after basic insurance); annual deductible 5000.00; "
                "year's base before this claim 0.00",
                "dibao tilt: deductible × 0.50, every band's rate + 0.05",
                "above the deductible line this year: 0.00 → 4244.66, this claim 4244.66",
                "band [0.00, 50000.00): 4244.66 × 0.55",
                "exact 2334.563 → 2334.56",
                "no annual cap for dibao: pays 2334.56",
            ),
            (
                "基数 9244.66（基本医保支付后的政策范围内自付）；年度起付线 5000.00；本次之前年度累计 0.00",
                "低保对象倾斜：起付线 × 0.50，各段报销比例 + 0.05",
                "本年起付线以上累计：0.00 → 4244.66，本次 4244.66",
                "分段 [0.00, 50000.00)：4244.66 × 0.55",
                "精确值 2334.563 → 2334.56",
                "低保对象不设封顶线：支付 2334.56",
            ),
        ),
        (
            "medical_assistance",
            "610100",
            691010,
            393258,
            3000000,
            393258,
            (
                "dibao: below the critical-illness deductible line 5000.00 × 0.50 + above it, left "
                "by critical illness, 1910.10 × 0.75 = 3932.575 → 3932.58",
                "annual cap 30000.00, paid this year 0.00, left 30000.00: pays 3932.58",
            ),
            (
                "低保对象：大病保险起付线以下 5000.00 × 0.50 + 起付线以上大病保险支付后剩余 "
                "1910.10 × 0.75 = 3932.575 → 3932.58",
                "年度最高支付限额 30000.00，本年已支付 0.00，剩余 30000.00：支付 3932.58",
            ),
        ),
        (
            "charity",
            "999997",
            297752,
            297752,
            None,
            297752,
            (
                "listed disease 肺癌 (lung cancer), diagnosis C34.1: the in-scope remainder 2977.52 "
                "is free (政策范围内费用全部免费)",
                "no charity cap: pays 2977.52",
            ),
            (
                "救助病种 肺癌（lung cancer），诊断 C34.1：政策范围内剩余 2977.52 全部免费",
                "慈善救助不设限额：支付 2977.52",
            ),
        ),
        (
            "health_fund",
            "610103",
            0,
            0,
            None,
            0,
            ("no health fund under tariff 220000-2018: pays 0.00",),
            ("政策 220000-2018 未设健康扶贫基金：支付 0.00",),
        ),
    ],
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_funds_step_reads_as_setldetail_and_the_slip_show_it(
    book: TariffBook, case: str
) -> None:
    claim, who, level, before, hospital_region = CASES[case]
    result = settle(claim, who, level, before, book, hospital_region)
    assert isinstance(result, Settlement), result
    steps = [
        (
            step.fund.value,
            step.fund_code,
            step.base_fen,
            step.payable_fen,
            step.cap_remaining_fen,
            step.paid_fen,
            step.explanation,
            step.explanation_zh,
        )
        for step in result.funds
    ]
    assert steps == STEPS[case]
