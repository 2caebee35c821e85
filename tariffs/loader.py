"""Reading tariff directories into the engine's `TariffBook`, refusing bad files with reasons.

Every problem found in every file is collected and reported at once, each naming the file,
the field or CSV line, and the reason; nothing half-loaded is ever returned.
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from settlement.model import Fund, Group
from settlement.money import QUANTITY_DECIMALS, SCALE_DECIMALS, UNIT_PRICE_DECIMALS, scaled_int
from settlement.tariff import (
    AssistanceRates,
    Band,
    BasicLevel,
    BasicPolicy,
    BasicTilt,
    BurdenAlertPolicy,
    CatalogItem,
    CharityDisease,
    CharityPolicy,
    CriticalIllnessPolicy,
    CriticalIllnessTilt,
    CrossRegionPolicy,
    HealthFundPolicy,
    ItemRules,
    PayLaterPolicy,
    Tariff,
    TariffBook,
)
from tariffs.schema import CatalogRow, CharityDiseaseRow, TariffFile

CATALOG_COLUMNS = (
    "code", "name", "kind", "class", "selfpay_ratio", "unit_price_cap", "unit", "reference_price",
    "gender", "age_min", "age_max", "per_day", "max_quantity",
)  # fmt: skip
"""The catalog CSV's header; the last five are the rule data of rules §14 (empty = none)."""
DISEASE_COLUMNS = ("number", "name", "name_en", "icd_prefixes", "surgery_required", "age_max")


class TariffError(Exception):
    """The tariff files are refused; `problems` lists every reason with file and place."""

    def __init__(self, problems: list[str]) -> None:
        assert problems
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class _Problems:
    items: list[str] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        self.items.append(f"{where}: {reason}")

    def add_validation(self, where: str, error: ValidationError) -> None:
        for detail in error.errors():
            loc = ".".join(str(part) for part in detail["loc"])
            self.add(f"{where}{': ' + loc if loc else ''}", detail["msg"])


@dataclass(frozen=True)
class CatalogEntry:
    """A catalog row as loaded: the engine's item plus the demo generator's reference price."""

    item: CatalogItem
    reference_price: Decimal | None
    unit: str


def _ppm(value: Decimal) -> int:
    return scaled_int(value, SCALE_DECIMALS)


def _fen(value: Decimal) -> int:
    return scaled_int(value, 2)


def _read_csv(
    path: Path, columns: tuple[str, ...], model: type[BaseModel], problems: _Problems
) -> list[tuple[int, Any]]:
    """Validated rows with their line numbers; problems for every bad row."""
    rows: list[tuple[int, Any]] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            _read_rows(path, handle, columns, model, problems, rows)
    except OSError as error:
        problems.add(str(path), f"cannot be read ({error.strerror})")
    except UnicodeDecodeError as error:
        problems.add(str(path), f"not UTF-8 text (byte {error.start})")
    return rows


def _read_rows(
    path: Path,
    handle: Iterable[str],
    columns: tuple[str, ...],
    model: type[BaseModel],
    problems: _Problems,
    rows: list[tuple[int, Any]],
) -> None:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None or tuple(header) != columns:
        problems.add(f"{path} line 1", f"header must be {','.join(columns)}")
        return
    for line_no, values in enumerate(reader, start=2):
        if len(values) != len(columns):
            problems.add(f"{path} line {line_no}", f"{len(values)} fields, expected {len(columns)}")
            continue
        try:
            rows.append((line_no, model.model_validate(dict(zip(columns, values, strict=True)))))
        except ValidationError as error:
            problems.add_validation(f"{path} line {line_no}", error)


def _item_rules(row: CatalogRow) -> ItemRules | None:
    """The row's rule data; None when it sets none (most items), as the engine expects."""
    if not row.has_rules():
        return None
    return ItemRules(
        gender=row.gender,
        age_min=row.age_min,
        age_max=row.age_max,
        per_day=row.per_day,
        max_quantity_units=None
        if row.max_quantity is None
        else scaled_int(row.max_quantity, QUANTITY_DECIMALS),
    )


def load_catalog(path: Path, problems: _Problems) -> dict[str, CatalogEntry]:
    catalog: dict[str, CatalogEntry] = {}
    first_line: dict[str, int] = {}
    for line_no, row in _read_csv(path, CATALOG_COLUMNS, CatalogRow, problems):
        assert isinstance(row, CatalogRow)
        if row.code in first_line:
            problems.add(
                f"{path} line {line_no}",
                f"duplicate catalog code {row.code} (first on line {first_line[row.code]})",
            )
            continue
        first_line[row.code] = line_no
        item = CatalogItem(
            code=row.code,
            name=row.name,
            kind=row.kind,
            item_class=row.item_class,
            selfpay_ratio_ppm=None if row.selfpay_ratio is None else _ppm(row.selfpay_ratio),
            unit_price_cap_micro=None
            if row.unit_price_cap is None
            else scaled_int(row.unit_price_cap, UNIT_PRICE_DECIMALS),
            rules=_item_rules(row),
        )
        catalog[row.code] = CatalogEntry(item, row.reference_price, row.unit)
    return catalog


def load_diseases(path: Path, problems: _Problems) -> tuple[CharityDisease, ...]:
    diseases = []
    seen: dict[int, int] = {}
    for line_no, row in _read_csv(path, DISEASE_COLUMNS, CharityDiseaseRow, problems):
        assert isinstance(row, CharityDiseaseRow)
        if row.number in seen:
            problems.add(
                f"{path} line {line_no}",
                f"duplicate disease number {row.number} (first on line {seen[row.number]})",
            )
            continue
        seen[row.number] = line_no
        diseases.append(
            CharityDisease(
                number=row.number,
                name=row.name,
                name_en=row.name_en,
                icd_prefixes=tuple(row.icd_prefixes),
                surgery_required=row.surgery_required,
                age_max=row.age_max,
            )
        )
    return tuple(diseases)


def _build(
    spec: TariffFile, catalog: dict[str, CatalogEntry], diseases: tuple[CharityDisease, ...]
) -> Tariff:
    """The engine's tariff from a validated file (amounts in fen, rates in ppm)."""
    return Tariff(
        version=spec.tariff.version,
        region=spec.tariff.region,
        effective_from=spec.tariff.effective_from,
        effective_to=spec.tariff.effective_to,
        group_precedence=tuple(spec.tariff.group_precedence.value),
        fund_codes=spec.fund_codes.by_fund(),
        basic=_basic_policy(spec),
        critical_illness=_critical_illness_policy(spec),
        assistance={
            group: AssistanceRates(
                _ppm(rates.rate_below_line.value),
                _ppm(rates.rate_above_line.value),
                None if rates.annual_cap is None else _fen(rates.annual_cap.value),
            )
            for group, rates in spec.medical_assistance.items()
        },
        charity=CharityPolicy(
            groups=frozenset(spec.charity.groups.value),
            diseases=diseases,
            annual_cap_fen=None
            if spec.charity.annual_cap is None
            else _fen(spec.charity.annual_cap.value),
        ),
        catalog={code: entry.item for code, entry in catalog.items()},
        cross_region=CrossRegionPolicy(
            rate_reduction_ppm={
                filing: _ppm(reduction.value)
                for filing, reduction in spec.cross_region.rate_reduction.items()
            }
        ),
        health_fund=_health_fund_policy(spec),
        pay_later=_pay_later_policy(spec),
        burden_alert=_burden_alert_policy(spec),
    )


def _basic_policy(spec: TariffFile) -> BasicPolicy:
    basic = spec.basic_insurance
    return BasicPolicy(
        levels={
            int(level): BasicLevel(_fen(rates.deductible.value), _ppm(rates.rate.value))
            for level, rates in basic.levels.items()
        },
        subsequent_admission_factor_ppm=_ppm(basic.subsequent_admission_factor.value),
        annual_cap_fen=_fen(basic.annual_cap.value),
        tilt={
            group: BasicTilt(_ppm(tilt.deductible_factor.value), _ppm(tilt.rate_bonus.value))
            for group, tilt in basic.tilt.items()
        },
    )


def _critical_illness_policy(spec: TariffFile) -> CriticalIllnessPolicy:
    critical = spec.critical_illness
    return CriticalIllnessPolicy(
        deductible_fen=_fen(critical.deductible.value),
        bands=tuple(
            Band(
                _fen(band.from_.value),
                None if band.to is None else _fen(band.to.value),
                _ppm(band.rate.value),
            )
            for band in critical.bands
        ),
        annual_cap_fen=_fen(critical.annual_cap.value),
        tilt={
            group: CriticalIllnessTilt(
                _ppm(tilt.deductible_factor.value),
                _ppm(tilt.rate_bonus.value),
                tilt.no_cap.value,
            )
            for group, tilt in critical.tilt.items()
        },
    )


def _health_fund_policy(spec: TariffFile) -> HealthFundPolicy | None:
    health = spec.health_fund
    if health is None:
        return None
    return HealthFundPolicy(
        groups=frozenset(health.groups.value),
        hospital_levels=frozenset(health.hospital_levels.value),
        selfpay_ratio_max_ppm=_ppm(health.selfpay_ratio_max.value),
        annual_cap_fen=None if health.annual_cap is None else _fen(health.annual_cap.value),
    )


def _pay_later_policy(spec: TariffFile) -> PayLaterPolicy | None:
    section = spec.pay_later
    if section is None:
        return None
    return PayLaterPolicy(
        groups=frozenset(section.groups.value),
        hospital_level_max=section.hospital_level_max.value,
        installments_max=section.installments_max.value,
        months_max=section.months_max.value,
    )


def _burden_alert_policy(spec: TariffFile) -> BurdenAlertPolicy | None:
    section = spec.burden_alert
    if section is None:
        return None
    return BurdenAlertPolicy(threshold_fen=_fen(section.threshold.value))


@dataclass(frozen=True)
class LoadedTariffs:
    """The engine's tariff book plus what only tools need (catalog reference prices)."""

    book: TariffBook
    catalogs: dict[str, dict[str, CatalogEntry]]
    """Catalog entries by tariff version."""
    files: dict[str, Path]
    """The TOML file of each tariff version."""


def _check_periods(loaded: list[tuple[Path, TariffFile]], problems: _Problems) -> None:
    """No two versions of one region may be in force on the same day; versions are unique."""
    by_version: dict[str, Path] = {}
    for path, spec in loaded:
        version = spec.tariff.version
        if version in by_version:
            problems.add(str(path), f"version {version} is also defined in {by_version[version]}")
        by_version.setdefault(version, path)
    for index, (path, spec) in enumerate(loaded):
        for other_path, other in loaded[index + 1 :]:
            if spec.tariff.region != other.tariff.region:
                continue
            if _overlap(spec, other):
                problems.add(
                    str(other_path),
                    f"effective period of {other.tariff.version} overlaps {spec.tariff.version} "
                    f"({path}) for region {spec.tariff.region}",
                )


def _overlap(first: TariffFile, second: TariffFile) -> bool:
    a, b = first.tariff, second.tariff
    a_ends_before_b = a.effective_to is not None and a.effective_to < b.effective_from
    b_ends_before_a = b.effective_to is not None and b.effective_to < a.effective_from
    return not (a_ends_before_b or b_ends_before_a)


def _tariff_files(directory: Path) -> Iterable[Path]:
    return sorted(directory.rglob("*.toml"))


def load_tariffs(directory: Path) -> LoadedTariffs:
    """Every tariff version under `directory`; raises `TariffError` listing every problem."""
    problems = _Problems()
    paths = list(_tariff_files(directory)) if directory.is_dir() else []
    if not paths:
        problems.add(str(directory), "no tariff files (*.toml) found")
        raise TariffError(problems.items)
    loaded: list[tuple[Path, TariffFile]] = []
    catalogs: dict[Path, dict[str, CatalogEntry]] = {}
    diseases: dict[Path, tuple[CharityDisease, ...]] = {}
    for path in paths:
        document = _read_toml(path, problems)
        if document is None:
            continue
        # The CSV files are checked even when the TOML file itself is refused, so that one
        # run names every problem in every file.
        header = document.get("tariff")
        header = header if isinstance(header, dict) else {}
        catalog_name = header.get("catalog")
        if isinstance(catalog_name, str):
            catalog_path = (path.parent / catalog_name).resolve()
            if catalog_path not in catalogs:
                catalogs[catalog_path] = load_catalog(catalog_path, problems)
        diseases_name = header.get("charity_diseases")
        if isinstance(diseases_name, str):
            disease_path = (path.parent / diseases_name).resolve()
            if disease_path not in diseases:
                diseases[disease_path] = load_diseases(disease_path, problems)
        try:
            spec = TariffFile.model_validate(document)
        except ValidationError as error:
            problems.add_validation(str(path), error)
            continue
        loaded.append((path, spec))
        _check_groups(path, spec, problems)
    _check_periods(loaded, problems)
    if problems.items:
        raise TariffError(problems.items)
    tariffs = []
    version_catalogs = {}
    for path, spec in loaded:
        catalog = catalogs[(path.parent / spec.tariff.catalog).resolve()]
        disease_list = diseases[(path.parent / spec.tariff.charity_diseases).resolve()]
        tariffs.append(_build(spec, catalog, disease_list))
        version_catalogs[spec.tariff.version] = catalog
    return LoadedTariffs(
        book=TariffBook(tuple(tariffs)),
        catalogs=version_catalogs,
        files={spec.tariff.version: path for path, spec in loaded},
    )


def _read_toml(path: Path, problems: _Problems) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        problems.add(str(path), f"cannot be read ({error.strerror})")
    except UnicodeDecodeError as error:
        problems.add(str(path), f"not UTF-8 text (byte {error.start})")
    except tomllib.TOMLDecodeError as error:
        problems.add(str(path), f"not valid TOML: {error}")
    return None


def _check_groups(path: Path, spec: TariffFile, problems: _Problems) -> None:
    """Every group has its tilts and assistance rates: a missing one would silently pay less."""
    for group in Group:
        if group not in spec.medical_assistance:
            problems.add(f"{path}: medical_assistance", f"no rates for group {group}")
        if group not in spec.basic_insurance.tilt:
            problems.add(f"{path}: basic_insurance.tilt", f"no tilt for group {group}")
        if group not in spec.critical_illness.tilt:
            problems.add(f"{path}: critical_illness.tilt", f"no tilt for group {group}")
    assert set(Fund) == set(spec.fund_codes.by_fund())


DEFAULT_TARIFF_DIR = Path(__file__).resolve().parent / "data"


def load_default() -> LoadedTariffs:
    """The tariffs shipped with onestop under `tariffs/data/`, all sample parameters.

    Region 220000 (Jilin), versions 220000-2018 and 220000-2019; region 210000 (Liaoning),
    version 210000-2018, the other side of cross-region claims.
    """
    return load_tariffs(DEFAULT_TARIFF_DIR)
