"""The engine's tariff type: the policy in force, as parsed data (never read from files here).

`tariffs/` builds these from the policy files. Amounts are integer fen, rates, ratios and
factors integer parts per million (`settlement.money.SCALE`). Constructors assert the rules
that make a tariff meaningful; the loader reports the same rules to tariff authors as errors
with file and field, so an assertion here firing means a loader bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from settlement.model import Filing, Fund, Gender, Group, ItemClass, ItemKind
from settlement.money import SCALE

RATE_ABOVE_LINE_MIN_PPM: Final[int] = 700_000
"""Medical assistance pays at least 70% above the critical-illness deductible (rules §7)."""


@dataclass(frozen=True, slots=True)
class ItemRules:
    """Rule data of one catalog item (rules §14); at least one field is set."""

    gender: Gender | None = None
    """R01 超性别: the only gender the item may be billed for (male or female)."""
    age_min: int | None = None
    """R02 超年龄: youngest age at admission, in whole years, inclusive."""
    age_max: int | None = None
    """R02 超年龄: oldest age at admission, in whole years, inclusive."""
    per_day: bool = False
    """R03 超住院天数: billed at most once per inpatient day, over the claim."""
    max_quantity_units: int | None = None
    """R04 超限量: most quantity per admission, in ten-thousandths (quantity's 4 decimals)."""

    def __post_init__(self) -> None:
        assert self.gender is not Gender.UNKNOWN, self
        assert self.age_min is None or self.age_min >= 0, self
        assert self.age_max is None or self.age_max >= 0, self
        if self.age_min is not None and self.age_max is not None:
            assert self.age_min <= self.age_max, self
        assert self.max_quantity_units is None or self.max_quantity_units > 0, self
        assert (
            self.gender is not None
            or self.age_min is not None
            or self.age_max is not None
            or self.per_day
            or self.max_quantity_units is not None
        ), "an item's rule data sets at least one rule"


@dataclass(frozen=True, slots=True)
class CatalogItem:
    code: str
    name: str
    kind: ItemKind
    item_class: ItemClass
    selfpay_ratio_ppm: int | None
    """Class-B first self-pay ratio (先行自付比例); None for classes A and C."""
    unit_price_cap_micro: int | None
    """Unit price cap (限价) in millionths of a yuan; None where the item has no cap."""
    rules: ItemRules | None = None
    """Rule data of section 14 (合理性审核); None where the item has none (the common case)."""

    def __post_init__(self) -> None:
        if self.item_class is ItemClass.B:
            assert self.selfpay_ratio_ppm is not None, self.code
            assert 0 <= self.selfpay_ratio_ppm <= SCALE, self.code
        else:
            assert self.selfpay_ratio_ppm is None, self.code
        if self.unit_price_cap_micro is not None:
            assert self.unit_price_cap_micro >= 0, self.code


@dataclass(frozen=True, slots=True)
class BasicLevel:
    deductible_fen: int
    rate_ppm: int


@dataclass(frozen=True, slots=True)
class BasicTilt:
    """Basic-insurance tilt for an assistance group (倾斜): deductible × factor, rate + bonus."""

    deductible_factor_ppm: int
    rate_bonus_ppm: int


@dataclass(frozen=True, slots=True)
class BasicPolicy:
    levels: Mapping[int, BasicLevel]
    subsequent_admission_factor_ppm: int
    annual_cap_fen: int
    tilt: Mapping[Group, BasicTilt]


@dataclass(frozen=True, slots=True)
class Band:
    """A critical-illness band [from, to) on the year's cumulative amount above the deductible."""

    from_fen: int
    to_fen: int | None
    rate_ppm: int


@dataclass(frozen=True, slots=True)
class CriticalIllnessTilt:
    deductible_factor_ppm: int
    rate_bonus_ppm: int
    no_cap: bool


@dataclass(frozen=True, slots=True)
class CriticalIllnessPolicy:
    deductible_fen: int
    bands: tuple[Band, ...]
    annual_cap_fen: int
    tilt: Mapping[Group, CriticalIllnessTilt]

    def __post_init__(self) -> None:
        assert self.bands, "critical illness needs at least one band"
        assert self.bands[0].from_fen == 0, self.bands[0]
        assert self.bands[-1].to_fen is None, self.bands[-1]
        for lower, upper in zip(self.bands, self.bands[1:], strict=False):
            assert lower.to_fen is not None, lower
            assert lower.to_fen == upper.from_fen, (lower, upper)
            assert lower.from_fen < lower.to_fen, lower


@dataclass(frozen=True, slots=True)
class AssistanceRates:
    rate_below_line_ppm: int
    rate_above_line_ppm: int
    annual_cap_fen: int | None

    def __post_init__(self) -> None:
        assert self.rate_above_line_ppm >= RATE_ABOVE_LINE_MIN_PPM, self.rate_above_line_ppm
        assert self.rate_above_line_ppm <= SCALE, self.rate_above_line_ppm
        assert 0 <= self.rate_below_line_ppm <= SCALE, self.rate_below_line_ppm


@dataclass(frozen=True, slots=True)
class CharityDisease:
    number: int
    name: str
    name_en: str
    icd_prefixes: tuple[str, ...]
    surgery_required: bool
    age_max: int | None


@dataclass(frozen=True, slots=True)
class CharityPolicy:
    groups: frozenset[Group]
    diseases: tuple[CharityDisease, ...]
    annual_cap_fen: int | None


@dataclass(frozen=True, slots=True)
class CrossRegionPolicy:
    """Cross-region claims of this region's insured (异地就医, rules §12)."""

    rate_reduction_ppm: Mapping[Filing, int]
    """Points taken off the basic-insurance rate, by filing kind."""

    def __post_init__(self) -> None:
        assert set(self.rate_reduction_ppm) == set(Filing), self.rate_reduction_ppm
        assert all(0 <= ppm <= SCALE for ppm in self.rate_reduction_ppm.values()), self


@dataclass(frozen=True, slots=True)
class HealthFundPolicy:
    """The health poverty fund (健康扶贫基金, rules §13), the fifth and last fund."""

    groups: frozenset[Group]
    hospital_levels: frozenset[int]
    selfpay_ratio_max_ppm: int
    """The in-scope share the patient keeps at most (of S, the claim's in-scope amount)."""
    annual_cap_fen: int | None

    def __post_init__(self) -> None:
        assert 0 <= self.selfpay_ratio_max_ppm <= SCALE, self.selfpay_ratio_max_ppm
        assert self.hospital_levels <= {1, 2, 3}, self.hospital_levels
        assert self.annual_cap_fen is None or self.annual_cap_fen >= 0, self.annual_cap_fen


@dataclass(frozen=True, slots=True)
class PayLaterPolicy:
    """Who may defer their share to after discharge (先诊疗后付费, rules §15), and the limits of
    the plan a hospital agrees with them."""

    groups: frozenset[Group]
    hospital_level_max: int
    """The highest hospital level where the share may be deferred (2: county level and below)."""
    installments_max: int
    months_max: int
    """The last installment falls at most this many calendar months after the discharge date."""

    def __post_init__(self) -> None:
        assert self.groups, self
        assert 1 <= self.hospital_level_max <= 3, self.hospital_level_max
        assert self.installments_max >= 1, self.installments_max
        assert self.months_max >= 1, self.months_max


@dataclass(frozen=True, slots=True)
class BurdenAlertPolicy:
    """The year's personal burden at which a person is flagged (高额医疗费用预警, rules §16)."""

    threshold_fen: int

    def __post_init__(self) -> None:
        assert self.threshold_fen >= 0, self.threshold_fen


@dataclass(frozen=True, slots=True)
class Tariff:
    """One tariff version for one region and effective period (both ends included)."""

    version: str
    region: str
    effective_from: date
    effective_to: date | None
    group_precedence: tuple[Group, ...]
    fund_codes: Mapping[Fund, str]
    basic: BasicPolicy
    critical_illness: CriticalIllnessPolicy
    assistance: Mapping[Group, AssistanceRates]
    charity: CharityPolicy
    catalog: Mapping[str, CatalogItem] = field(repr=False)
    cross_region: CrossRegionPolicy | None = None
    """None: this region's insured cannot settle away from home here (such claims are refused)."""
    health_fund: HealthFundPolicy | None = None
    """None: the health fund pays 0.00 on every claim under this tariff."""
    pay_later: PayLaterPolicy | None = None
    """None: nobody settled under this tariff may defer their share (rules §15)."""
    burden_alert: BurdenAlertPolicy | None = None
    """None: no high-burden alert for this tariff's insured (rules §16)."""

    def __post_init__(self) -> None:
        assert set(self.fund_codes) == set(Fund), self.fund_codes
        assert len(set(self.group_precedence)) == len(self.group_precedence)

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )


@dataclass(frozen=True, slots=True)
class TariffBook:
    """Every tariff version known, for selection by region and discharge date."""

    tariffs: tuple[Tariff, ...]

    def select(self, region: str, day: date) -> Tariff | None:
        """The tariff of the region in force on `day`; None when none is (a rejection)."""
        for tariff in self.tariffs:
            if tariff.region == region and tariff.in_force_on(day):
                return tariff
        return None

    def by_version(self, version: str) -> Tariff | None:
        for tariff in self.tariffs:
            if tariff.version == version:
                return tariff
        return None
