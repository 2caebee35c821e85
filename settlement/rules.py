"""Rule checks before step 1 (rules §14, 合理性审核): how much of each line may be paid at all.

Catalog items may carry rule data (`ItemRules`): a gender (R01 超性别), an age range (R02
超年龄), once per inpatient day (R03 超住院天数), a most quantity per admission (R04 超限量).
Lines are checked in line-number order and, on each line, the rules in order R01–R04; a line's
allowed quantity starts at its billed quantity and each rule that lowers it gives one finding.
The part of the amount above the allowed quantity is refused (违规自付, the patient's); the rest
goes through step 1 as if billed with the allowed quantity. A claim is never rejected here.

Quantities are integer ten-thousandths and unit prices integer millionths of a yuan, as step 1
holds them, so every amount below is exact integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Final, NamedTuple

from settlement.model import Gender, Person
from settlement.money import (
    MONEY_DECIMALS,
    QUANTITY_DECIMALS,
    UNIT_PRICE_DECIMALS,
    format_fen,
    round_half_up_div,
)
from settlement.result import Finding, FindingAction, Rule
from settlement.tariff import CatalogItem, ItemRules

QUANTITY_UNIT: Final[int] = 10**QUANTITY_DECIMALS
"""One unit of quantity ("1") in the ten-thousandths rule data and step 1 count in."""
_TO_FEN: Final[int] = 10 ** (QUANTITY_DECIMALS + UNIT_PRICE_DECIMALS - MONEY_DECIMALS)

_GENDER_ZH: Final[dict[Gender, str]] = {
    Gender.MALE: "男性",
    Gender.FEMALE: "女性",
    Gender.UNKNOWN: "性别未知",
}


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What the checks know of the patient and the stay."""

    gender: Gender
    age: int
    """Whole years at admission (周岁)."""
    days: int
    """Inpatient days: discharge − admission, at least 1."""

    @classmethod
    def of(cls, person: Person, admission: date, discharge: date) -> RuleContext:
        return cls(
            gender=person.gender,
            age=person.age_on(admission),
            days=max(1, (discharge - admission).days),
        )


def amount_fen(quantity_units: int, price_micro: int) -> int:
    """round(quantity × unit price), half up, from the integer units step 1 holds."""
    return round_half_up_div(quantity_units * price_micro, _TO_FEN)


def format_quantity(units: int) -> str:
    """A quantity in ten-thousandths as the claim writes it ("11", "0.5")."""
    text = format(Decimal(units).scaleb(-QUANTITY_DECIMALS), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Checker:
    """The allowances of one claim, spent line by line in line-number order."""

    __slots__ = ("context", "findings", "max_left", "per_day_left")

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        self.per_day_left: dict[str, int] = {}
        self.max_left: dict[str, int] = {}
        self.findings: list[Finding] = []

    def allowed(
        self, line_no: int, item: CatalogItem, rules: ItemRules, quantity: int, price: int
    ) -> int:
        """The line's allowed quantity after R01–R04; records a finding for each rule that acts."""
        context = self.context
        allowed = quantity
        where = f"line {line_no}: {item.code} {item.name}"
        where_zh = f"第{line_no}行 {item.code} {item.name}"
        if rules.gender is not None:
            if context.gender is Gender.UNKNOWN:
                self._warn(
                    Rule.R01,
                    line_no,
                    f"{where} is for {rules.gender} patients only; the patient's gender is "
                    "unknown: paid, to be reviewed",
                    f"{where_zh} 限{_GENDER_ZH[rules.gender]}使用，患者性别未知：予以支付，请复核",
                )
            elif context.gender is not rules.gender and allowed > 0:
                allowed = self._lower(
                    Rule.R01,
                    line_no,
                    allowed,
                    0,
                    price,
                    f"{where} is for {rules.gender} patients only; the patient is {context.gender}",
                    f"{where_zh} 限{_GENDER_ZH[rules.gender]}使用，患者为"
                    f"{_GENDER_ZH[context.gender]}",
                )
        too_young = rules.age_min is not None and context.age < rules.age_min
        too_old = rules.age_max is not None and context.age > rules.age_max
        if (too_young or too_old) and allowed > 0:
            ages = _age_range(rules)
            allowed = self._lower(
                Rule.R02,
                line_no,
                allowed,
                0,
                price,
                f"{where} is for ages {ages[0]}; the patient was {context.age} at admission",
                f"{where_zh} 限{ages[1]}使用，患者入院时{context.age}周岁",
            )
        days_units = context.days * QUANTITY_UNIT
        if rules.per_day:
            left = self.per_day_left.get(item.code, days_units)
            if allowed > left:
                allowed = self._lower(
                    Rule.R03,
                    line_no,
                    allowed,
                    left,
                    price,
                    f"{where} is billed at most once per inpatient day; the stay has "
                    f"{context.days} days, {format_quantity(left)} left for this code",
                    f"{where_zh} 每住院日限1次，住院{context.days}天，本项目剩余"
                    f"{format_quantity(left)}",
                )
        if rules.max_quantity_units is not None:
            left = self.max_left.get(item.code, rules.max_quantity_units)
            if allowed > left:
                most = format_quantity(rules.max_quantity_units)
                allowed = self._lower(
                    Rule.R04,
                    line_no,
                    allowed,
                    left,
                    price,
                    f"{where} is limited to {most} per admission, {format_quantity(left)} left "
                    "for this code",
                    f"{where_zh} 每次住院限{most}，本项目剩余{format_quantity(left)}",
                )
        if rules.per_day:
            self.per_day_left[item.code] = self.per_day_left.get(item.code, days_units) - allowed
        if rules.max_quantity_units is not None:
            self.max_left[item.code] = (
                self.max_left.get(item.code, rules.max_quantity_units) - allowed
            )
        return allowed

    def _lower(
        self, rule: Rule, line_no: int, before: int, after: int, price: int, why: str, why_zh: str
    ) -> int:
        refused_fen = amount_fen(before, price) - amount_fen(after, price)
        q1, q2 = format_quantity(before), format_quantity(after)
        self.findings.append(
            Finding(
                rule=rule,
                line_no=line_no,
                action=FindingAction.REFUSED,
                amount_fen=refused_fen,
                message=f"{why}: quantity {q1} → {q2}, {format_fen(refused_fen)} refused",
                message_zh=f"{why_zh}：数量 {q1} → {q2}，{format_fen(refused_fen)} 元不予支付",
            )
        )
        return after

    def _warn(self, rule: Rule, line_no: int, message: str, message_zh: str) -> None:
        self.findings.append(Finding(rule, line_no, FindingAction.WARNING, 0, message, message_zh))


def _age_range(rules: ItemRules) -> tuple[str, str]:
    if rules.age_min is None:
        return f"up to {rules.age_max}", f"{rules.age_max}周岁及以下"
    if rules.age_max is None:
        return f"{rules.age_min} and over", f"{rules.age_min}周岁及以上"
    return f"{rules.age_min} to {rules.age_max}", f"{rules.age_min}至{rules.age_max}周岁"


class RuledLine(NamedTuple):
    """A line whose item carries rule data, with the numbers step 1 checked."""

    line_no: int
    position: int
    """The line's place in the claim (and in step 1's columns)."""
    item: CatalogItem
    quantity_units: int
    price_micro: int


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """The checks' result: the lines a rule lowered, and every finding."""

    allowed: Mapping[int, tuple[int, int]]
    """(allowed quantity in ten-thousandths, unit price in millionths) by the line's index in
    the claim, where the allowed quantity is less than billed; a line not here is paid on its
    whole quantity."""
    findings: tuple[Finding, ...]


def check_rules(ruled: list[RuledLine], context: RuleContext) -> RuleOutcome:
    """Run R01–R04 over the lines whose items carry rule data, in line-number order."""
    checker = _Checker(context)
    allowed: dict[int, tuple[int, int]] = {}
    for line_no, position, item, quantity, price in sorted(ruled, key=attrgetter("line_no")):
        rules = item.rules
        assert rules is not None, item
        kept = checker.allowed(line_no, item, rules, quantity, price)
        if kept < quantity:
            allowed[position] = (kept, price)
    return RuleOutcome(allowed, tuple(checker.findings))
