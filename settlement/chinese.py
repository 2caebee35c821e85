"""The Chinese of every explanation sentence, for the printed slip (结算单).

Stages write their explanation as English templates with exact arguments (`result.Sentence`);
`result.render_zh` renders the same arguments through the translations here. Every template a
stage writes must appear below: a missing one raises, and the tests render every stage's
sentences on generated claims. Group, filing and fund names are translated as arguments.
"""

from __future__ import annotations

from typing import Final

TEMPLATES_ZH: Final[dict[str, str]] = {
    # A step read back from storage holds each line as "{}" with its text.
    "{}": "{}",
    # Basic insurance (§5, §12).
    "level-{} hospital: deductible (起付线) {}, rate {}": "{}级医院：起付线 {}，报销比例 {}",
    "{} tilt: deductible × {}, rate + {} = {}": "{}倾斜：起付线 × {}，报销比例 + {} = {}",
    "later admission of {} ({} before): deductible × {}": (
        "{}年度内再次住院（此前 {} 次）：起付线 × {}"
    ),
    "cross-region claim, filing {}: rate − {} = {}": "异地就医（{}）：报销比例 − {} = {}",
    "in scope {} − deductible {} = {} × {} = {} → {}": (
        "政策范围内 {} − 起付线 {} = {} × {} = {} → {}"
    ),
    "annual cap {}, paid this year {}, left {}: pays {}": (
        "年度最高支付限额 {}，本年已支付 {}，剩余 {}：支付 {}"
    ),
    # Critical illness (§6).
    "base {} (in scope left after basic insurance); annual deductible {}; "
    "year's base before this claim {}": (
        "基数 {}（基本医保支付后的政策范围内自付）；年度起付线 {}；本次之前年度累计 {}"
    ),
    "{} tilt: deductible × {}, every band's rate + {}": "{}倾斜：起付线 × {}，各段报销比例 + {}",
    "above the deductible line this year: {} → {}, this claim {}": (
        "本年起付线以上累计：{} → {}，本次 {}"
    ),
    "band [{}, {}): {} × {}": "分段 [{}, {})：{} × {}",
    "exact {} → {}": "精确值 {} → {}",
    "no annual cap for {}: pays {}": "{}不设封顶线：支付 {}",
    # Medical assistance (§7).
    "no assistance group: pays 0.00": "非救助对象：支付 0.00",
    "{} has no assistance rates: pays 0.00": "{}无救助比例：支付 0.00",
    "{}: below the critical-illness deductible line {} × {} + above it, left by "
    "critical illness, {} × {} = {} → {}": (
        "{}：大病保险起付线以下 {} × {} + 起付线以上大病保险支付后剩余 {} × {} = {} → {}"
    ),
    "no annual cap: pays {}": "不设年度限额：支付 {}",
    # Charity (§8), with the reasons it is given as phrases.
    "{}: pays 0.00": "{}：支付 0.00",
    "listed disease {}: the in-scope remainder {} is free (政策范围内费用全部免费)": (
        "救助病种 {}：政策范围内剩余 {} 全部免费"
    ),
    "no charity cap: pays {}": "慈善救助不设限额：支付 {}",
    "charity cap left {}: pays {}": "慈善救助限额剩余 {}：支付 {}",
    "not in a charity group": "非慈善救助对象",
    "primary diagnosis {} is not a listed disease": "主要诊断 {} 不属于救助病种",
    "{} is covered only when treated by surgery": "{}仅限手术治疗",
    "{} is covered up to age {}; age at admission {}": "{}限 {} 周岁及以下；入院时 {} 周岁",
    "{} ({}), diagnosis {}": "{}（{}），诊断 {}",
    # Health poverty fund (§13).
    "no health fund under tariff {}: pays 0.00": "政策 {} 未设健康扶贫基金：支付 0.00",
    "not eligible: {}: pays 0.00": "不符合条件：{}：支付 0.00",
    "no assistance group": "非救助对象",
    "group {} is not covered": "{}不在保障范围",
    "level-{} hospital is not covered": "{}级医院不在保障范围",
    "cross-region claim": "异地就医",
    "in scope left {} − patient's share at most {} × {} = {} → {}": (
        "政策范围内剩余 {} − 个人自付上限 {} × {} = {} → {}"
    ),
}

NAMES_ZH: Final[dict[str, str]] = {
    "destitute": "特困供养人员",
    "dibao": "低保对象",
    "registered_poor": "建档立卡贫困人口",
    "resident": "异地长期居住",
    "referral": "转诊转院",
    "emergency": "急诊抢救",
    "temporary": "其他临时外出就医",
}
