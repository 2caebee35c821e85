"""The engine's answer: the itemized bill with every line's split and every fund's steps.

Amounts are stored as integer fen (fields ending in `_fen`) and read as CNY `Money` through
same-named attributes without the suffix (`line.basic_insurance`), built only when asked for:
a 1,000-line bill would otherwise build tens of thousands of `Money` objects nobody reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, overload

from moneyed import Money

from settlement.chinese import NAMES_ZH, TEMPLATES_ZH
from settlement.model import Accumulators, AccumulatorsFen, Filing, Fund, Group, ItemClass
from settlement.money import SCALE, fen_to_money, format_exact, format_fen, format_ppm


class FenAsMoney:
    """Descriptor exposing the integer-fen field `<name>_fen` as `Money` under `<name>`."""

    __slots__ = ("_source",)

    def __init__(self, source: str) -> None:
        # Named explicitly: NamedTuple classes do not call __set_name__ on Python 3.11.
        self._source = source

    @overload
    def __get__(self, instance: None, owner: type) -> FenAsMoney: ...
    @overload
    def __get__(self, instance: object, owner: type) -> Money: ...
    def __get__(self, instance: object | None, owner: type) -> FenAsMoney | Money:
        if instance is None:
            return self
        fen: int = getattr(instance, self._source)
        return fen_to_money(fen)


class Fen(int):
    """An amount in fen that shows itself in yuan ("12184.32") inside an explanation."""

    __slots__ = ()

    def __format__(self, format_spec: str) -> str:
        return format_fen(self)


class Rate(int):
    """A rate in parts per million that shows itself as a decimal ("0.65")."""

    __slots__ = ()

    def __format__(self, format_spec: str) -> str:
        return format_ppm(self)


class Exact(int):
    """An exact product of fen and a rate (fen × SCALE), shown unrounded ("12184.315")."""

    __slots__ = ()

    def __format__(self, format_spec: str) -> str:
        return format_exact(self, SCALE)


class Phrase(NamedTuple):
    """A sentence's part built from its own template and arguments (the reason charity does
    or does not pay): rendered in English when formatted, in Chinese by `render_zh`."""

    template: str
    args: tuple[object, ...]

    def __format__(self, format_spec: str) -> str:
        return self.template.format(*self.args)


Sentence = tuple[str, tuple[object, ...]]
"""One explanation step: a `str.format` template and its arguments (Fen, Rate, Exact, str).

Stages record sentences as data and `FundStep.explanation` renders them when read: the
numbers are kept exact, and a caller that never reads the text never pays for formatting."""


def render_zh(template: str, args: tuple[object, ...]) -> str:
    """A sentence in Chinese: its template translated, enum names and nested phrases too.

    A template without a translation is a bug the tests catch (KeyError), never English on
    the printed slip."""
    return TEMPLATES_ZH[template].format(*(_zh(arg) for arg in args))


def _zh(arg: object) -> object:
    if isinstance(arg, Phrase):
        return render_zh(arg.template, arg.args)
    if isinstance(arg, StrEnum):
        return NAMES_ZH.get(arg.value, arg.value)
    return arg


class _LineFigures(NamedTuple):
    """The fields of `LineSettlement` (a NamedTuple base, so the subclass may add readers)."""

    line_no: int
    item_code: str
    item_name: str
    item_class: ItemClass
    quantity: Decimal
    unit_price: Money
    amount_fen: int
    full_selfpay_fen: int
    over_cap_selfpay_fen: int
    first_selfpay_fen: int
    in_scope_fen: int
    basic_insurance_fen: int
    critical_illness_fen: int
    medical_assistance_fen: int
    charity_fen: int
    patient_pay_fen: int
    refused_selfpay_fen: int
    """违规自付 (rules §14): the part of the amount the rule checks refused; the patient's."""
    health_fund_fen: int
    """The fifth fund's share (rules §13). Appended after patient pay: stored lines keep the
    order they were packed in (`api.db.tables.PACKED_LINE_FIELDS`)."""


class LineSettlement(_LineFigures):
    """One line of the bill: how its amount splits into self-pay parts, funds and patient."""

    __slots__ = ()

    amount = FenAsMoney("amount_fen")
    full_selfpay = FenAsMoney("full_selfpay_fen")
    over_cap_selfpay = FenAsMoney("over_cap_selfpay_fen")
    first_selfpay = FenAsMoney("first_selfpay_fen")
    in_scope = FenAsMoney("in_scope_fen")
    basic_insurance = FenAsMoney("basic_insurance_fen")
    critical_illness = FenAsMoney("critical_illness_fen")
    medical_assistance = FenAsMoney("medical_assistance_fen")
    charity = FenAsMoney("charity_fen")
    patient_pay = FenAsMoney("patient_pay_fen")
    refused_selfpay = FenAsMoney("refused_selfpay_fen")
    health_fund = FenAsMoney("health_fund_fen")

    def fund_fen(self, fund: Fund) -> int:
        share: int = getattr(self, f"{fund.value}_fen")
        return share


@dataclass(frozen=True, slots=True)
class FundStep:
    """What one fund did for the claim (the platform's `setldetail` row)."""

    fund: Fund
    fund_code: str
    base_fen: int
    """What the fund looked at: S for basic, b for critical illness, what is left after."""
    payable_fen: int
    """What the fund's rules give before its annual cap."""
    cap_remaining_fen: int | None
    """What was left of the annual cap before this claim; None where the fund has no cap."""
    paid_fen: int
    sentences: tuple[Sentence, ...]
    deductible_applied_fen: int = 0
    sentences_zh: tuple[Sentence, ...] | None = None
    """Chinese sentences where they differ from rendering `sentences` through the translation
    table: a step read back from the database holds its stored Chinese text here."""
    rate_ppm: int | None = None
    """The one rate the fund applied, in millionths, where it has one (basic insurance, after
    tilt and cross-region reduction); None otherwise, and for a step stored before it was kept."""
    _rendered: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)

    base = FenAsMoney("base_fen")
    payable = FenAsMoney("payable_fen")
    paid = FenAsMoney("paid_fen")

    @property
    def explanation(self) -> tuple[str, ...]:
        """Human-readable steps: deductible, rates, tilt, bands, cap (rendered once, when read:
        the answer and the stored row both read them)."""
        if self._rendered is None:
            rendered = tuple(template.format(*args) for template, args in self.sentences)
            object.__setattr__(self, "_rendered", rendered)
            return rendered
        return self._rendered

    @property
    def explanation_zh(self) -> tuple[str, ...]:
        """The same steps in Chinese, for the printed slip (结算单)."""
        if self.sentences_zh is not None:
            return tuple(template.format(*args) for template, args in self.sentences_zh)
        return tuple(render_zh(template, args) for template, args in self.sentences)

    @property
    def cap_remaining(self) -> Money | None:
        return None if self.cap_remaining_fen is None else fen_to_money(self.cap_remaining_fen)


@dataclass(frozen=True, slots=True)
class Totals:
    """Claim totals (the platform's `setlinfo` amounts)."""

    total_fen: int
    full_selfpay_fen: int
    over_cap_selfpay_fen: int
    first_selfpay_fen: int
    in_scope_fen: int
    deductible_applied_fen: int
    basic_insurance_fen: int
    critical_illness_fen: int
    medical_assistance_fen: int
    charity_fen: int
    fund_total_fen: int
    patient_pay_fen: int
    refused_selfpay_fen: int
    health_fund_fen: int

    total = FenAsMoney("total_fen")
    full_selfpay = FenAsMoney("full_selfpay_fen")
    over_cap_selfpay = FenAsMoney("over_cap_selfpay_fen")
    first_selfpay = FenAsMoney("first_selfpay_fen")
    in_scope = FenAsMoney("in_scope_fen")
    deductible_applied = FenAsMoney("deductible_applied_fen")
    basic_insurance = FenAsMoney("basic_insurance_fen")
    critical_illness = FenAsMoney("critical_illness_fen")
    medical_assistance = FenAsMoney("medical_assistance_fen")
    charity = FenAsMoney("charity_fen")
    fund_total = FenAsMoney("fund_total_fen")
    patient_pay = FenAsMoney("patient_pay_fen")
    refused_selfpay = FenAsMoney("refused_selfpay_fen")
    health_fund = FenAsMoney("health_fund_fen")

    def fund_fen(self, fund: Fund) -> int:
        paid: int = getattr(self, f"{fund.value}_fen")
        return paid


class Rule(StrEnum):
    """The rule checks of section 14 (合理性审核), in the order they run on a line."""

    R01 = "R01"
    R02 = "R02"
    R03 = "R03"
    R04 = "R04"

    @property
    def chinese_name(self) -> str:
        return RULE_NAMES[self]


RULE_NAMES: dict[Rule, str] = {
    Rule.R01: "超性别",
    Rule.R02: "超年龄",
    Rule.R03: "超住院天数",
    Rule.R04: "超限量",
}


class FindingAction(StrEnum):
    REFUSED = "refused"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that acted on one line: the amount it refused (0.00 for a warning)."""

    rule: Rule
    line_no: int
    action: FindingAction
    amount_fen: int
    message: str
    """English, for the API and the workbench."""
    message_zh: str
    """Chinese, for the printed slip (结算单)."""

    amount = FenAsMoney("amount_fen")

    @property
    def name(self) -> str:
        return self.rule.chinese_name


@dataclass(frozen=True, slots=True)
class Burden:
    """The year's personal burden after this claim (rules §16): what the person has paid of
    the year's bills (`patient_paid`), the alert threshold of the claim's policy tariff (None:
    it has no alert), and whether this claim took the year from below it to at or above it."""

    year_to_date_fen: int
    threshold_fen: int | None
    crossed: bool

    def __post_init__(self) -> None:
        assert not self.crossed or self.threshold_fen is not None, self

    @property
    def year_to_date(self) -> Money:
        return fen_to_money(self.year_to_date_fen)


@dataclass(frozen=True, slots=True)
class Settlement:
    """The itemized bill of one claim, checked for conservation before it was returned."""

    claim_id: str
    hospital_id: str
    person_id: str
    admission_date: date
    discharge_date: date
    policy_year: int
    tariff_version: str
    """The policy tariff: the insured region's (参保地政策)."""
    group: Group | None
    charity_disease: str | None
    totals: Totals
    lines: tuple[LineSettlement, ...]
    funds: tuple[FundStep, ...]
    accumulators_after_fen: AccumulatorsFen
    insured_region: str
    treatment_region: str
    filing: Filing | None
    catalog_version: str
    """The catalog tariff: the treatment region's (就医地目录); the policy tariff in-region."""
    findings: tuple[Finding, ...]
    pay_later_eligible: bool
    """The person may defer their share to after discharge (先诊疗后付费, rules §15)."""
    burden: Burden

    @property
    def accumulators_after(self) -> Accumulators:
        return self.accumulators_after_fen.to_money()

    def fund(self, fund: Fund) -> FundStep:
        step = self.funds[FUND_INDEX[fund]]
        assert step.fund is fund, step
        return step


FUND_INDEX: dict[Fund, int] = {fund: index for index, fund in enumerate(Fund)}
