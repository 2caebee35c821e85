"""The schema of tariff files: pydantic models that validate a tariff directory's contents.

A tariff version is one TOML file (policy parameters, each value with a `description` and a
`reference`) that names a catalog CSV and a charity-disease CSV beside it. Money, rates and
factors are strings; a TOML float is refused because it has already lost the fen. The models
check each file on its own; `tariffs.loader` checks what spans files (overlapping periods).
Catalog rows may carry rule data (rules §14); a tariff states its cross-region rate reductions
(§12) and may state a health poverty fund (§13).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from settlement.model import Filing, Fund, Gender, Group, ItemClass, ItemKind
from settlement.money import QUANTITY_DECIMALS
from settlement.tariff import RATE_ABOVE_LINE_MIN_PPM

T = TypeVar("T")

RATE_ABOVE_LINE_MIN = Decimal(RATE_ABOVE_LINE_MIN_PPM).scaleb(-6)
HOSPITAL_LEVELS = (1, 2, 3)
"""The hospital levels a tariff sets rates for (乡镇/一级, 县级/二级, 三级)."""
ITEM_GENDERS = tuple(gender for gender in Gender if gender is not Gender.UNKNOWN)
"""The genders an item may be restricted to: `unknown` describes a person, never an item."""
AGE_YEARS_MAX = 150
INSTALLMENTS_LIMIT = 120
"""The most installments a `pay_later` section may allow: ten years of monthly ones."""
MONTHS_LIMIT = 120
"""The longest a `pay_later` plan may run, in months after discharge: ten years."""
"""The largest age an item's age limit may name; anything above is a typo, not a policy."""


def _decimal_string(decimals: int) -> Any:
    def parse(value: object) -> Decimal:
        if not isinstance(value, str):
            raise ValueError(f"write the number as a string (got {type(value).__name__})")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        exponent = number.as_tuple().exponent
        if not isinstance(exponent, int):
            raise ValueError(f"{value!r} is not a finite number")
        if -exponent > decimals:
            raise ValueError(f"{value!r} has more than {decimals} decimals")
        if number < 0:
            raise ValueError(f"{value!r} is negative")
        return number

    return BeforeValidator(parse)


def _at_most_one(value: Decimal) -> Decimal:
    if value > 1:
        raise ValueError(f"{value} is outside [0, 1]")
    return value


def _positive(value: Decimal) -> Decimal:
    if value == 0:
        raise ValueError(f"{value} is not positive")
    return value


def _distinct(values: list[T]) -> list[T]:
    repeated = sorted({str(value) for value in values if values.count(value) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} listed more than once")
    return values


MoneyText = Annotated[Decimal, _decimal_string(2)]
"""A non-negative amount in yuan, written as a string with at most two decimals."""
PriceText = Annotated[Decimal, _decimal_string(6)]
"""A non-negative unit price in yuan, at most six decimals."""
FactorText = Annotated[Decimal, _decimal_string(6)]
"""A non-negative factor with at most six decimals."""
RateText = Annotated[Decimal, _decimal_string(6), AfterValidator(_at_most_one)]
"""A rate in [0, 1] with at most six decimals."""
QuantityText = Annotated[Decimal, _decimal_string(QUANTITY_DECIMALS), AfterValidator(_positive)]
"""A positive quantity with at most four decimals (a claim line's quantity has four)."""


class Parameter(BaseModel, Generic[T]):
    """One policy value with what it means and where it comes from (OpenFisca style)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: T
    description: Annotated[str, Field(min_length=1)]
    reference: Annotated[str, Field(min_length=1)]


class TariffHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Annotated[str, Field(pattern=r"^[0-9]{6}-[0-9A-Za-z._-]+$")]
    region: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    name: str
    effective_from: date
    effective_to: date | None = None
    catalog: str
    charity_diseases: str
    group_precedence: Parameter[list[Group]]

    @model_validator(mode="after")
    def _period_and_precedence(self) -> TariffHeader:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        groups = self.group_precedence.value
        if sorted(groups) != sorted(set(Group)):
            raise ValueError("group_precedence must name each group exactly once")
        if not self.version.startswith(f"{self.region}-"):
            raise ValueError("version must start with the region code")
        return self


class FundCodes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    basic_insurance: Parameter[Annotated[str, Field(pattern=r"^[0-9]{6}$")]]
    critical_illness: Parameter[Annotated[str, Field(pattern=r"^[0-9]{6}$")]]
    medical_assistance: Parameter[Annotated[str, Field(pattern=r"^[0-9]{6}$")]]
    charity: Parameter[Annotated[str, Field(pattern=r"^[0-9]{6}$")]]
    health_fund: Parameter[Annotated[str, Field(pattern=r"^[0-9]{6}$")]]

    def by_fund(self) -> dict[Fund, str]:
        return {fund: getattr(self, fund.value).value for fund in Fund}


class BasicLevelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    deductible: Parameter[MoneyText]
    rate: Parameter[RateText]


class BasicTiltFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    deductible_factor: Parameter[FactorText]
    rate_bonus: Parameter[RateText]


class BasicInsuranceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    annual_cap: Parameter[MoneyText]
    subsequent_admission_factor: Parameter[FactorText]
    levels: dict[Literal["1", "2", "3"], BasicLevelFile]
    tilt: dict[Group, BasicTiltFile] = {}

    @model_validator(mode="after")
    def _all_levels(self) -> BasicInsuranceFile:
        missing = {"1", "2", "3"} - set(self.levels)
        if missing:
            raise ValueError(f"levels {', '.join(sorted(missing))} are missing")
        return self


class BandFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: Annotated[Parameter[MoneyText], Field(alias="from")]
    to: Parameter[MoneyText] | None = None
    rate: Parameter[RateText]


class CriticalIllnessTiltFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    deductible_factor: Parameter[FactorText]
    rate_bonus: Parameter[RateText]
    no_cap: Parameter[StrictBool]


class CriticalIllnessFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    deductible: Parameter[MoneyText]
    annual_cap: Parameter[MoneyText]
    bands: Annotated[list[BandFile], Field(min_length=1)]
    tilt: dict[Group, CriticalIllnessTiltFile] = {}

    @model_validator(mode="after")
    def _bands_in_order(self) -> CriticalIllnessFile:
        problems = []
        if self.bands[0].from_.value != 0:
            problems.append("the first band must start at 0.00")
        for number, (lower, upper) in enumerate(
            zip(self.bands, self.bands[1:], strict=False), start=1
        ):
            if lower.to is None:
                problems.append(f"band {number} has no upper end but is not the last")
                continue
            if lower.to.value <= lower.from_.value:
                problems.append(f"band {number} ends where or before it starts")
            if upper.from_.value != lower.to.value:
                problems.append(
                    f"bands out of order: band {number + 1} starts at {upper.from_.value}, "
                    f"band {number} ends at {lower.to.value}"
                )
        if self.bands[-1].to is not None:
            problems.append("the last band must have no upper end")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class AssistanceGroupFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_below_line: Parameter[RateText]
    rate_above_line: Parameter[RateText]
    annual_cap: Parameter[MoneyText] | None = None

    @model_validator(mode="after")
    def _at_least_seventy_percent(self) -> AssistanceGroupFile:
        if self.rate_above_line.value < RATE_ABOVE_LINE_MIN:
            raise ValueError(
                f"rate_above_line {self.rate_above_line.value} is under "
                f"{RATE_ABOVE_LINE_MIN}: medical assistance pays at least 70% above the "
                "critical-illness deductible line"
            )
        return self


class CharityFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    groups: Parameter[list[Group]]
    annual_cap: Parameter[MoneyText] | None = None


def _every_filing(reductions: dict[Filing, Any]) -> dict[Filing, Any]:
    missing = [filing.value for filing in Filing if filing not in reductions]
    if missing:
        raise ValueError(f"no reduction for filing {', '.join(missing)}")
    return reductions


class CrossRegionFile(BaseModel):
    """`[cross_region]`: points off the basic-insurance rate by filing kind (rules §12)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_reduction: Annotated[dict[Filing, Parameter[RateText]], AfterValidator(_every_filing)]


class HealthFundFile(BaseModel):
    """`[health_fund]`: the health poverty fund (健康扶贫基金, rules §13); absent, it pays 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    groups: Parameter[Annotated[list[Group], Field(min_length=1), AfterValidator(_distinct)]]
    hospital_levels: Parameter[
        Annotated[
            list[Annotated[StrictInt, Field(ge=HOSPITAL_LEVELS[0], le=HOSPITAL_LEVELS[-1])]],
            Field(min_length=1),
            AfterValidator(_distinct),
        ]
    ]
    selfpay_ratio_max: Parameter[RateText]
    annual_cap: Parameter[MoneyText] | None = None


class PayLaterFile(BaseModel):
    """`[pay_later]`: treat first, pay later (先诊疗后付费, rules §15); absent, nobody may defer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    groups: Parameter[Annotated[list[Group], Field(min_length=1), AfterValidator(_distinct)]]
    hospital_level_max: Parameter[
        Annotated[StrictInt, Field(ge=HOSPITAL_LEVELS[0], le=HOSPITAL_LEVELS[-1])]
    ]
    installments_max: Parameter[Annotated[StrictInt, Field(ge=1, le=INSTALLMENTS_LIMIT)]]
    months_max: Parameter[Annotated[StrictInt, Field(ge=1, le=MONTHS_LIMIT)]]


class BurdenAlertFile(BaseModel):
    """`[burden_alert]`: the high-burden alert (高额医疗费用预警, rules §16); absent, none."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: Parameter[MoneyText]


class TariffFile(BaseModel):
    """One tariff version's TOML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tariff: TariffHeader
    fund_codes: FundCodes
    basic_insurance: BasicInsuranceFile
    critical_illness: CriticalIllnessFile
    medical_assistance: dict[Group, AssistanceGroupFile]
    charity: CharityFile
    cross_region: CrossRegionFile
    health_fund: HealthFundFile | None = None
    pay_later: PayLaterFile | None = None
    burden_alert: BurdenAlertFile | None = None


def _empty_to_none(value: object) -> object:
    return None if value == "" else value


def _item_gender(value: object) -> object:
    if value == "":
        return None
    if value not in ITEM_GENDERS:
        allowed = " or ".join(gender.value for gender in ITEM_GENDERS)
        raise ValueError(f"gender {value!r} is not {allowed} (or empty for no gender rule)")
    return value


def _per_day_flag(value: object) -> object:
    # One spelling for each state: `true` sets the rule, an empty field leaves it unset; any
    # other word (`yes`, `1`, `false`) is refused rather than guessed at.
    if value == "":
        return False
    if value == "true":
        return True
    raise ValueError(f"per_day {value!r} is not true (or empty for no per-day rule)")


AgeText = Annotated[
    Annotated[int, Field(ge=0, le=AGE_YEARS_MAX)] | None, BeforeValidator(_empty_to_none)
]
"""An age in whole years, inclusive, or empty for no limit."""


class CatalogRow(BaseModel):
    """One catalog CSV row (columns as in `tariffs.loader.CATALOG_COLUMNS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,19}$")]
    name: Annotated[str, Field(min_length=1)]
    kind: ItemKind
    item_class: Annotated[ItemClass, Field(alias="class")]
    selfpay_ratio: Annotated[RateText | None, BeforeValidator(_empty_to_none)] = None
    unit_price_cap: Annotated[PriceText | None, BeforeValidator(_empty_to_none)] = None
    unit: str = ""
    reference_price: Annotated[PriceText | None, BeforeValidator(_empty_to_none)] = None
    """A typical unit price, used only by the demo claim generator, never by the engine."""
    gender: Annotated[Gender | None, BeforeValidator(_item_gender)] = None
    """Rule data (rules §14) from here on; every field empty: the item has no rules."""
    age_min: AgeText = None
    age_max: AgeText = None
    per_day: Annotated[bool, BeforeValidator(_per_day_flag)] = False
    max_quantity: Annotated[QuantityText | None, BeforeValidator(_empty_to_none)] = None

    @model_validator(mode="after")
    def _ratio_by_class(self) -> CatalogRow:
        if self.item_class is ItemClass.B and self.selfpay_ratio is None:
            raise ValueError("a class-B item needs a selfpay_ratio")
        if self.item_class is not ItemClass.B and self.selfpay_ratio is not None:
            raise ValueError(f"a class-{self.item_class} item has no selfpay_ratio")
        if self.item_class is ItemClass.C and self.unit_price_cap is not None:
            raise ValueError("a class-C item is fully self-paid and takes no unit_price_cap")
        return self

    @model_validator(mode="after")
    def _ages_in_order(self) -> CatalogRow:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError(f"age_min {self.age_min} is above age_max {self.age_max}")
        return self

    def has_rules(self) -> bool:
        """Whether any rule datum is set (an item without any has `rules` None)."""
        return (
            self.gender is not None
            or self.age_min is not None
            or self.age_max is not None
            or self.per_day
            or self.max_quantity is not None
        )


class CharityDiseaseRow(BaseModel):
    """One charity-disease CSV row: number,name,name_en,icd_prefixes,surgery_required,age_max."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    number: Annotated[int, Field(ge=1)]
    name: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    icd_prefixes: Annotated[
        list[Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")]],
        BeforeValidator(lambda text: text.split() if isinstance(text, str) else text),
        Field(min_length=1),
    ]
    surgery_required: bool
    age_max: Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(_empty_to_none)] = None
