"""`api.services.ledger`: `check` counts what it checked and finds nothing on a sound ledger;
`verify` names the exact row of each corruption planted behind the service's back.

The corruptions, and how they are kept from every other test of the shared database, are in
tests/support/ledger.py. The sound-ledger test verifies the whole database on purpose: every
settlement and reversal any test made through the service must balance, and it would catch a
planted row that was not restored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from api.core.config import Settings
from api.db.engine import make_engine
from api.services.ledger import check, verify
from tests.support.ledger import (
    ACCUMULATOR,
    CORRUPTIONS,
    POSTINGS,
    SETTLEMENT,
    YEAR,
    count,
    ours,
    settle_and_reverse_a_few,
)
from tests.support.world import World


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def test_a_sound_ledger_has_no_difference_and_the_check_counts_every_row_it_read(
    world: World, engine: Engine
) -> None:
    settle_and_reverse_a_few(world)

    report = check(engine, None)
    assert report.balanced, report.differences[:20]
    assert (report.accumulators, report.settlements, report.postings) == (
        count(engine, ACCUMULATOR),
        count(engine, SETTLEMENT),
        count(engine, POSTINGS),
    )
    in_year = check(engine, YEAR)
    assert in_year.balanced, in_year.differences[:20]
    assert (in_year.accumulators, in_year.settlements, in_year.postings) == (
        count(engine, ACCUMULATOR, YEAR),
        count(engine, SETTLEMENT, YEAR),
        count(engine, POSTINGS, YEAR),
    )
    assert in_year.settlements >= 5  # this test's own settlements of the year
    assert verify(engine, None) == []


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corruption_planted_behind_the_services_back_is_named_by_exactly_its_differences(
    world: World, engine: Engine, corruption: str
) -> None:
    with CORRUPTIONS[corruption](world, engine) as planted:
        differences = verify(engine, YEAR)
        assert ours(differences, planted.key) == planted.differences
        if planted.message is not None:
            named = [d for d in differences if planted.key in d.where]
            assert any(planted.message in d.message for d in named), named
        assert ours(verify(engine, YEAR - 1), planted.key) == set()
    assert ours(verify(engine, YEAR), planted.key) == set()
