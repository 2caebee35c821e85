"""The reference HIS client (examples/his_client.py) runs a whole stay against a live
`onestop serve`, on SQLite and, when ONESTOP_TEST_PG_URL is set, on PostgreSQL.

The fixtures are this module's own (the API suite's are in tests/api/conftest.py): a fresh,
migrated database per backend, a `World` (hospitals and keys) made through an in-process app on
it, and the service in a subprocess on the same database, which the client reaches over HTTP.
Each test registers a dibao patient with an identity number of its own, so that 1101 finds
exactly one person.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.main import create_app
from examples import his_client
from tests.support.db import migrated_database
from tests.support.server import Server, serving
from tests.support.world import World, id_number, make_world

E2_FUND_TOTAL = Decimal("19195.10")
E2_PATIENT_PAY = Decimal("4904.90")
"""Worked example E2 (the client's bill, a dibao patient's lung-cancer surgery at level 3)."""
PATIENTS = itertools.count(1)
"""The sequence in each new patient's ID number (the databases are fresh: no other has it)."""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    sqlite_path = tmp_path_factory.mktemp("sqlite") / "onestop.db"
    with migrated_database(request.param, sqlite_path, "onestop_his") as url:
        yield url


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[World]:
    settings = Settings(database_url=database_url, key_cache_seconds=0)
    with TestClient(create_app(settings)) as client:
        yield make_world(client, settings)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    with serving(database_url) as running:
        yield running


def patient(world: World) -> tuple[str, str]:
    """A newly registered dibao patient insured in 220000: (ID number, name)."""
    number = id_number(f"22010219580817{next(PATIENTS):03d}")
    name = f"患者{world.tag}{secrets.token_hex(2)}"
    response = world.client.put(
        f"/v1/persons/P{world.tag}{secrets.token_hex(3)}",
        json={
            "name": name,
            "id_number": number,
            "birth_date": "1958-08-17",
            "gender": "female",
            "insured_region": "220000",
            "statuses": [{"group": "dibao", "valid_from": "2017-01-01", "valid_to": None}],
        },
        headers=world.auth(world.keys.admin),
    )
    assert response.status_code == 201, response.text
    return number, name


def stay(world: World, server: Server, *, keep: bool) -> dict[str, Any]:
    hospital = world.hospitals[3]
    number, name = patient(world)
    return his_client.run_stay(
        server.base_url, world.keys.hospital[hospital], hospital, number, name, keep
    )


def funds_paid(output: dict[str, Any]) -> Decimal:
    return sum((row["fund_payamt"] for row in output["setldetail"]), Decimal("0.00"))


def test_the_client_settles_a_whole_stay_and_cancels_it(world: World, server: Server) -> None:
    answers = stay(world, server, keep=False)

    assert [len(upload["result"]) for upload in answers["2301"]] == [2, 3, 3]
    settled = answers["2304"]
    info = settled["setlinfo"]
    assert info["medfee_sumamt"] == Decimal("24100.00")
    assert info["fund_pay_sumamt"] == funds_paid(settled) == E2_FUND_TOTAL
    assert info["psn_cash_pay"] == E2_PATIENT_PAY
    assert "999997" in {row["fund_pay_type"] for row in settled["setldetail"]}  # charity
    assert all(isinstance(row["fund_payamt"], Decimal) for row in settled["setldetail"])
    assert answers["2303"]["setlinfo"]["fund_pay_sumamt"] == E2_FUND_TOTAL
    assert answers["5203"]["setlinfo"]["fund_pay_sumamt"] == E2_FUND_TOTAL

    cancelled = answers["2305"]["setlinfo"]
    assert cancelled["fund_pay_sumamt"] == -E2_FUND_TOTAL
    platform = his_client.Platform(
        server.base_url, world.keys.hospital[world.hospitals[3]], world.hospitals[3]
    )
    ref = {"psn_no": info["psn_no"], "setl_id": info["setl_id"], "mdtrt_id": info["mdtrt_id"]}
    queried = platform.call("5203", {"data": ref})
    assert queried["setlinfo"]["medfee_sumamt"] == Decimal("-24100.00")
    assert queried["setlinfo"]["fund_pay_sumamt"] == funds_paid(queried) == -E2_FUND_TOTAL
    assert queried["setlinfo"]["psn_cash_pay"] == -E2_PATIENT_PAY
    assert all(row["fund_payamt"] < 0 for row in queried["setldetail"])


def test_with_keep_the_settlement_stays(world: World, server: Server) -> None:
    answers = stay(world, server, keep=True)

    assert "2305" not in answers
    info = answers["2304"]["setlinfo"]
    platform = his_client.Platform(
        server.base_url, world.keys.hospital[world.hospitals[3]], world.hospitals[3]
    )
    ref = {"psn_no": info["psn_no"], "setl_id": info["setl_id"], "mdtrt_id": info["mdtrt_id"]}
    assert platform.call("5203", {"data": ref})["setlinfo"]["fund_pay_sumamt"] == E2_FUND_TOTAL
    assert "结算单" in his_client.slip(answers["2304"])


def test_a_refused_message_stops_the_client_with_its_err_msg_and_exit_1(
    world: World, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    number, name = patient(world)
    other = world.hospitals[2]  # not the key's hospital
    key = world.keys.hospital[world.hospitals[3]]
    argv = ["--base-url", server.base_url, "--key", key, "--hospital", other]
    argv += ["--id-number", number, "--name", name]

    assert his_client.main(argv) == 1
    assert f"fixmedins_code: {other} is not this key's hospital" in capsys.readouterr().err


def test_the_clients_corrections_cancel_and_correct_on_the_way_and_the_bill_is_the_same(
    world: World, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """--cancel-admission, --correct-begntime and --cancel-discharge (2404, 2403, 2405): the
    stay still settles as worked example E2, admitted on its first day."""
    number, name = patient(world)
    hospital = world.hospitals[3]
    argv = ["--base-url", server.base_url, "--key", world.keys.hospital[hospital]]
    argv += ["--hospital", hospital, "--id-number", number, "--name", name, "--keep"]
    argv += [f"--{option}" for option in his_client.CORRECTIONS]

    assert his_client.main(argv) == 0
    printed = capsys.readouterr().out
    for told in ("2404 cancelled", "2403 corrected the admission from 2018-03-02 08:00:00 to "
                 "2018-03-01 08:00:00", "2405 cancelled the discharge"):  # fmt: skip
        assert told in printed
    assert f"{E2_FUND_TOTAL:>12}  基金支付 fund_pay_sumamt" in printed
