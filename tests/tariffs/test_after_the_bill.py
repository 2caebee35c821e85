"""The tariff sections of rules §15–16: `[pay_later]` (先诊疗后付费) and `[burden_alert]`
(高额医疗费用预警), as DEFAULT_TARIFF.md's sample parameters give them, and every value
`onestop tariffs check` must refuse, each named by file, field and reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from settlement.model import Group
from settlement.tariff import BurdenAlertPolicy, PayLaterPolicy, TariffBook
from tariffs import DEFAULT_TARIFF_DIR, load_tariffs
from tests.tariffs.test_loader import assert_reported, edit, refusal, tariff_of

TOML_2018 = str(Path("220000") / "220000-2018.toml")
TOML_2019 = str(Path("220000") / "220000-2019.toml")
TOML_210000 = str(Path("210000") / "210000-2018.toml")
SAMPLE_PAY_LATER = PayLaterPolicy(
    groups=frozenset({Group.DESTITUTE, Group.DIBAO, Group.REGISTERED_POOR}),
    hospital_level_max=2,
    installments_max=12,
    months_max=12,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DEFAULT_TARIFF_DIR, target)
    return target


@pytest.mark.parametrize("version", ["220000-2018", "220000-2019"])
def test_both_220000_versions_let_the_three_groups_pay_later_at_county_level(
    book: TariffBook, version: str
) -> None:
    assert tariff_of(book, version).pay_later == SAMPLE_PAY_LATER


def test_210000_has_no_pay_later_section(book: TariffBook) -> None:
    assert tariff_of(book, "210000-2018").pay_later is None


@pytest.mark.parametrize(
    ("version", "threshold_fen"),
    [("220000-2018", 5000_00), ("220000-2019", 5500_00), ("210000-2018", 6000_00)],
)
def test_each_shipped_version_has_its_sample_threshold(
    book: TariffBook, version: str, threshold_fen: int
) -> None:
    assert tariff_of(book, version).burden_alert == BurdenAlertPolicy(threshold_fen)


def test_the_shipped_sections_are_labelled_as_samples() -> None:
    for name in (TOML_2018, TOML_2019, TOML_210000):
        text = (DEFAULT_TARIFF_DIR / name).read_text(encoding="utf-8")
        section = text[text.index("[burden_alert]") :]
        assert "sample" in section
        if name != TOML_210000:
            assert "sample" in text[text.index("[pay_later]") : text.index("[burden_alert]")]


def test_without_the_sections_nobody_may_defer_and_no_alert_is_raised(data_dir: Path) -> None:
    path = data_dir / TOML_2018
    text = path.read_text(encoding="utf-8")
    edit(path, text[text.index("[pay_later]") :], "")
    version = tariff_of(load_tariffs(data_dir).book, "220000-2018")
    assert (version.pay_later, version.burden_alert) == (None, None)


GROUPS = '["destitute", "dibao", "registered_poor"], description = "Groups who may defer'
THRESHOLD = '"5000.00"'


@pytest.mark.parametrize(
    ("name", "old", "new", "reason"),
    [
        ("hospital_level_max", "2", "0", "greater than or equal to 1"),
        ("hospital_level_max", "2", "4", "less than or equal to 3"),
        ("installments_max", "12", "0", "greater than or equal to 1"),
        ("months_max", "12", "0", "greater than or equal to 1"),
        ("months_max", "12", '"12"', "valid integer"),
        ("groups", GROUPS, GROUPS.replace('"destitute", "dibao", "registered_poor"', ""), "at least 1"),
        ("groups", GROUPS, GROUPS.replace('"destitute"', '"dibao"'), "dibao listed more than once"),
        ("groups", GROUPS, GROUPS.replace('"destitute"', '"poor"'), "Input should be"),
        ("threshold", THRESHOLD, '"-1.00"', "'-1.00' is negative"),
        ("threshold", THRESHOLD, '"5000.001"', "more than 2 decimals"),
        ("threshold", THRESHOLD, "5000.00", "as a string"),
    ],
)  # fmt: skip
def test_a_bad_value_in_the_sections_is_refused_naming_file_field_and_reason(
    data_dir: Path, name: str, old: str, new: str, reason: str
) -> None:
    edit(data_dir / TOML_2018, f"{name} = {{ value = {old}", f"{name} = {{ value = {new}")
    section = "burden_alert" if name == "threshold" else "pay_later"
    assert_reported(refusal(data_dir), TOML_2018, f"{section}.{name}.value", reason)


def test_an_unknown_key_in_a_section_is_refused(data_dir: Path) -> None:
    edit(data_dir / TOML_2018, "[burden_alert]\n", "[burden_alert]\nlimit = 1\n")
    assert_reported(refusal(data_dir), TOML_2018, "burden_alert.limit", "Extra inputs")
