"""Tests of the tariff additions for rules §12–14: cross-region reductions, the health poverty
fund, catalog rule data, and the second region 210000 (DEFAULT_TARIFF.md, "Additions").

The refusal tests copy the whole shipped tariff directory (both regions), corrupt one thing by
plain text replacement, and check that `TariffError.problems` names the file, the field or CSV
line, and why, as `test_loader.py` does for the rest of the format.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import shutil
from datetime import date
from pathlib import Path

import pytest

from settlement.model import Filing, Fund, Gender, Group, ItemClass, ItemKind
from settlement.tariff import (
    AssistanceRates,
    Band,
    BasicLevel,
    BasicTilt,
    CatalogItem,
    CriticalIllnessTilt,
    HealthFundPolicy,
    ItemRules,
    TariffBook,
)
from tariffs import DEFAULT_TARIFF_DIR, LoadedTariffs, load_tariffs
from tariffs.loader import CATALOG_COLUMNS
from tests.tariffs.test_loader import assert_reported, edit, line_of, refusal, tariff_of

VERSIONS = ["210000-2018", "220000-2018", "220000-2019"]
TOML_220000_2018 = str(Path("220000") / "220000-2018.toml")
TOML_220000_2019 = str(Path("220000") / "220000-2019.toml")
TOML_210000 = str(Path("210000") / "210000-2018.toml")
CATALOG_220000 = str(Path("220000") / "catalog.csv")
CATALOG_210000 = str(Path("210000") / "catalog.csv")
RULE_COLUMNS = ("gender", "age_min", "age_max", "per_day", "max_quantity")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private copy of every shipped tariff (regions 220000 and 210000), free to corrupt."""
    target = tmp_path / "data"
    shutil.copytree(DEFAULT_TARIFF_DIR, target)
    return target


def set_rule_data(path: Path, code: str, **values: str) -> int:
    """Rewrite some rule-data fields of the catalog row of `code`; its 1-based line number."""
    assert set(values) <= set(RULE_COLUMNS), values
    line = line_of(path, f"{code},")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    row = dict(zip(CATALOG_COLUMNS, next(csv.reader([lines[line - 1]])), strict=True))
    row.update(values)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row[column] for column in CATALOG_COLUMNS)
    edit(path, lines[line - 1], out.getvalue())
    return line


# --- the shipped tariffs ------------------------------------------------------------------


def test_the_shipped_tariffs_are_three_versions_of_two_regions(
    default_tariffs: LoadedTariffs,
) -> None:
    book = default_tariffs.book
    assert sorted(tariff.version for tariff in book.tariffs) == VERSIONS
    liaoning = tariff_of(book, "210000-2018")
    assert (liaoning.region, liaoning.effective_from, liaoning.effective_to) == (
        "210000",
        date(2018, 1, 1),
        date(2019, 12, 31),
    )
    assert default_tariffs.files["210000-2018"] == DEFAULT_TARIFF_DIR / TOML_210000


@pytest.mark.parametrize(
    ("region", "day", "version"),
    [
        ("210000", date(2018, 1, 1), "210000-2018"),
        ("210000", date(2019, 12, 31), "210000-2018"),
        ("210000", date(2017, 12, 31), None),
        ("210000", date(2020, 1, 1), None),
        ("220000", date(2019, 6, 30), "220000-2019"),
    ],
)
def test_the_book_selects_the_tariff_of_each_region_in_force_on_the_day(
    book: TariffBook, region: str, day: date, version: str | None
) -> None:
    tariff = book.select(region, day)
    assert (None if tariff is None else tariff.version) == version


@pytest.mark.parametrize("version", VERSIONS)
def test_every_shipped_tariff_takes_the_documented_points_off_the_basic_rate_by_filing(
    book: TariffBook, version: str
) -> None:
    cross_region = tariff_of(book, version).cross_region
    assert cross_region is not None
    assert cross_region.rate_reduction_ppm == {
        Filing.RESIDENT: 0,
        Filing.REFERRAL: 100_000,
        Filing.EMERGENCY: 100_000,
        Filing.TEMPORARY: 200_000,
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_every_shipped_tariff_reports_the_health_fund_under_fund_code_610103(
    book: TariffBook, version: str
) -> None:
    assert tariff_of(book, version).fund_codes == {
        Fund.BASIC_INSURANCE: "390100",
        Fund.CRITICAL_ILLNESS: "390200",
        Fund.MEDICAL_ASSISTANCE: "610100",
        Fund.CHARITY: "999997",
        Fund.HEALTH_FUND: "610103",
    }


def test_the_2019_tariff_of_220000_has_the_documented_health_fund(book: TariffBook) -> None:
    assert tariff_of(book, "220000-2019").health_fund == HealthFundPolicy(
        groups=frozenset({Group.REGISTERED_POOR}),
        hospital_levels=frozenset({1, 2}),
        selfpay_ratio_max_ppm=100_000,
        annual_cap_fen=None,
    )


@pytest.mark.parametrize("version", ["220000-2018", "210000-2018"])
def test_the_2018_tariff_of_220000_and_the_tariff_of_210000_have_no_health_fund(
    book: TariffBook, version: str
) -> None:
    assert tariff_of(book, version).health_fund is None


def test_region_210000_holds_the_documented_policy_figures(book: TariffBook) -> None:
    tariff = tariff_of(book, "210000-2018")
    assert tariff.group_precedence == (Group.DESTITUTE, Group.DIBAO, Group.REGISTERED_POOR)
    assert tariff.basic.levels == {
        1: BasicLevel(30_000, 800_000),
        2: BasicLevel(60_000, 700_000),
        3: BasicLevel(100_000, 550_000),
    }
    assert tariff.basic.subsequent_admission_factor_ppm == 500_000
    assert tariff.basic.annual_cap_fen == 12_000_000
    assert tariff.basic.tilt == dict.fromkeys(Group, BasicTilt(500_000, 50_000))
    assert tariff.critical_illness.deductible_fen == 1_200_000
    assert tariff.critical_illness.bands == (
        Band(0, 10_000_000, 500_000),
        Band(10_000_000, None, 600_000),
    )
    assert tariff.critical_illness.annual_cap_fen == 25_000_000
    assert tariff.critical_illness.tilt == dict.fromkeys(
        Group, CriticalIllnessTilt(500_000, 50_000, no_cap=True)
    )
    assert tariff.assistance == {
        Group.DESTITUTE: AssistanceRates(1_000_000, 1_000_000, 5_000_000),
        Group.DIBAO: AssistanceRates(600_000, 700_000, 2_000_000),
        Group.REGISTERED_POOR: AssistanceRates(600_000, 700_000, 2_000_000),
    }


def test_region_210000_has_no_charity_programme_its_disease_list_is_empty(
    book: TariffBook,
) -> None:
    charity = tariff_of(book, "210000-2018").charity
    assert charity.diseases == ()
    assert charity.groups == frozenset(Group)
    assert charity.annual_cap_fen is None


# --- the catalogs: rule data and the 210000 differences -----------------------------------


RULE_ITEMS_220000 = [
    CatalogItem(
        "S0001",
        "普通病房床位费",
        ItemKind.SERVICE,
        ItemClass.A,
        None,
        40_000_000,
        ItemRules(per_day=True),
    ),
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
    CatalogItem(
        "G0001",
        "前列腺特异性抗原测定 (PSA)",
        ItemKind.SERVICE,
        ItemClass.A,
        None,
        None,
        ItemRules(gender=Gender.MALE),
    ),
    CatalogItem(
        "G0002",
        "宫颈细胞学检查",
        ItemKind.SERVICE,
        ItemClass.A,
        None,
        None,
        ItemRules(gender=Gender.FEMALE),
    ),
    CatalogItem(
        "P0001", "新生儿听力筛查", ItemKind.SERVICE, ItemClass.A, None, None, ItemRules(age_max=0)
    ),
    CatalogItem(
        "P0002",
        "老年综合评估",
        ItemKind.SERVICE,
        ItemClass.B,
        100_000,
        None,
        ItemRules(age_min=60),
    ),
]
"""The "Rule data on reference items" table: ratios in ppm, caps in millionths of a yuan,
quantities in ten-thousandths."""

DIFFERENCES_210000 = {
    "B0001": CatalogItem("B0001", "头孢曲松钠注射液", ItemKind.DRUG, ItemClass.A, None, None),
    "B0002": CatalogItem("B0002", "紫杉醇注射液", ItemKind.DRUG, ItemClass.B, 150_000, None),
    "S0001": dataclasses.replace(RULE_ITEMS_220000[0], unit_price_cap_micro=50_000_000),
    "M0001": dataclasses.replace(
        RULE_ITEMS_220000[2], selfpay_ratio_ppm=200_000, unit_price_cap_micro=1_600_000_000
    ),
}
"""Where the 210000 catalog differs from the 220000 one (DEFAULT_TARIFF.md)."""

RULE_ITEMS_210000 = [DIFFERENCES_210000.get(item.code, item) for item in RULE_ITEMS_220000]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        *(("220000-2018", item) for item in RULE_ITEMS_220000),
        *(("220000-2019", item) for item in RULE_ITEMS_220000),
        *(("210000-2018", item) for item in RULE_ITEMS_210000),
    ],
    ids=lambda value: value if isinstance(value, str) else value.code,
)
def test_each_catalog_holds_the_rule_data_of_the_additions_table_exactly(
    book: TariffBook, version: str, expected: CatalogItem
) -> None:
    assert tariff_of(book, version).catalog[expected.code] == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_only_the_seven_items_of_the_additions_table_carry_rule_data(
    book: TariffBook, version: str
) -> None:
    catalog = tariff_of(book, version).catalog
    assert catalog["A0001"].rules is None
    with_rules = {code for code, item in catalog.items() if item.rules is not None}
    assert with_rules == {item.code for item in RULE_ITEMS_220000}


def test_the_210000_catalog_is_the_220000_catalog_but_for_the_documented_differences(
    default_tariffs: LoadedTariffs,
) -> None:
    jilin = default_tariffs.catalogs["220000-2018"]
    liaoning = default_tariffs.catalogs["210000-2018"]
    assert liaoning.keys() == jilin.keys()
    for code, expected in DIFFERENCES_210000.items():
        assert liaoning[code].item == expected
        assert jilin[code].item != expected
    for code in jilin.keys() - DIFFERENCES_210000.keys():
        assert liaoning[code] == jilin[code], code
    for code in DIFFERENCES_210000:
        same_demo_data = (liaoning[code].unit, liaoning[code].reference_price)
        assert same_demo_data == (jilin[code].unit, jilin[code].reference_price), code


def test_an_optional_health_fund_annual_cap_is_loaded_in_fen(data_dir: Path) -> None:
    edit(
        data_dir / TOML_220000_2019,
        "# No annual_cap: the fund pays",
        'annual_cap = { value = "5000.00", description = "Annual cap", reference = "test" }\n'
        "# No annual_cap: the fund pays",
    )
    health_fund = tariff_of(load_tariffs(data_dir).book, "220000-2019").health_fund
    assert health_fund is not None
    assert health_fund.annual_cap_fen == 500_000


# --- refusals: the cross-region section ---------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "value", "reason"),
    [
        (TOML_220000_2018, "1.20", "1.20 is outside [0, 1]"),
        (TOML_210000, "1.20", "1.20 is outside [0, 1]"),
        (TOML_220000_2019, "-0.10", "'-0.10' is negative"),
    ],
)
def test_a_cross_region_reduction_above_one_or_negative_is_refused_naming_file_and_field(
    data_dir: Path, toml: str, value: str, reason: str
) -> None:
    edit(data_dir / toml, 'temporary = { value = "0.20"', f'temporary = {{ value = "{value}"')
    assert_reported(refusal(data_dir), toml, "cross_region.rate_reduction.temporary.value", reason)


def test_a_cross_region_reduction_written_as_a_toml_float_is_refused(data_dir: Path) -> None:
    edit(data_dir / TOML_210000, 'referral = { value = "0.10"', "referral = { value = 0.10")
    assert_reported(
        refusal(data_dir), TOML_210000, "cross_region.rate_reduction.referral", "as a string"
    )


def test_a_missing_filing_in_the_rate_reduction_is_refused(data_dir: Path) -> None:
    path = data_dir / TOML_220000_2019
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    edit(path, lines[line_of(path, "emergency = ") - 1], "")
    assert_reported(
        refusal(data_dir),
        TOML_220000_2019,
        "cross_region.rate_reduction",
        "no reduction for filing emergency",
    )


def test_an_unknown_filing_in_the_rate_reduction_is_refused(data_dir: Path) -> None:
    edit(data_dir / TOML_220000_2018, "temporary = {", "tourist = {")
    assert_reported(
        refusal(data_dir),
        TOML_220000_2018,
        "cross_region.rate_reduction.tourist",
        "Input should be 'resident', 'referral', 'emergency' or 'temporary'",
    )


def test_a_tariff_without_a_cross_region_section_is_refused(data_dir: Path) -> None:
    path = data_dir / TOML_210000
    text = path.read_text(encoding="utf-8")
    edit(path, text[text.index("[cross_region.rate_reduction]") :], "")
    assert_reported(refusal(data_dir), TOML_210000, "cross_region", "Field required")


def test_a_tariff_without_the_health_fund_code_is_refused(data_dir: Path) -> None:
    path = data_dir / TOML_220000_2018
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    edit(path, lines[line_of(path, "health_fund = ") - 1], "")
    assert_reported(refusal(data_dir), TOML_220000_2018, "fund_codes.health_fund", "Field required")


# --- refusals: the health fund section ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [("1.20", "1.20 is outside [0, 1]"), ("-0.10", "'-0.10' is negative")],
)
def test_a_health_fund_selfpay_ratio_outside_zero_to_one_is_refused(
    data_dir: Path, value: str, reason: str
) -> None:
    edit(
        data_dir / TOML_220000_2019,
        'selfpay_ratio_max = { value = "0.10"',
        f'selfpay_ratio_max = {{ value = "{value}"',
    )
    assert_reported(
        refusal(data_dir), TOML_220000_2019, "health_fund.selfpay_ratio_max.value", reason
    )


@pytest.mark.parametrize(
    ("levels", "field", "reason"),
    [
        ("[1, 4]", "health_fund.hospital_levels.value.1", "less than or equal to 3"),
        ("[0, 1]", "health_fund.hospital_levels.value.0", "greater than or equal to 1"),
        ("[1, 1]", "health_fund.hospital_levels.value", "1 listed more than once"),
        ("[]", "health_fund.hospital_levels.value", "at least 1 item"),
        ('["1", 2]', "health_fund.hospital_levels.value.0", "valid integer"),
    ],
)
def test_a_bad_health_fund_hospital_level_list_is_refused(
    data_dir: Path, levels: str, field: str, reason: str
) -> None:
    edit(
        data_dir / TOML_220000_2019,
        "hospital_levels = { value = [1, 2]",
        f"hospital_levels = {{ value = {levels}",
    )
    assert_reported(refusal(data_dir), TOML_220000_2019, field, reason)


@pytest.mark.parametrize(
    ("groups", "field", "reason"),
    [
        (
            '["registered_poor", "dibao", "registered_poor"]',
            "health_fund.groups.value",
            "registered_poor listed more than once",
        ),
        ("[]", "health_fund.groups.value", "at least 1 item"),
        ('["orphan"]', "health_fund.groups.value.0", "Input should be"),
    ],
)
def test_a_bad_health_fund_group_list_is_refused(
    data_dir: Path, groups: str, field: str, reason: str
) -> None:
    edit(
        data_dir / TOML_220000_2019,
        'groups = { value = ["registered_poor"]',
        f"groups = {{ value = {groups}",
    )
    assert_reported(refusal(data_dir), TOML_220000_2019, field, reason)


def test_a_health_fund_without_a_reference_is_refused(data_dir: Path) -> None:
    path = data_dir / TOML_220000_2019
    line = path.read_text(encoding="utf-8").splitlines()[line_of(path, "selfpay_ratio_max") - 1]
    reference = line[line.index(', reference = "') : line.rindex(" }")]
    edit(path, line, line.replace(reference, ""))
    assert_reported(
        refusal(data_dir),
        TOML_220000_2019,
        "health_fund.selfpay_ratio_max.reference",
        "Field required",
    )


# --- refusals: rule data in the catalog CSV -----------------------------------------------


@pytest.mark.parametrize(
    ("code", "values", "fragments"),
    [
        ("G0001", {"gender": "unknown"}, ("gender", "'unknown' is not male or female")),
        ("G0002", {"gender": "F"}, ("gender", "'F' is not male or female")),
        ("P0002", {"age_min": "-1"}, ("age_min", "greater than or equal to 0")),
        ("P0001", {"age_max": "1.5"}, ("age_max", "valid integer")),
        ("P0001", {"age_max": "200"}, ("age_max", "less than or equal to 150")),
        ("P0002", {"age_min": "70", "age_max": "60"}, ("age_min 70 is above age_max 60",)),
        ("M0001", {"max_quantity": "0"}, ("max_quantity", "0 is not positive")),
        ("M0001", {"max_quantity": "0.00001"}, ("max_quantity", "more than 4 decimals")),
        ("M0001", {"max_quantity": "-3"}, ("max_quantity", "negative")),
        ("S0001", {"per_day": "yes"}, ("per_day", "'yes' is not true")),
        ("S0003", {"per_day": "false"}, ("per_day", "'false' is not true")),
    ],
)
@pytest.mark.parametrize("catalog", [CATALOG_220000, CATALOG_210000])
def test_malformed_rule_data_is_refused_naming_the_file_and_line(
    data_dir: Path, catalog: str, code: str, values: dict[str, str], fragments: tuple[str, ...]
) -> None:
    line = set_rule_data(data_dir / catalog, code, **values)
    assert_reported(refusal(data_dir), catalog, f"line {line}:", *fragments)


def test_rule_data_on_an_item_without_any_loads_as_its_rules(data_dir: Path) -> None:
    set_rule_data(data_dir / CATALOG_210000, "A0001", gender="female", max_quantity="2.5")
    item = tariff_of(load_tariffs(data_dir).book, "210000-2018").catalog["A0001"]
    assert item.rules == ItemRules(gender=Gender.FEMALE, max_quantity_units=25_000)


def test_a_catalog_with_the_old_eight_column_header_is_refused(data_dir: Path) -> None:
    edit(data_dir / CATALOG_210000, ",gender,age_min,age_max,per_day,max_quantity\n", "\n")
    assert_reported(refusal(data_dir), CATALOG_210000, "line 1", "header must be", "max_quantity")
