"""Hostile bodies for the detail reconciliation (issue 11, items 1, 4 and 5): each refused early
with a 4xx naming its place, never a 500, with the server's memory bounded whatever the input.

The memory tests run a real server in a subprocess (tests/support/server.py) and read its peak
resident set size (VmHWM) before and after the bodies: a body nested 100,000 levels deep once
took the process to ~16 GB. The strict-parsing tests use the in-process client.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.services.reconciliation import CSV_LINE_CHARS_MAX, TOKEN_CHARS_MAX
from tests.api.routes.test_hostile_input import RECORD
from tests.support.db import row_counts
from tests.support.server import Server, start_server, stop_server
from tests.support.world import World

PROBLEM_JSON = "application/problem+json"
MIB = 1024 * 1024
PEAK_GROWTH_BYTES_MAX = 50 * MIB
"""How much the server's peak RSS may grow over all the hostile bodies together. Each is a
problem answer of a few hundred bytes; before the fix, 16,000 levels alone added ~600 MB."""
HEALTHY_WITHIN_SECONDS = 1.0
PERIOD = {"date_from": "2018-01-01", "date_to": "2018-12-31"}
PATH = "/v1/reconciliation/detail"
HEADER = "settlement_id,claim_id,status,total,fund_total,patient_pay"
CSV_LINE = ",".join(RECORD.values())


def nested(depth: int) -> bytes:
    """The attack of issue 11 item 1: `{"records":` + `[` × depth + `]` × depth + `}`."""
    return b'{"records":' + b"[" * depth + b"]" * depth + b"}"


def as_json(document: Any) -> bytes:
    return json.dumps(document).encode()


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def answers_health_within_a_second(base_url: str) -> bool:
    started = time.monotonic()
    response = httpx.get(f"{base_url}/healthz", timeout=HEALTHY_WITHIN_SECONDS)
    return response.status_code == 200 and time.monotonic() - started < HEALTHY_WITHIN_SECONDS


def problems(response: httpx.Response) -> list[tuple[list[Any], str]]:
    assert response.status_code < 500, response.text[:2000]
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.text[:2000]
    return [(error["loc"], error["code"]) for error in response.json()["errors"]]


# ---------------------------------------------------------------- a real server, its memory


@dataclass(frozen=True)
class Served:
    server: Server
    key: str
    log_path: Path


@pytest.fixture
def served(database_url: str, world: World, tmp_path: Path) -> Iterator[Served]:
    log_path = tmp_path / "server.log"
    server = start_server(database_url, log_path=log_path)
    try:
        yield Served(server, world.keys.hospital[world.hospitals[3]], log_path)
    finally:
        stop_server(server)


@dataclass(frozen=True)
class Bomb:
    name: str
    body: bytes
    content_type: str
    status: int
    problem: tuple[list[Any], str]
    """One (loc, code) the answer must list."""


BOMBS = [
    Bomb("16,000 nested arrays", nested(16_000), "application/json", 422,
         (["records", 0], "nesting_too_deep")),
    Bomb("100,000 nested arrays", nested(100_000), "application/json", 422,
         (["records", 0], "nesting_too_deep")),
    Bomb("100,000 nested objects in a record",
         b'{"records": [{"total": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}]}",
         "application/json", 422, (["records", 0, "total"], "nesting_too_deep")),
    Bomb("a 20 MB string in a record",
         b'{"records": [{"claim_id": "' + b"x" * (20 * MIB) + b'"}]}', "application/json", 422,
         (["records", 0, "claim_id"], "value_too_long")),
    Bomb("a 20 MB number in a record",
         b'{"records": [{"total": 1' + b"0" * (20 * MIB) + b"}]}", "application/json", 422,
         (["records", 0, "total"], "value_too_long")),
    Bomb("a 20 MB key at the top", b'{"' + b"k" * (20 * MIB) + b'": 1}', "application/json", 422,
         (["body"], "value_too_long")),
    Bomb("a csv of 20 MB with CR line ends",
         ((HEADER + "\r" + CSV_LINE + "\r") * (20 * MIB // 150)).encode(), "text/csv", 422,
         (["records", "header"], "line_too_long")),
    Bomb("a csv field of 20 MB", f"{HEADER}\n{CSV_LINE}\nS1,{'x' * 20 * MIB},settled\n".encode(),
         "text/csv", 422, (["records", 1], "line_too_long")),
]  # fmt: skip


def test_hostile_bodies_leave_the_servers_peak_memory_bounded_and_it_answers_at_once(
    served: Served, settings: Settings
) -> None:
    base_url, pid = served.server.base_url, served.server.process.pid
    headers = {"Authorization": f"Bearer {served.key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        warm = client.post(PATH, params=PERIOD, json={"records": [RECORD]})
        assert warm.status_code == 200, warm.text  # every code path loaded before the baseline
        before_rows = row_counts(settings)
        baseline = peak_rss_bytes(pid)
        for bomb in BOMBS:
            response = client.post(
                PATH, params=PERIOD, content=bomb.body, headers={"Content-Type": bomb.content_type}
            )
            assert response.status_code == bomb.status, (bomb.name, response.text[:2000])
            assert bomb.problem in problems(response), (bomb.name, response.text[:2000])
            growth = peak_rss_bytes(pid) - baseline
            assert growth < PEAK_GROWTH_BYTES_MAX, f"{bomb.name}: peak grew {growth / MIB:.0f} MiB"
            assert answers_health_within_a_second(base_url), bomb.name
            print(f"\n{bomb.name}: peak grew {growth / MIB:.1f} MiB")
    assert row_counts(settings) == before_rows
    log = served.log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-4_000:]
    assert "unexpected error" not in log, log[-4_000:]


# ---------------------------------------------------------------- in process: strict parsing


def post(
    client: TestClient, world: World, body: bytes, content_type: str = "application/json",
    **params: str,
) -> httpx.Response:  # fmt: skip
    headers = {**world.hospital_headers(3), "Content-Type": content_type}
    response: httpx.Response = client.post(
        PATH, params={**PERIOD, **params}, content=body, headers=headers
    )
    return response


def records_with(**changes: str) -> bytes:
    return as_json({"records": [{**RECORD, **changes}]})


LOOSE_AMOUNTS = [
    "２４１００.００", " 24100.00", "24100.00 ", "1_000.00", "1E+5", "1e5", "24100", "24100.0",
    "24100.000", "+24100.00", ".50", "24,100.00", "NaN", "Infinity", "0x10.00", "1" * 16 + ".00",
    "24100.00\n", "٢٤١٠٠.٠٠",
]  # fmt: skip


@pytest.mark.parametrize("amount", LOOSE_AMOUNTS)
@pytest.mark.parametrize("body", ["json", "csv"])
def test_an_amount_not_written_exactly_as_the_contract_writes_money_is_refused(
    client: TestClient, world: World, settings: Settings, amount: str, body: str
) -> None:
    before = row_counts(settings)
    refused: tuple[list[Any], str] = (["records", 0, "total"], "invalid_amount")
    if body == "json":
        response = post(client, world, records_with(total=amount))
    else:
        buffer = io.StringIO()
        record = [*RECORD.values()]
        record[3] = amount
        csv.writer(buffer, lineterminator="\n").writerows([HEADER.split(","), record])
        response = post(client, world, buffer.getvalue().encode(), "text/csv")
        if "\n" in amount:  # quoted over two lines: no CSV record of the service spans lines
            refused = (["records", 0], "csv_invalid")
    assert response.status_code == 422, response.text
    assert refused in problems(response)
    assert row_counts(settings) == before


@pytest.mark.parametrize("amount", ["24100.00", "0.00", "-12.05", "9" * 15 + ".99"])
def test_an_amount_written_as_the_contract_writes_money_is_taken(
    client: TestClient, world: World, amount: str
) -> None:
    response = post(client, world, records_with(total=amount))
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["hospital"]["total"] == amount


@pytest.mark.parametrize("name", ["settlement_id", "claim_id"])
@pytest.mark.parametrize("value", [".", "..", ".hidden", "a/b", "x" * 65, "", "ＳＴ1"])
def test_an_id_outside_the_contracts_pattern_is_refused(
    client: TestClient, world: World, name: str, value: str
) -> None:
    response = post(client, world, records_with(**{name: value}))
    assert response.status_code == 422, response.text
    assert (["records", 0, name], "invalid_id") in problems(response)


def test_a_key_given_twice_in_a_record_is_refused_naming_the_key(
    client: TestClient, world: World, settings: Settings
) -> None:
    before = row_counts(settings)
    body = b'{"records": [' + as_json(RECORD)[:-1] + b', "total": "1.00"}]}'
    response = post(client, world, body)
    assert response.status_code == 422, response.text
    assert problems(response) == [(["records", 0, "total"], "duplicate_key")]
    assert row_counts(settings) == before


def test_the_records_key_given_twice_is_refused_naming_the_key(
    client: TestClient, world: World
) -> None:
    response = post(client, world, b'{"records": [], "records": ' + records_with()[12:])
    assert response.status_code == 422, response.text
    assert problems(response) == [(["body", "records"], "duplicate_key")]


def test_every_unknown_top_level_key_is_refused_by_name(client: TestClient, world: World) -> None:
    body = b'{"meta": {"source": "his"}, "records": [' + as_json(RECORD) + b'], "x": [1, 2]}'
    response = post(client, world, body)
    assert response.status_code == 422, response.text
    assert problems(response) == [
        (["body", "meta"], "extra_forbidden"),
        (["body", "x"], "extra_forbidden"),
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"records": [{"total": ["24100.00"]}]}', (["records", 0, "total"], "nesting_too_deep")),
        (b'{"records": [{"total": {}}]}', (["records", 0, "total"], "nesting_too_deep")),
        (b'{"records": [[[]]]}', (["records", 0], "nesting_too_deep")),
        (b'{"records": [{}, [{}]]}', (["records", 1], "nesting_too_deep")),
        (b'{"x": {"y": {"z": {}}}, "records": []}', (["body", "x"], "nesting_too_deep")),
        (b'{"records": {"a": {"b": []}}}', (["body", "records"], "nesting_too_deep")),
    ],
)
def test_anything_nested_deeper_than_the_records_shape_is_refused_naming_its_place(
    client: TestClient, world: World, body: bytes, problem: tuple[list[Any], str]
) -> None:
    response = post(client, world, body)
    assert response.status_code == 422, response.text
    assert problem in problems(response)


def test_the_problems_of_the_records_before_a_body_too_deep_are_listed_with_it(
    client: TestClient, world: World
) -> None:
    bad = {**RECORD, "status": "paid"}
    body = b'{"records": [' + as_json(bad) + b', {"total": [1]}]}'
    response = post(client, world, body)
    assert problems(response) == [
        (["records", 0, "status"], "invalid_status"),
        (["records", 1, "total"], "nesting_too_deep"),
    ]


def test_a_value_longer_than_any_field_needs_is_refused_before_it_is_read_whole(
    client: TestClient, world: World
) -> None:
    too_long = post(client, world, records_with(claim_id="x" * (TOKEN_CHARS_MAX + 1)))
    assert problems(too_long) == [(["records", 0, "claim_id"], "value_too_long")]
    long_id = post(client, world, records_with(claim_id="x" * TOKEN_CHARS_MAX))
    assert problems(long_id) == [(["records", 0, "claim_id"], "invalid_id")]
    escaped = post(client, world, records_with(claim_id="\n" * TOKEN_CHARS_MAX))
    assert problems(escaped) == [(["records", 0, "claim_id"], "invalid_id")]


def test_a_record_of_many_fields_is_refused_without_reading_them_all(
    client: TestClient, world: World
) -> None:
    record = {**RECORD, **{f"f{n}": "x" for n in range(10_000)}}
    response = post(client, world, as_json({"records": [record]}))
    found = problems(response)
    assert (["records", 0], "too_many_fields") in found
    assert len(found) < 20, found


@pytest.mark.parametrize(
    "date_from", ["2018-01-01T00:00:00", "1514764800", "2018-1-1", "20180101", "2018-01-01Z"]
)
def test_a_query_date_not_written_yyyy_mm_dd_is_refused(
    client: TestClient, world: World, date_from: str
) -> None:
    response = post(client, world, b'{"records": []}', date_from=date_from)
    assert response.status_code == 422, response.text
    assert (["query", "date_from"], "date_format") in problems(response)


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (f"{HEADER}\r{CSV_LINE}\r", (["records", "header"], "csv_invalid")),
        (f"{HEADER}\n{CSV_LINE}\rS2,C2,settled,1.00,1.00,0.00\n", (["records", 0], "csv_invalid")),
        (f"{HEADER}\nS1,{'x' * 131_073},settled,1.00,1.00,0.00\n", (["records", 0], "line_too_long")),
        (f"{HEADER}\n{'x' * (CSV_LINE_CHARS_MAX + 1)}", (["records", 0], "line_too_long")),
        (f'{HEADER}\nS1,"C1"x,settled,1.00,1.00,0.00\n', (["records", 0], "csv_invalid")),
        (f'{HEADER}\nS1,"C1\nC2",settled,1.00,1.00,0.00\n', (["records", 0], "csv_invalid")),
        ("x" * (CSV_LINE_CHARS_MAX + 1), (["records", "header"], "line_too_long")),
    ],
    ids=["cr line ends", "a cr inside a line", "a field of 131,073 characters",
         "a last line too long", "text after a closing quote", "a quoted line end", "a long header"],
)  # fmt: skip
def test_a_malformed_csv_is_a_422_naming_the_line_and_logs_nothing(
    client: TestClient,
    world: World,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    body: str,
    problem: tuple[list[Any], str],
) -> None:
    before = row_counts(settings)
    response = post(client, world, body.encode(), "text/csv")
    assert response.status_code == 422, response.text
    assert problem in problems(response)
    assert "line" in response.json()["errors"][0]["msg"]
    assert row_counts(settings) == before
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_every_bad_csv_line_is_named_not_only_the_first(client: TestClient, world: World) -> None:
    lines = [HEADER, "x" * 2_000, CSV_LINE, "a,b", 'S3,"C3"x,settled,1.00,1.00,0.00']
    response = post(client, world, "\n".join(lines).encode(), "text/csv")
    assert problems(response) == [
        (["records", 0], "line_too_long"),
        (["records", 2], "invalid_row"),
        (["records", 3], "csv_invalid"),
    ]
    assert [error["msg"][:7] for error in response.json()["errors"]] == [
        "line 2 ",
        "line 4:",
        "line 5:",
    ]


# ---------------------------------------------------------------- the CSV answer


def test_the_csv_answer_neutralises_a_hospitals_id_that_a_spreadsheet_would_run(
    client: TestClient, world: World
) -> None:
    record = {**RECORD, "settlement_id": "-2-1", "claim_id": "-cmd"}
    response = post(client, world, as_json({"records": [record]}), format="csv")
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[1][:3] == ["missing_in_engine", "'-2-1", "'-cmd"]
    assert rows[1][3:7] == ["settled", "24100.00", "19195.10", "4904.90"]


def test_records_of_the_largest_amount_add_up_exactly_without_overflowing_the_database(
    client: TestClient, world: World
) -> None:
    largest = "9" * 15 + ".99"
    records = [{**RECORD, "settlement_id": f"SMAX{n:03d}", "total": largest} for n in range(100)]
    response = post(client, world, as_json({"records": records}))
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["hospital_records_total"] == "99999999999999999.00"
