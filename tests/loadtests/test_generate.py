"""The claim generator: reproducible by seed, the load test's mix (cross-region stays with a
filing, claims that break a rule, health-fund stays in 2019), and every claim it makes settles
through the engine against the person and hospital it was made for."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from functools import cache

from loadtests.claims import DEFAULT_MIX, SeededPopulation, population_hospital, priced_catalogs
from loadtests.generate import (
    Hospital,
    Mix,
    PersonPool,
    Persons,
    Stay,
    generate_stay,
    skewed_line_count,
)
from settlement.engine import settle
from settlement.model import Accumulators, Filing, Gender, Group, Person, Status
from settlement.result import FindingAction, Settlement
from tariffs import load_default

LOADED = load_default()
CATALOGS = priced_catalogs(LOADED)
HOSPITALS = tuple(population_hospital(f"LH{index:04d}") for index in range(10))
POPULATION = SeededPopulation(100_000)
SAMPLE = 2_000
JILIN_LEVEL_2 = Hospital("LH0001", 2, "220000")


def _stays(
    seed: int,
    count: int,
    *,
    mix: Mix = DEFAULT_MIX,
    persons: Persons = POPULATION,
    hospitals: tuple[Hospital, ...] = HOSPITALS,
    lines: int | None = None,
) -> list[Stay]:
    rng = random.Random(seed)
    return [
        generate_stay(
            rng,
            CATALOGS,
            hospitals[rng.randrange(len(hospitals))],
            persons,
            claim_id=f"C{index}",
            line_count=skewed_line_count(rng) if lines is None else lines,
            mix=mix,
        )
        for index in range(count)
    ]


def _settle(stay: Stay) -> Settlement:
    """The stay settled by the engine, as the service would: its hospital's level and region."""
    result = settle(
        stay.claim, stay.person, stay.hospital.level, Accumulators(stay.claim.policy_year),
        LOADED.book, stay.hospital.region,
    )  # fmt: skip
    assert isinstance(result, Settlement), (stay, result)
    return result


@cache
def _sample() -> list[tuple[Stay, Settlement]]:
    """SAMPLE stays of the default mix at the seeded hospitals, each settled."""
    return [(stay, _settle(stay)) for stay in _stays(20181231, SAMPLE)]


def test_the_same_seed_gives_the_same_stays_and_another_seed_other_stays() -> None:
    assert _stays(7, 30) == _stays(7, 30)
    assert _stays(7, 30) != _stays(8, 30)


def test_every_claim_of_the_default_mix_settles_for_its_person_and_hospital() -> None:
    sample = _sample()
    assert len(sample) == SAMPLE
    assert any(settlement.totals.over_cap_selfpay_fen > 0 for _, settlement in sample)
    assert {stay.hospital.region for stay, _ in sample} == {"210000", "220000"}
    assert {stay.person.insured_region for stay, _ in sample} == {"210000", "220000"}


def test_about_a_tenth_of_the_stays_are_cross_region_and_carry_their_filing() -> None:
    sample = _sample()
    cross = [(stay, settlement) for stay, settlement in sample if stay.cross_region]
    assert 0.05 * SAMPLE <= len(cross) <= 0.15 * SAMPLE, len(cross)
    assert {stay.claim.filing for stay, _ in cross} == set(Filing)
    for stay, settlement in cross:
        assert settlement.filing is stay.claim.filing
        assert settlement.treatment_region == stay.hospital.region
        assert settlement.insured_region == stay.person.insured_region
        assert settlement.catalog_version.startswith(stay.hospital.region)
        assert settlement.totals.health_fund_fen == 0
    for stay, settlement in sample:
        if not stay.cross_region:
            assert stay.claim.filing is None
            assert settlement.filing is None


def test_a_few_percent_of_the_claims_break_a_rule_and_get_findings() -> None:
    sample = _sample()
    found = [settlement for _, settlement in sample if settlement.findings]
    assert 0.02 * SAMPLE <= len(found) <= 0.10 * SAMPLE, len(found)
    rules = Counter(finding.rule.value for settlement in found for finding in settlement.findings)
    assert set(rules) == {"R01", "R02", "R03", "R04"}, rules
    for settlement in found:
        for line in settlement.lines:
            on_line = [f.amount_fen for f in settlement.findings if f.line_no == line.line_no]
            assert sum(on_line) == line.refused_selfpay_fen
        assert settlement.totals.refused_selfpay_fen > 0


def test_health_fund_stays_are_discharged_in_2019_and_the_health_fund_pays_on_some() -> None:
    sample = _sample()
    eligible = [
        (stay, settlement)
        for stay, settlement in sample
        if stay.claim.policy_year == 2019
        and not stay.cross_region
        and stay.hospital.level in (1, 2)
        and settlement.group is Group.REGISTERED_POOR
        and settlement.tariff_version == "220000-2019"
    ]
    assert len(eligible) >= 20, len(eligible)
    assert {stay.claim.policy_year for stay, _ in sample} == {2018, 2019}
    paid = [settlement for _, settlement in eligible if settlement.totals.health_fund_fen > 0]
    assert paid, "the health fund should pay on some of its stays"
    for _, settlement in sample:
        if settlement.totals.health_fund_fen > 0:
            assert settlement.group is Group.REGISTERED_POOR


# ---------------------------------------------------------------- each knob forces its path

EDGE_PERSONS = PersonPool.of(
    [
        Person("PU", date(1980, 5, 5), "220000"),  # gender unknown: a gender item would warn
        Person("PN", date(2017, 12, 20), "220000", (), Gender.FEMALE),  # aged 0: P0001 allowed
        Person("PO", date(1930, 1, 1), "220000", (), Gender.MALE),  # over 60: P0002 allowed
        Person("PY", date(1990, 1, 1), "220000", (), Gender.MALE),  # under 60: P0002 not
    ]
)


def test_without_rule_breaking_no_claim_gets_a_finding_though_rule_items_are_billed() -> None:
    stays = _stays(
        3, 400, mix=Mix(rule_breaking_percent=0, cross_region_percent=0), persons=EDGE_PERSONS,
        hospitals=(JILIN_LEVEL_2,), lines=40,
    )  # fmt: skip
    ruled = Counter[str]()
    for stay in stays:
        settlement = _settle(stay)
        assert settlement.findings == (), (stay.person, settlement.findings)
        catalog = LOADED.book.select("220000", stay.claim.discharge_date)
        assert catalog is not None
        for line in stay.claim.lines:
            if catalog.catalog[line.item_code].rules is not None:
                ruled[line.item_code] += 1
    assert set(ruled) == {"S0001", "S0003", "M0001", "G0001", "G0002", "P0001", "P0002"}, ruled


def test_with_every_claim_breaking_a_rule_every_claim_gets_a_refusal() -> None:
    stays = _stays(
        4, 200, mix=Mix(rule_breaking_percent=100), persons=EDGE_PERSONS, hospitals=HOSPITALS,
    )  # fmt: skip
    for stay in stays:
        settlement = _settle(stay)
        refusals = [f for f in settlement.findings if f.action is FindingAction.REFUSED]
        assert refusals, (stay.person, stay.claim.lines)
        assert settlement.totals.refused_selfpay_fen > 0


def test_with_every_stay_cross_region_each_names_a_filing_and_settles() -> None:
    stays = _stays(5, 200, mix=Mix(cross_region_percent=100))
    assert all(stay.cross_region for stay in stays)
    assert {stay.claim.filing for stay in stays} == set(Filing)
    for stay in stays:
        settlement = _settle(stay)
        assert settlement.filing is stay.claim.filing
        assert settlement.insured_region != settlement.treatment_region


def test_without_cross_region_stays_every_person_is_of_the_hospitals_region() -> None:
    stays = _stays(6, 300, mix=Mix(cross_region_percent=0))
    assert not any(stay.cross_region for stay in stays)
    assert all(stay.claim.filing is None for stay in stays)


def test_a_population_without_the_hospitals_region_gives_cross_region_stays() -> None:
    liaoning_only = PersonPool.of([Person("PL", date(1970, 1, 1), "210000", (), Gender.MALE)])
    stays = _stays(9, 20, mix=Mix(cross_region_percent=0), persons=liaoning_only,
                   hospitals=(JILIN_LEVEL_2,))  # fmt: skip
    assert all(stay.cross_region and stay.claim.filing is not None for stay in stays)
    for stay in stays:
        _settle(stay)


REGISTERED_POOR = PersonPool.of(
    [
        Person(
            f"PR{index}",
            date(1950 + index, 3, 1),
            "220000",
            (Status(Group.REGISTERED_POOR, date(2016, 1, 1), None),),
            Gender.FEMALE,
        )
        for index in range(5)
    ]
)


def test_health_fund_stays_all_move_to_2019_when_the_mix_says_so_and_the_fund_pays() -> None:
    mix = Mix(health_fund_percent=100, listed_percent=0, rule_breaking_percent=0)
    stays = _stays(10, 60, mix=mix, persons=REGISTERED_POOR, hospitals=(JILIN_LEVEL_2,), lines=10)
    assert all(stay.claim.policy_year == 2019 for stay in stays)
    paid = [_settle(stay).totals.health_fund_fen for stay in stays]
    assert sum(1 for fen in paid if fen > 0) >= len(paid) // 2, paid


def test_health_fund_stays_stay_in_2018_when_the_mix_says_none() -> None:
    stays = _stays(11, 40, mix=Mix(health_fund_percent=0), persons=REGISTERED_POOR,
                   hospitals=(JILIN_LEVEL_2,))  # fmt: skip
    assert all(stay.claim.policy_year == 2018 for stay in stays)


def test_stays_the_health_fund_does_not_cover_stay_in_2018() -> None:
    """Level 3, or another region's person, or no group: never moved to 2019."""
    level_3 = Hospital("LH0005", 3, "220000")
    mix = Mix(health_fund_percent=100, cross_region_percent=0)
    stays = _stays(12, 40, mix=mix, persons=REGISTERED_POOR, hospitals=(level_3,))
    stays += _stays(13, 40, mix=mix, persons=EDGE_PERSONS, hospitals=(JILIN_LEVEL_2,))
    assert all(stay.claim.policy_year == 2018 for stay in stays)
