"""Tests of the tariff loader: the shipped default tariffs, and the refusal of bad tariff files.

The refusal tests copy the default tariff directory, corrupt one thing by plain text
replacement (asserting the replacement changed the file, so no test can pass on an unchanged
copy), and check that `TariffError.problems` names the file, the field or CSV line, and why.
"""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from settlement.model import Fund, Group, ItemClass, ItemKind
from settlement.tariff import (
    AssistanceRates,
    Band,
    BasicLevel,
    BasicTilt,
    BurdenAlertPolicy,
    CatalogItem,
    CriticalIllnessTilt,
    ItemRules,
    Tariff,
    TariffBook,
)
from tariffs import DEFAULT_TARIFF_DIR, LoadedTariffs, TariffError, load_tariffs

DEFAULT_REGION_DIR = DEFAULT_TARIFF_DIR / "220000"
TOML_2018 = "220000-2018.toml"
TOML_2019 = "220000-2019.toml"
CATALOG = "catalog.csv"
SHIPPED_TARIFF_FILES = sorted(DEFAULT_TARIFF_DIR.rglob("*.toml"))
"""Every tariff file shipped, of every region."""
DISEASES = "charity_diseases.csv"
HEADER_KEYS = {
    "version",
    "region",
    "name",
    "effective_from",
    "effective_to",
    "catalog",
    "charity_diseases",
}
"""The `[tariff]` keys that identify the file rather than state a policy value."""


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def region_dir(tmp_path: Path) -> Path:
    """A private copy of the default tariffs of region 220000, free to corrupt."""
    target = tmp_path / "220000"
    shutil.copytree(DEFAULT_REGION_DIR, target)
    return target


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace `old` by `new` in the file, failing unless the text really changed."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"{old!r} not found {count} time(s) in {path.name}"
    changed = text.replace(old, new, count)
    assert changed != text, f"replacing {old!r} changed nothing in {path.name}"
    path.write_text(changed, encoding="utf-8")


def line_of(path: Path, prefix: str) -> int:
    """The 1-based number of the only line of the file starting with `prefix`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    numbers = [number for number, line in enumerate(lines, start=1) if line.startswith(prefix)]
    assert len(numbers) == 1, (prefix, numbers)
    return numbers[0]


def refusal(directory: Path) -> list[str]:
    """The problems listed when loading `directory` is refused."""
    with pytest.raises(TariffError) as info:
        load_tariffs(directory)
    problems = info.value.problems
    assert isinstance(problems, list)
    assert problems
    assert all(isinstance(problem, str) for problem in problems)
    return problems


def assert_reported(problems: list[str], *fragments: str) -> None:
    """Some single problem contains every fragment (file, place and reason together)."""
    assert any(all(fragment in problem for fragment in fragments) for problem in problems), (
        f"no problem mentions all of {fragments}:\n" + "\n".join(problems)
    )


def parameters(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted place, node) of the parsed TOML that is not a table or an array."""
    if isinstance(node, dict) and "value" in node:
        yield where, node
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from parameters(child, f"{where}.{key}" if where else key)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from parameters(child, f"{where}[{index}]")
    else:
        yield where, node


def policy_parameters(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The parameters of a tariff TOML file; fails on any bare policy value outside one."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    found = []
    for where, node in parameters(document):
        if isinstance(node, dict):
            found.append((where, node))
        else:
            top, _, key = where.partition(".")
            assert top == "tariff", f"{path.name}: {where} is a bare value, not a parameter"
            assert key in HEADER_KEYS, f"{path.name}: {where} is a bare value, not a parameter"
    return found


# --- the default tariffs ------------------------------------------------------------------


def tariff_of(book: TariffBook, version: str) -> Tariff:
    tariff = book.by_version(version)
    assert tariff is not None, version
    return tariff


def test_the_default_tariffs_are_versions_2018_and_2019_of_region_220000_and_2018_of_210000(
    default_tariffs: LoadedTariffs,
) -> None:
    versions = sorted(tariff.version for tariff in default_tariffs.book.tariffs)
    assert versions == ["210000-2018", "220000-2018", "220000-2019"]
    first = tariff_of(default_tariffs.book, "220000-2018")
    second = tariff_of(default_tariffs.book, "220000-2019")
    assert (first.region, first.effective_from, first.effective_to) == (
        "220000",
        date(2018, 1, 1),
        date(2018, 12, 31),
    )
    assert (second.region, second.effective_from, second.effective_to) == (
        "220000",
        date(2019, 1, 1),
        date(2019, 12, 31),
    )
    assert default_tariffs.files["220000-2018"].name == TOML_2018
    assert default_tariffs.files["220000-2019"].name == TOML_2019


@pytest.mark.parametrize("version", ["220000-2018", "220000-2019"])
def test_each_default_tariff_lists_the_28_charity_diseases_of_the_sample_list(
    book: TariffBook, version: str
) -> None:
    diseases = tariff_of(book, version).charity.diseases
    assert len(diseases) == 28
    assert [disease.number for disease in diseases] == list(range(1, 29))
    assert all(disease.surgery_required for disease in diseases)
    by_number = {disease.number: disease for disease in diseases}
    assert (by_number[1].name, by_number[1].name_en, by_number[1].icd_prefixes) == (
        "肺癌",
        "lung cancer",
        ("C34",),
    )
    assert by_number[4].icd_prefixes == ("C18", "C19", "C20")
    assert by_number[13].icd_prefixes == ("C91.0", "C92.4")
    assert by_number[15].icd_prefixes == ("Q21.0", "Q21.1", "Q21.3", "Q25.0", "Q22.1")
    assert by_number[28].icd_prefixes == ("Q54",)
    with_age_limit = {number for number, disease in by_number.items() if disease.age_max}
    assert with_age_limit == {13, 14, 15}
    assert {by_number[number].age_max for number in with_age_limit} == {14}
    names_en = {disease.name_en for disease in diseases}
    assert not names_en & {"chronic obstructive pulmonary disease", "severe mental disorder"}


REFERENCE_ITEMS = [
    CatalogItem("A0001", "青霉素钠注射液", ItemKind.DRUG, ItemClass.A, None, None),
    CatalogItem("A0002", "0.9%氯化钠注射液", ItemKind.DRUG, ItemClass.A, None, None),
    CatalogItem("B0001", "头孢曲松钠注射液", ItemKind.DRUG, ItemClass.B, 100_000, None),
    CatalogItem("B0002", "紫杉醇注射液", ItemKind.DRUG, ItemClass.B, 200_000, None),
    CatalogItem("C0001", "人血白蛋白", ItemKind.DRUG, ItemClass.C, None, None),
    CatalogItem(
        "S0001",
        "普通病房床位费",
        ItemKind.SERVICE,
        ItemClass.A,
        None,
        40_000_000,
        ItemRules(per_day=True),
    ),
    CatalogItem("S0002", "胸腔镜下肺叶切除术", ItemKind.SERVICE, ItemClass.A, None, None),
    CatalogItem(
        "S0003", "一级护理", ItemKind.SERVICE, ItemClass.A, None, None, ItemRules(per_day=True)
    ),
    CatalogItem(
        "M0001",
        "一次性使用吻合器",
        ItemKind.MATERIAL,
        ItemClass.B,
        300_000,
        1_500_000_000,
        ItemRules(max_quantity_units=30_000),
    ),
    CatalogItem("M0002", "进口人工晶体", ItemKind.MATERIAL, ItemClass.C, None, None),
]
"""DEFAULT_TARIFF.md's reference items: ratios in ppm, caps in millionths of a yuan, rule data
of its "Additions" (quantities in ten-thousandths; tests/tariffs/test_additions.py has the rest)."""


@pytest.mark.parametrize("version", ["220000-2018", "220000-2019"])
@pytest.mark.parametrize("expected", REFERENCE_ITEMS, ids=lambda item: item.code)
def test_the_catalog_holds_each_reference_item_exactly_as_documented(
    book: TariffBook, version: str, expected: CatalogItem
) -> None:
    assert tariff_of(book, version).catalog[expected.code] == expected


def test_the_catalog_holds_a_few_hundred_items_of_every_kind_and_class(
    default_tariffs: LoadedTariffs,
) -> None:
    catalog = tariff_of(default_tariffs.book, "220000-2019").catalog
    assert 200 <= len(catalog) < 1000
    assert {item.kind for item in catalog.values()} == set(ItemKind)
    assert {item.item_class for item in catalog.values()} == set(ItemClass)
    assert tariff_of(default_tariffs.book, "220000-2018").catalog == catalog
    entries = default_tariffs.catalogs["220000-2019"]
    assert {code: entry.item for code, entry in entries.items()} == catalog
    assert entries["S0001"].unit == "日"


@pytest.mark.parametrize("version", ["220000-2018", "220000-2019"])
def test_each_default_tariff_carries_the_national_fund_codes(
    book: TariffBook, version: str
) -> None:
    assert tariff_of(book, version).fund_codes == {
        Fund.BASIC_INSURANCE: "390100",
        Fund.CRITICAL_ILLNESS: "390200",
        Fund.MEDICAL_ASSISTANCE: "610100",
        Fund.CHARITY: "999997",
        Fund.HEALTH_FUND: "610103",
    }


def test_the_2019_critical_illness_bands_pay_ten_points_more_than_2018(book: TariffBook) -> None:
    bands_2018 = tariff_of(book, "220000-2018").critical_illness.bands
    bands_2019 = tariff_of(book, "220000-2019").critical_illness.bands
    assert bands_2018 == (
        Band(0, 5_000_000, 500_000),
        Band(5_000_000, 10_000_000, 600_000),
        Band(10_000_000, None, 700_000),
    )
    assert bands_2019 == (
        Band(0, 5_000_000, 600_000),
        Band(5_000_000, 10_000_000, 700_000),
        Band(10_000_000, None, 800_000),
    )


def test_the_2019_tariff_differs_from_2018_only_in_period_band_rates_health_fund_and_alert(
    book: TariffBook,
) -> None:
    first = tariff_of(book, "220000-2018")
    second = tariff_of(book, "220000-2019")
    assert first.health_fund is None
    assert second.health_fund is not None
    second_as_2018 = dataclasses.replace(
        second,
        version=first.version,
        effective_from=first.effective_from,
        effective_to=first.effective_to,
        critical_illness=dataclasses.replace(
            second.critical_illness, bands=first.critical_illness.bands
        ),
        health_fund=None,
        burden_alert=first.burden_alert,
    )
    assert second_as_2018 == first
    assert (first.burden_alert, second.burden_alert) == (
        BurdenAlertPolicy(500_000),
        BurdenAlertPolicy(550_000),
    )


@pytest.mark.parametrize("version", ["220000-2018", "220000-2019"])
def test_each_default_tariff_holds_the_documented_policy_figures(
    book: TariffBook, version: str
) -> None:
    tariff = tariff_of(book, version)
    assert tariff.group_precedence == (Group.DESTITUTE, Group.DIBAO, Group.REGISTERED_POOR)
    assert tariff.basic.levels == {
        1: BasicLevel(20_000, 850_000),
        2: BasicLevel(50_000, 750_000),
        3: BasicLevel(90_000, 600_000),
    }
    assert tariff.basic.subsequent_admission_factor_ppm == 500_000
    assert tariff.basic.annual_cap_fen == 15_000_000
    assert tariff.basic.tilt == dict.fromkeys(Group, BasicTilt(500_000, 50_000))
    assert tariff.critical_illness.deductible_fen == 1_000_000
    assert tariff.critical_illness.annual_cap_fen == 30_000_000
    assert tariff.critical_illness.tilt == dict.fromkeys(
        Group, CriticalIllnessTilt(500_000, 50_000, no_cap=True)
    )
    assert tariff.assistance == {
        Group.DESTITUTE: AssistanceRates(1_000_000, 1_000_000, 6_000_000),
        Group.DIBAO: AssistanceRates(500_000, 750_000, 3_000_000),
        Group.REGISTERED_POOR: AssistanceRates(500_000, 700_000, 3_000_000),
    }
    assert tariff.charity.groups == frozenset(Group)
    assert tariff.charity.annual_cap_fen is None


@pytest.mark.parametrize("path", SHIPPED_TARIFF_FILES, ids=lambda path: path.name)
def test_every_parameter_of_the_default_tariff_files_has_a_description_and_a_reference(
    path: Path,
) -> None:
    found = policy_parameters(path)
    assert len(found) >= 40
    for where, parameter in found:
        description = parameter.get("description")
        reference = parameter.get("reference")
        assert isinstance(description, str), where
        assert description.strip(), where
        assert isinstance(reference, str), where
        assert reference.strip(), where


@pytest.mark.parametrize("path", SHIPPED_TARIFF_FILES, ids=lambda path: path.name)
def test_every_default_policy_figure_without_an_official_source_says_sample_parameter(
    path: Path,
) -> None:
    for where, parameter in policy_parameters(path):
        if where.startswith("fund_codes."):
            continue  # Fund codes come from the national platform's code list.
        assert "sample parameter" in parameter["reference"], where


@pytest.mark.parametrize(
    ("region", "day", "version"),
    [
        ("220000", date(2018, 1, 1), "220000-2018"),
        ("220000", date(2018, 6, 30), "220000-2018"),
        ("220000", date(2018, 12, 31), "220000-2018"),
        ("220000", date(2019, 1, 1), "220000-2019"),
        ("220000", date(2019, 12, 31), "220000-2019"),
        ("220000", date(2017, 12, 31), None),
        ("220000", date(2020, 1, 1), None),
        ("220000", date(2020, 6, 30), None),
        ("110000", date(2019, 6, 30), None),
        ("220100", date(2018, 6, 30), None),
    ],
)
def test_the_book_selects_the_tariff_in_force_for_the_region_on_the_day(
    book: TariffBook, region: str, day: date, version: str | None
) -> None:
    tariff = book.select(region, day)
    if version is None:
        assert tariff is None
        return
    assert tariff is not None
    assert tariff.version == version
    assert tariff.catalog["B0001"].selfpay_ratio_ppm == 100_000
    assert len(tariff.catalog) >= 200
    assert len(tariff.charity.diseases) == 28


def test_the_selected_tariff_brings_its_own_band_rates(book: TariffBook) -> None:
    in_2018 = book.select("220000", date(2018, 7, 1))
    in_2019 = book.select("220000", date(2019, 7, 1))
    assert in_2018 is not None
    assert in_2019 is not None
    assert [band.rate_ppm for band in in_2018.critical_illness.bands] == [500_000, 600_000, 700_000]
    assert [band.rate_ppm for band in in_2019.critical_illness.bands] == [600_000, 700_000, 800_000]


def test_an_unchanged_copy_of_the_default_tariffs_loads(region_dir: Path) -> None:
    loaded = load_tariffs(region_dir.parent)
    assert sorted(tariff.version for tariff in loaded.book.tariffs) == [
        "220000-2018",
        "220000-2019",
    ]


# --- refusals: values in the TOML files ---------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('rate = { value = "0.85"', 'rate = { value = "1.20"', "basic_insurance.levels.1.rate"),
        (
            'rate_below_line = { value = "0.50"',
            'rate_below_line = { value = "1.20"',
            "medical_assistance.dibao.rate_below_line",
        ),
        (
            'rate_bonus = { value = "0.05"',
            'rate_bonus = { value = "1.20"',
            "basic_insurance.tilt.destitute.rate_bonus",
        ),
    ],
)
def test_a_rate_above_one_is_refused_with_file_field_and_reason(
    region_dir: Path, old: str, new: str, field: str
) -> None:
    edit(region_dir / TOML_2019, old, new)
    assert_reported(refusal(region_dir.parent), TOML_2019, field, "1.20", "outside [0, 1]")


def test_a_negative_rate_is_refused_with_file_field_and_reason(region_dir: Path) -> None:
    edit(region_dir / TOML_2019, 'rate = { value = "0.75"', 'rate = { value = "-0.10"')
    assert_reported(
        refusal(region_dir.parent), TOML_2019, "basic_insurance.levels.2.rate", "negative"
    )


def test_a_rate_written_as_a_toml_float_is_refused(region_dir: Path) -> None:
    edit(region_dir / TOML_2019, 'rate = { value = "0.85"', "rate = { value = 0.85")
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "basic_insurance.levels.1.rate",
        "as a string",
        "float",
    )


def test_money_written_as_a_toml_float_is_refused(region_dir: Path) -> None:
    edit(
        region_dir / TOML_2018,
        'annual_cap = { value = "150000.00"',
        "annual_cap = { value = 150000.00",
    )
    assert_reported(
        refusal(region_dir.parent), TOML_2018, "basic_insurance.annual_cap", "as a string", "float"
    )


def test_a_medical_assistance_rate_above_the_line_under_seventy_percent_is_refused(
    region_dir: Path,
) -> None:
    edit(
        region_dir / TOML_2019,
        'rate_above_line = { value = "0.70"',
        'rate_above_line = { value = "0.65"',
    )
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "medical_assistance.registered_poor",
        "rate_above_line 0.65 is under 0.7",
    )


def test_critical_illness_bands_out_of_order_are_refused(region_dir: Path) -> None:
    edit(region_dir / TOML_2019, 'from = { value = "50000.00"', 'from = { value = "60000.00"')
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "critical_illness",
        "bands out of order: band 2 starts at 60000.00, band 1 ends at 50000.00",
    )


def test_a_last_critical_illness_band_with_an_upper_end_is_refused(region_dir: Path) -> None:
    edit(
        region_dir / TOML_2019,
        'from = { value = "100000.00"',
        'to = { value = "900000.00", description = "Upper end", reference = "test" }\n'
        'from = { value = "100000.00"',
    )
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "critical_illness",
        "the last band must have no upper end",
    )


def test_a_first_critical_illness_band_not_starting_at_zero_is_refused(region_dir: Path) -> None:
    edit(region_dir / TOML_2018, 'from = { value = "0.00"', 'from = { value = "100.00"')
    assert_reported(
        refusal(region_dir.parent), TOML_2018, "critical_illness", "first band must start at 0.00"
    )


def test_overlapping_effective_periods_of_one_region_are_refused(region_dir: Path) -> None:
    edit(region_dir / TOML_2019, "effective_from = 2019-01-01", "effective_from = 2018-12-01")
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "effective period of 220000-2019 overlaps 220000-2018",
        TOML_2018,
        "region 220000",
    )


def test_an_open_ended_version_overlapping_a_later_one_is_refused(region_dir: Path) -> None:
    edit(region_dir / TOML_2018, "effective_to = 2018-12-31\n", "")
    assert_reported(refusal(region_dir.parent), TOML_2019, "overlaps 220000-2018", "region 220000")


def test_an_effective_period_ending_before_it_starts_is_refused(region_dir: Path) -> None:
    edit(region_dir / TOML_2019, "effective_to = 2019-12-31", "effective_to = 2018-12-31")
    assert_reported(
        refusal(region_dir.parent), TOML_2019, "tariff", "effective_to is before effective_from"
    )


def test_the_same_version_in_two_files_is_refused(region_dir: Path) -> None:
    edit(region_dir / TOML_2018, 'version = "220000-2018"', 'version = "220000-2019"')
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "version 220000-2019 is also defined in",
        TOML_2018,
    )


def test_an_unknown_group_in_a_tilt_is_refused(region_dir: Path) -> None:
    edit(region_dir / TOML_2019, "[basic_insurance.tilt.dibao]", "[basic_insurance.tilt.orphan]")
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "basic_insurance.tilt.orphan",
        "Input should be",
        "registered_poor",
    )


def test_an_unknown_group_in_the_group_precedence_is_refused(region_dir: Path) -> None:
    edit(
        region_dir / TOML_2019,
        'group_precedence = { value = ["destitute", "dibao", "registered_poor"]',
        'group_precedence = { value = ["destitute", "dibao", "orphan"]',
    )
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "tariff.group_precedence",
        "Input should be",
        "registered_poor",
    )


def test_a_group_missing_from_the_group_precedence_is_refused(region_dir: Path) -> None:
    edit(
        region_dir / TOML_2019,
        'group_precedence = { value = ["destitute", "dibao", "registered_poor"]',
        'group_precedence = { value = ["destitute", "dibao"]',
    )
    assert_reported(
        refusal(region_dir.parent), TOML_2019, "tariff", "group_precedence must name each group"
    )


def test_an_unknown_group_among_the_charity_groups_is_refused(region_dir: Path) -> None:
    edit(
        region_dir / TOML_2018,
        'groups = { value = ["destitute", "dibao", "registered_poor"]',
        'groups = { value = ["destitute", "orphan", "registered_poor"]',
    )
    assert_reported(refusal(region_dir.parent), TOML_2018, "charity.groups", "Input should be")


def test_a_group_without_medical_assistance_rates_is_refused(region_dir: Path) -> None:
    path = region_dir / TOML_2019
    text = path.read_text(encoding="utf-8")
    start = text.index("[medical_assistance.dibao]")
    end = text.index("[medical_assistance.registered_poor]")
    edit(path, text[start:end], "")
    assert_reported(
        refusal(region_dir.parent), TOML_2019, "medical_assistance", "no rates for group dibao"
    )


def test_a_missing_hospital_level_is_refused(region_dir: Path) -> None:
    path = region_dir / TOML_2019
    text = path.read_text(encoding="utf-8")
    start = text.index("[basic_insurance.levels.3]")
    end = text.index("[basic_insurance.tilt.destitute]")
    edit(path, text[start:end], "")
    assert_reported(
        refusal(region_dir.parent), TOML_2019, "basic_insurance", "levels 3 are missing"
    )


def test_a_missing_description_is_refused(region_dir: Path) -> None:
    edit(
        region_dir / TOML_2019,
        'deductible = { value = "10000.00", description = "Annual deductible on the year\'s '
        'in-scope out-of-pocket after basic insurance (大病保险起付线)", ',
        'deductible = { value = "10000.00", ',
    )
    assert_reported(
        refusal(region_dir.parent),
        TOML_2019,
        "critical_illness.deductible.description",
        "Field required",
    )


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('catalog = "catalog.csv"', 'catalog = "catalog.csv"\ncurrency = "CNY"', "tariff.currency"),
        (
            'annual_cap = { value = "150000.00",',
            'annual_cap = { value = "150000.00", unit = "yuan",',
            "basic_insurance.annual_cap.unit",
        ),
        ("[charity]\n", '[charity]\nceiling = "none"\n', "charity.ceiling"),
    ],
)
def test_an_unknown_field_is_refused(region_dir: Path, old: str, new: str, field: str) -> None:
    edit(region_dir / TOML_2019, old, new)
    assert_reported(refusal(region_dir.parent), TOML_2019, field, "Extra inputs are not permitted")


def test_invalid_toml_syntax_is_refused_with_the_line(region_dir: Path) -> None:
    path = region_dir / TOML_2019
    line = line_of(path, "region = ")
    edit(path, 'region = "220000"', 'region = "220000')
    assert_reported(refusal(region_dir.parent), TOML_2019, "not valid TOML", f"line {line}")


# --- refusals: the CSV files --------------------------------------------------------------


def test_duplicate_catalog_codes_are_refused_naming_both_lines(region_dir: Path) -> None:
    path = region_dir / CATALOG
    first = line_of(path, "A0001,")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    duplicate = len(text.splitlines()) + 1
    edit(path, text, text + "A0001,青霉素钠注射液(重复),drug,A,,,支,12.00,,,,,\n")
    assert_reported(
        refusal(region_dir.parent),
        CATALOG,
        f"line {duplicate}",
        f"duplicate catalog code A0001 (first on line {first})",
    )


def test_a_class_b_item_without_a_selfpay_ratio_is_refused(region_dir: Path) -> None:
    path = region_dir / CATALOG
    line = line_of(path, "B0001,")
    edit(path, "B0001,头孢曲松钠注射液,drug,B,0.10,,", "B0001,头孢曲松钠注射液,drug,B,,,")
    assert_reported(
        refusal(region_dir.parent), CATALOG, f"line {line}", "class-B item needs a selfpay_ratio"
    )


def test_a_class_a_item_with_a_selfpay_ratio_is_refused(region_dir: Path) -> None:
    path = region_dir / CATALOG
    line = line_of(path, "A0002,")
    edit(path, "A0002,0.9%氯化钠注射液,drug,A,,", "A0002,0.9%氯化钠注射液,drug,A,0.10,")
    assert_reported(
        refusal(region_dir.parent), CATALOG, f"line {line}", "class-A item has no selfpay_ratio"
    )


def test_a_class_c_item_with_a_unit_price_cap_is_refused(region_dir: Path) -> None:
    path = region_dir / CATALOG
    line = line_of(path, "C0001,")
    edit(path, "C0001,人血白蛋白,drug,C,,,", "C0001,人血白蛋白,drug,C,,400.00,")
    assert_reported(
        refusal(region_dir.parent), CATALOG, f"line {line}", "class-C item", "unit_price_cap"
    )


def test_a_selfpay_ratio_above_one_is_refused(region_dir: Path) -> None:
    path = region_dir / CATALOG
    line = line_of(path, "B0002,")
    edit(path, "B0002,紫杉醇注射液,drug,B,0.20,", "B0002,紫杉醇注射液,drug,B,1.20,")
    assert_reported(
        refusal(region_dir.parent), CATALOG, f"line {line}", "selfpay_ratio", "outside [0, 1]"
    )


def test_a_catalog_row_of_an_unknown_kind_is_refused(region_dir: Path) -> None:
    path = region_dir / CATALOG
    line = line_of(path, "M0002,")
    edit(path, "M0002,进口人工晶体,material,", "M0002,进口人工晶体,implant,")
    assert_reported(refusal(region_dir.parent), CATALOG, f"line {line}", "kind", "material")


def test_a_catalog_row_with_too_few_fields_is_refused(region_dir: Path) -> None:
    path = region_dir / CATALOG
    line = line_of(path, "S0002,")
    edit(
        path,
        "S0002,胸腔镜下肺叶切除术,service,A,,,次,12000.00,,,,,\n",
        "S0002,胸腔镜下肺叶切除术\n",
    )
    assert_reported(refusal(region_dir.parent), CATALOG, f"line {line}", "2 fields, expected 13")


def test_a_bad_catalog_header_is_refused(region_dir: Path) -> None:
    edit(region_dir / CATALOG, "code,name,kind,class,", "code,title,kind,class,")
    assert_reported(
        refusal(region_dir.parent),
        CATALOG,
        "line 1",
        "header must be code,name,kind,class,selfpay_ratio,unit_price_cap,unit,reference_price,"
        "gender,age_min,age_max,per_day,max_quantity",
    )


def test_a_bad_charity_disease_header_is_refused(region_dir: Path) -> None:
    edit(region_dir / DISEASES, "number,name,name_en,", "no,name,name_en,")
    assert_reported(refusal(region_dir.parent), DISEASES, "line 1", "header must be number,")


def test_a_malformed_icd_prefix_is_refused(region_dir: Path) -> None:
    path = region_dir / DISEASES
    line = line_of(path, "3,")
    edit(path, "3,胃癌,gastric cancer,C16,", "3,胃癌,gastric cancer,c16,")
    assert_reported(refusal(region_dir.parent), DISEASES, f"line {line}", "icd_prefixes")


def test_a_duplicate_disease_number_is_refused_naming_both_lines(region_dir: Path) -> None:
    path = region_dir / DISEASES
    first = line_of(path, "5,")
    second = line_of(path, "6,")
    edit(path, "6,乳腺癌,", "5,乳腺癌,")
    assert_reported(
        refusal(region_dir.parent),
        DISEASES,
        f"line {second}",
        f"duplicate disease number 5 (first on line {first})",
    )


def reencode(path: Path, encoding: str) -> None:
    """Rewrite the file in another encoding, failing unless its bytes really changed."""
    data = path.read_bytes()
    changed = data.decode("utf-8").encode(encoding)
    assert changed != data, f"re-encoding {path.name} as {encoding} changed nothing"
    path.write_bytes(changed)


def test_a_catalog_not_in_utf8_is_refused_naming_the_file(region_dir: Path) -> None:
    reencode(region_dir / CATALOG, "gbk")
    assert_reported(refusal(region_dir.parent), CATALOG, "UTF-8")


def test_a_tariff_file_not_in_utf8_is_refused_naming_the_file(region_dir: Path) -> None:
    reencode(region_dir / TOML_2019, "gbk")
    assert_reported(refusal(region_dir.parent), TOML_2019, "UTF-8")


def test_a_missing_catalog_file_is_refused(region_dir: Path) -> None:
    (region_dir / CATALOG).unlink()
    assert_reported(refusal(region_dir.parent), CATALOG, "cannot be read")


# --- refusals: the directory and several problems at once ---------------------------------


def test_a_directory_without_tariff_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / CATALOG).write_text("code\n", encoding="utf-8")
    assert_reported(refusal(tmp_path), str(tmp_path), "no tariff files")


def test_a_directory_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert_reported(refusal(missing), str(missing), "no tariff files")


def test_problems_in_several_files_are_all_reported_in_one_error(region_dir: Path) -> None:
    edit(region_dir / TOML_2018, 'rate = { value = "0.85"', 'rate = { value = "1.20"')
    catalog = region_dir / CATALOG
    line = line_of(catalog, "B0001,")
    edit(catalog, "B0001,头孢曲松钠注射液,drug,B,0.10,,", "B0001,头孢曲松钠注射液,drug,B,,,")
    edit(region_dir / DISEASES, "number,name,", "number,title,")
    problems = refusal(region_dir.parent)
    assert_reported(problems, TOML_2018, "basic_insurance.levels.1.rate", "outside [0, 1]")
    assert_reported(problems, CATALOG, f"line {line}", "class-B item needs a selfpay_ratio")
    assert_reported(problems, DISEASES, "line 1", "header must be")


def test_problems_in_both_tariff_files_are_all_reported_in_one_error(region_dir: Path) -> None:
    edit(region_dir / TOML_2018, 'rate = { value = "0.85"', 'rate = { value = "1.20"')
    edit(region_dir / TOML_2019, 'rate = { value = "0.75"', "rate = { value = 0.75")
    problems = refusal(region_dir.parent)
    assert_reported(problems, TOML_2018, "basic_insurance.levels.1.rate", "outside [0, 1]")
    assert_reported(problems, TOML_2019, "basic_insurance.levels.2.rate", "float")


def test_catalog_problems_are_reported_even_when_every_tariff_file_is_invalid(
    region_dir: Path,
) -> None:
    edit(region_dir / TOML_2018, 'rate = { value = "0.85"', 'rate = { value = "1.20"')
    edit(region_dir / TOML_2019, 'rate = { value = "0.75"', "rate = { value = 0.75")
    catalog = region_dir / CATALOG
    line = line_of(catalog, "B0001,")
    edit(catalog, "B0001,头孢曲松钠注射液,drug,B,0.10,,", "B0001,头孢曲松钠注射液,drug,B,,,")
    problems = refusal(region_dir.parent)
    assert_reported(problems, TOML_2018, "basic_insurance.levels.1.rate", "outside [0, 1]")
    assert_reported(problems, TOML_2019, "basic_insurance.levels.2.rate", "float")
    assert_reported(problems, CATALOG, f"line {line}", "class-B item needs a selfpay_ratio")


def test_a_refusal_message_lists_every_problem(region_dir: Path) -> None:
    edit(region_dir / TOML_2018, 'rate = { value = "0.85"', 'rate = { value = "1.20"')
    edit(region_dir / CATALOG, "code,name,kind,class,", "code,title,kind,class,")
    with pytest.raises(TariffError) as info:
        load_tariffs(region_dir.parent)
    assert len(info.value.problems) == 2
    assert str(info.value) == "\n".join(info.value.problems)
