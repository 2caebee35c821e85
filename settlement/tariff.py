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

from settlement.model import Fund, Group, ItemClass, ItemKind
from settlement.money import SCALE

RATE_ABOVE_LINE_MIN_PPM: Final[int] = 700_000
"""Medical assistance pays at least 70% above the critical-illness deductible (rules §7)."""


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
