"""`onestop ledger verify` on both databases: exit 0 and the counts of what it checked on a
sound ledger; exit 1 naming the row after a corruption planted behind the service's back.

The corruptions (tests/support/ledger.py) are planted on the test's own rows, in policy year
2019, and undone after; what `api.services.ledger.verify` finds for each is asserted exactly in
tests/api/services/test_ledger.py. Here: what the command prints and its exit status.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from api.cli import app
from api.cli.ledger import EXIT_LEDGER_DIFFERS
from api.core.config import Settings
from api.db.engine import make_engine
from tests.support.ledger import (
    ACCUMULATOR,
    CORRUPTIONS,
    POSTINGS,
    SETTLEMENT,
    YEAR,
    count,
    settle_and_reverse_a_few,
)
from tests.support.world import World

CHECKED = re.compile(r"(\d+) accumulators, (\d+) settlements, (\d+) postings")

runner = CliRunner()


def _onestop(settings: Settings, *args: str) -> Result:
    return runner.invoke(
        app, list(args), env={"ONESTOP_DATABASE_URL": settings.database_url, "COLUMNS": "300"}
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def test_ledger_verify_passes_after_settlements_and_reversals_and_counts_what_it_checked(
    world: World, settings: Settings, engine: Engine
) -> None:
    settle_and_reverse_a_few(world)

    result = _onestop(settings, "ledger", "verify")
    assert result.exit_code == 0, result.output
    assert "no differences" in result.output
    checked = CHECKED.search(result.output)
    assert checked is not None, result.output
    assert tuple(map(int, checked.groups())) == (
        count(engine, ACCUMULATOR),
        count(engine, SETTLEMENT),
        count(engine, POSTINGS),
    )

    in_year = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
    assert in_year.exit_code == 0, in_year.output
    checked = CHECKED.search(in_year.output)
    assert checked is not None, in_year.output
    assert tuple(map(int, checked.groups())) == (
        count(engine, ACCUMULATOR, YEAR),
        count(engine, SETTLEMENT, YEAR),
        count(engine, POSTINGS, YEAR),
    )
    assert int(checked.group(2)) >= 5  # this test's own settlements of the year


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_ledger_verify_exits_1_and_names_the_row_of_a_corruption_planted_behind_its_back(
    world: World, settings: Settings, engine: Engine, corruption: str
) -> None:
    with CORRUPTIONS[corruption](world, engine) as planted:
        result = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
        assert result.exit_code == EXIT_LEDGER_DIFFERS, result.output
        for shown in planted.shown:
            assert shown in result.output
        other_year = _onestop(settings, "ledger", "verify", "--year", str(YEAR - 1))
        assert planted.shown[0] not in other_year.output
    after = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
    assert planted.shown[0] not in after.output
