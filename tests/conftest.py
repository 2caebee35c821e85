"""Shared fixtures: the default tariffs, loaded once per test session."""

from __future__ import annotations

import pytest

from settlement.tariff import TariffBook
from tariffs import LoadedTariffs, load_default


@pytest.fixture(scope="session")
def default_tariffs() -> LoadedTariffs:
    return load_default()


@pytest.fixture(scope="session")
def book(default_tariffs: LoadedTariffs) -> TariffBook:
    return default_tariffs.book
