"""Engine fixtures: the worked examples E1 and E2 settled once for the tests that read them."""

from __future__ import annotations

from datetime import date

import pytest

from settlement.engine import settle
from settlement.model import Accumulators, Group
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import example_claim, person


@pytest.fixture(scope="session")
def e1(book: TariffBook) -> Settlement:
    """E1: no group, level-3 hospital, first admission of 2018, C34.1 with surgery: only basic
    insurance pays; the other three funds pay zero."""
    result = settle(example_claim(), person(), 3, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result
    return result


@pytest.fixture(scope="session")
def e2(book: TariffBook) -> Settlement:
    """E2: dibao since 2017-01-01, level 3, first admission, C34.1 (lung cancer), surgery:
    every fund pays, and together they pay the whole in-scope amount."""
    dibao = person(Group.DIBAO, valid_from=date(2017, 1, 1))
    result = settle(example_claim(), dibao, 3, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result
    return result
