"""Contention: many clients settling and reversing for a handful of persons at once, and lock
waits that end in a clean 503 rather than a hang.

The service runs as `onestop serve` with several worker processes on PostgreSQL (they settle
in parallel, serialised per person by the accumulators' row lock) and two on SQLite (whose
writers BEGIN IMMEDIATE and wait up to the busy timeout). Client threads, released together,
settle new claims and reverse their own settlements for the four persons of one world.

Afterwards the stored settlements are replayed one by one, in the order they were stamped
(settling and reversing stamp under the person's lock, so that order is the lock's order),
with the pure engine: each must have been computed on exactly the accumulators that the
settlements and reversals before it left, so that no update is lost and no cap is passed;
the accumulators must end equal to the sum of the settled settlements' contributions; and
`api.services.ledger.check` must find no difference.

Then the lock wait: with ONESTOP_LOCK_WAIT_MS=200, a transaction of the test's own holds the
person's lock (PostgreSQL: SELECT … FOR UPDATE of the accumulator row; SQLite: BEGIN
IMMEDIATE) for about two seconds; a settlement and a reversal for that person must answer 503
with Retry-After and a problem+json body well within 1.5 s, write nothing, and go through
once the lock is released.

ONESTOP_CONTENTION_THREADS and ONESTOP_CONTENTION_OPERATIONS (per thread) size the first
test; ONESTOP_SOAK_SEED seeds the clients' choices.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, col

from api.core.config import Settings
from api.core.contract import ClaimIn, accumulators_json
from api.db.engine import make_engine
from api.db.rows import person_to_engine
from api.db.tables import Person, PersonStatus
from api.services.ledger import check
from settlement.engine import settle as engine_settle
from settlement.model import AccumulatorsFen, Group
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.support.db import row_counts
from tests.support.server import Server, serving
from tests.support.world import World


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


CONTENTION_THREADS = _env_int("ONESTOP_CONTENTION_THREADS", 12)
CONTENTION_OPERATIONS = _env_int("ONESTOP_CONTENTION_OPERATIONS", 20)
"""Operations per thread: settle a new claim, or reverse one of the thread's settlements."""
SEED = _env_int("ONESTOP_SOAK_SEED", 20180312)
WORKERS = {"postgresql": 4, "sqlite": 2}
REVERSE_SHARE = 0.3
BUSY_RETRIES_MAX = 100
"""A 503 for a busy lock is retried (after a short pause) at most this many times."""
BUSY_PAUSE_SECONDS = 0.1
REQUEST_TIMEOUT_SECONDS = 10.0

LOCK_WAIT_MS = 200
LOCK_HOLD_SECONDS = 2.0
ANSWER_WITHIN_SECONDS = 1.5
"""A request waiting on a held lock must be answered 503 within this (the wait is 200 ms)."""

YEAR = 2018
PERSON_GROUPS = ("none", "destitute", "dibao", "registered_poor")
QUANTITY_FACTORS = ("1", "2", "3")
"""E2's quantities are multiplied by one of these, so that the annual caps are reached."""
CENT = Decimal("0.01")
TOTAL_NAMES = (
    "total", "full_selfpay", "over_cap_selfpay", "first_selfpay", "in_scope",
    "deductible_applied", "basic_insurance", "critical_illness", "medical_assistance",
    "charity", "fund_total", "patient_pay", "refused_selfpay", "health_fund",
)  # fmt: skip

ACCUMULATOR_COLUMNS = (
    "admissions", "basic_paid_fen", "ci_base_fen", "ci_paid_fen", "assistance_paid_fen",
    "charity_paid_fen", "health_paid_fen", "patient_paid_fen",
)  # fmt: skip
"""The accumulator's figures, in the order of AccumulatorsFen after its year."""

TABLES = SQLModel.metadata.tables
SETTLEMENT = TABLES["settlement"]
ACCUMULATOR = TABLES["accumulator"]


def _backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    with serving(database_url, workers=WORKERS[_backend(database_url)]) as running:
        yield running


@pytest.fixture
def impatient_server(database_url: str) -> Iterator[Server]:
    """The service with a 200 ms lock wait."""
    with serving(
        database_url,
        workers=WORKERS[_backend(database_url)],
        extra_env={"ONESTOP_LOCK_WAIT_MS": str(LOCK_WAIT_MS)},
    ) as running:
        yield running


def _claim(world: World, rng: random.Random, person: str, claim_id: str) -> dict[str, Any]:
    """E2 for one of the world's persons at a random level, its quantities scaled."""
    body = world.claim("e2", level=rng.choice((1, 2, 3)), person=person, claim_id=claim_id)
    factor = Decimal(rng.choice(QUANTITY_FACTORS))
    for item in body["items"]:
        quantity = Decimal(item["quantity"]) * factor
        amount = (quantity * Decimal(item["unit_price"])).quantize(CENT, rounding=ROUND_HALF_UP)
        item["quantity"] = str(quantity)
        item["amount"] = str(amount)
    return body


# ---------------------------------------------------------------- many clients, four persons


@dataclass
class Contender:
    """One client thread's operations and what it was answered."""

    index: int
    world: World
    base_url: str
    rng: random.Random
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    settled: dict[str, str] = field(default_factory=dict)
    """Settlement id → claim id, for every 201."""
    reversed: set[str] = field(default_factory=set)
    busy: int = 0
    failures: list[str] = field(default_factory=list)

    def run(self, barrier: threading.Barrier) -> None:
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
            http.get("/healthz")
            barrier.wait(timeout=REQUEST_TIMEOUT_SECONDS)
            try:
                for operation in range(CONTENTION_OPERATIONS):
                    self._operate(http, operation)
            except Exception as error:
                self.failures.append(f"client {self.index} crashed: {error!r}")
                raise

    def _operate(self, http: httpx.Client, operation: int) -> None:
        live = sorted(set(self.settled) - self.reversed)
        if live and self.rng.random() < REVERSE_SHARE:
            self._reverse(http, self.rng.choice(live))
            return
        claim_id = f"ZY{self.world.tag}T{self.index:02d}N{operation:05d}"
        person = self.rng.choice(PERSON_GROUPS)
        self._settle(http, _claim(self.world, self.rng, person, claim_id))

    def _post(
        self, http: httpx.Client, path: str, body: dict[str, Any], hospital_id: str
    ) -> httpx.Response:
        """POST as the hospital, retrying a 503 for a busy lock (which must carry Retry-After)."""
        headers = self.world.auth(self.world.keys.hospital[hospital_id])
        for _ in range(BUSY_RETRIES_MAX):
            response = http.post(path, json=body, headers=headers)
            if response.status_code != 503:
                return response
            self.busy += 1
            if "Retry-After" not in response.headers:
                self.failures.append(f"503 without Retry-After: {response.text[:300]}")
            time.sleep(BUSY_PAUSE_SECONDS)
        return response

    def _settle(self, http: httpx.Client, body: dict[str, Any]) -> None:
        self.claims[body["claim_id"]] = body
        response = self._post(http, "/v1/settlements", body, body["hospital_id"])
        if response.status_code != 201:
            self.failures.append(f"settle: {response.status_code} {response.text[:300]}")
            return
        self.settled[response.json()["settlement_id"]] = body["claim_id"]

    def _reverse(self, http: httpx.Client, settlement_id: str) -> None:
        hospital_id = self.claims[self.settled[settlement_id]]["hospital_id"]
        response = self._post(
            http,
            f"/v1/settlements/{settlement_id}/reversal",
            {"reason": "冲正：并发测试"},
            hospital_id,
        )
        if response.status_code != 200 or response.json()["status"] != "reversed":
            self.failures.append(f"reverse: {response.status_code} {response.text[:300]}")
            return
        self.reversed.add(settlement_id)


def _contributions(row: dict[str, Any]) -> AccumulatorsFen:
    """What one settlement added to its person's accumulators (rules §9)."""
    return AccumulatorsFen(
        row["policy_year"],
        1,
        row["basic_insurance_fen"],
        row["in_scope_fen"] - row["basic_insurance_fen"],
        row["critical_illness_fen"],
        row["medical_assistance_fen"],
        row["charity_fen"],
        row["health_fund_fen"],
        row["patient_pay_fen"],
    )


def _plus(left: AccumulatorsFen, right: AccumulatorsFen, sign: int = 1) -> AccumulatorsFen:
    assert left.year == right.year
    return AccumulatorsFen(
        left.year, *(a + sign * b for a, b in zip(left[1:], right[1:], strict=True))
    )


def _utc(moment: datetime) -> datetime:
    """A stored timestamp in naive UTC (SQLite hands those back; PostgreSQL aware ones)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Caps:
    basic: int
    critical_illness: int | None
    assistance: int | None


def _caps(book: TariffBook, group: str) -> Caps:
    tariff = book.by_version("220000-2018")
    assert tariff is not None
    if group == "none":
        return Caps(tariff.basic.annual_cap_fen, tariff.critical_illness.annual_cap_fen, None)
    tilt = tariff.critical_illness.tilt[Group(group)]
    return Caps(
        tariff.basic.annual_cap_fen,
        None if tilt.no_cap else tariff.critical_illness.annual_cap_fen,
        tariff.assistance[Group(group)].annual_cap_fen,
    )


def _within_caps(after: AccumulatorsFen, caps: Caps) -> bool:
    return (
        after.basic_paid <= caps.basic
        and (caps.critical_illness is None or after.ci_paid <= caps.critical_illness)
        and (caps.assistance is None or after.assistance_paid <= caps.assistance)
    )


def _replay_person(
    rows: list[dict[str, Any]],
    claims: dict[str, dict[str, Any]],
    engine_person: Any,
    levels: dict[str, int],
    book: TariffBook,
    caps: Caps,
) -> tuple[AccumulatorsFen, list[str], bool]:
    """Settle and reverse again, in stamped order; the accumulators at the end, every
    disagreement with what was stored, and whether some settlement reached the basic cap."""
    events = sorted(
        [(_utc(row["settled_at"]), 0, row) for row in rows]
        + [(_utc(row["reversed_at"]), 1, row) for row in rows if row["status"] == "reversed"],
        key=lambda event: (event[0], event[1]),
    )
    running = AccumulatorsFen.empty(YEAR)
    problems = []
    capped = False
    for _, kind, row in events:
        if kind == 1:
            running = _plus(running, _contributions(row), -1)
            continue
        claim = ClaimIn.model_validate(claims[row["claim_id"]]).to_engine()
        result = engine_settle(
            claim,
            engine_person,
            levels[row["hospital_id"]],
            running.to_money(),
            book,
        )
        assert isinstance(result, Settlement), result
        expected_totals = {name: getattr(result.totals, f"{name}_fen") for name in TOTAL_NAMES}
        stored_totals = {name: row[f"{name}_fen"] for name in TOTAL_NAMES}
        stored_after = orjson.loads(row["accumulators_after"])
        if stored_totals != expected_totals or stored_after != accumulators_json(
            result.accumulators_after_fen
        ):
            problems.append(
                f"{row['settlement_id']} was settled on other accumulators than its "
                f"predecessors left ({running}): stored {stored_totals} {stored_after}, "
                f"replayed {expected_totals} {accumulators_json(result.accumulators_after_fen)}"
            )
        running = result.accumulators_after_fen
        if not _within_caps(running, caps):
            problems.append(f"{row['settlement_id']} passed a cap: {running} {caps}")
        capped = capped or running.basic_paid == caps.basic
    return running, problems, capped


def _engine_person(settings: Settings, person_id: str) -> Any:
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            person = session.get(Person, person_id)
            assert person is not None
            statuses = list(
                session.scalars(
                    select(PersonStatus).where(col(PersonStatus.person_id) == person_id)
                )
            )
            return person_to_engine(person, statuses)
    finally:
        engine.dispose()


def _stored(
    settings: Settings, person_ids: list[str]
) -> tuple[list[dict[str, Any]], dict[str, AccumulatorsFen]]:
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            rows = [
                dict(row)
                for row in connection.execute(
                    select(SETTLEMENT).where(SETTLEMENT.c.person_id.in_(person_ids))
                ).mappings()
            ]
            accumulators = {
                row.person_id: AccumulatorsFen(
                    row.year, *(getattr(row, name) for name in ACCUMULATOR_COLUMNS)
                )
                for row in connection.execute(
                    select(ACCUMULATOR).where(
                        ACCUMULATOR.c.person_id.in_(person_ids), ACCUMULATOR.c.year == YEAR
                    )
                )
            }
    finally:
        engine.dispose()
    return rows, accumulators


def test_many_clients_settling_and_reversing_for_four_persons_lose_no_update_and_pass_no_cap(
    server: Server, world: World, settings: Settings, book: TariffBook
) -> None:
    contenders = [
        Contender(index, world, server.base_url, random.Random(SEED * 1_000 + index))
        for index in range(CONTENTION_THREADS)
    ]
    barrier = threading.Barrier(len(contenders))
    threads = [threading.Thread(target=c.run, args=(barrier,)) for c in contenders]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    failures = [failure for contender in contenders for failure in contender.failures]
    assert not failures, failures[:20]

    claims = {claim_id: body for c in contenders for claim_id, body in c.claims.items()}
    settled = {sid: claim_id for c in contenders for sid, claim_id in c.settled.items()}
    reversed_ = {sid for c in contenders for sid in c.reversed}
    person_ids = [world.persons[group] for group in PERSON_GROUPS]
    rows, accumulators = _stored(settings, person_ids)
    assert {row["settlement_id"] for row in rows} == set(settled)
    assert {row["settlement_id"] for row in rows if row["status"] == "reversed"} == reversed_

    levels = {hospital_id: level for level, hospital_id in world.hospitals.items()}
    problems = []
    capped = []
    for group in PERSON_GROUPS:
        person_id = world.persons[group]
        mine = [row for row in rows if row["person_id"] == person_id]
        replayed, differences, reached = _replay_person(
            mine, claims, _engine_person(settings, person_id), levels, book, _caps(book, group)
        )
        problems.extend(differences)
        capped += [group] if reached else []
        summed = AccumulatorsFen.empty(YEAR)
        for row in mine:
            if row["status"] == "settled":
                summed = _plus(summed, _contributions(row))
        stored = accumulators.get(person_id, AccumulatorsFen.empty(YEAR))
        if not replayed == summed == stored:
            problems.append(
                f"{group}: accumulators stored {stored}, settled sum {summed}, replay {replayed}"
            )
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
            served = http.get(
                f"/v1/persons/{person_id}/accumulators",
                params={"year": YEAR},
                headers=world.auth(world.keys.admin),
            ).json()
        assert served == accumulators_json(stored)
    engine = make_engine(settings)
    try:
        report = check(engine, None)
    finally:
        engine.dispose()
    busy = sum(contender.busy for contender in contenders)
    print(
        f"\n[contention {_backend(settings.database_url)}] {len(settled)} settlements and "
        f"{len(reversed_)} reversals from {CONTENTION_THREADS} clients for "
        f"{len(PERSON_GROUPS)} persons in {elapsed:.1f} s; {busy} busy answers retried; "
        f"basic cap reached for {capped}"
    )
    assert not problems, "\n".join(problems[:20])
    assert report.balanced, report.differences[:20]
    assert capped, "no person reached the basic cap: the run did not test the caps under load"


# ---------------------------------------------------------------- bounded lock waits


@contextmanager
def _person_locked(settings: Settings, person_id: str) -> Iterator[None]:
    """Hold the person's accumulators lock in a transaction of our own until the block ends."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        raw = sqlite3.connect(url.database, isolation_level=None, timeout=10)
        try:
            raw.execute("BEGIN IMMEDIATE")
            yield
        finally:
            raw.execute("ROLLBACK")
            raw.close()
        return
    engine = make_engine(settings)
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            locked = connection.execute(
                select(ACCUMULATOR)
                .where(ACCUMULATOR.c.person_id == person_id, ACCUMULATOR.c.year == YEAR)
                .with_for_update()
            ).all()
            assert len(locked) == 1
            try:
                yield
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def _timed_post(
    http: httpx.Client, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http.post(path, json=body, headers=headers)
    return response, time.monotonic() - started


def _assert_busy(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert elapsed < ANSWER_WITHIN_SECONDS, f"answered after {elapsed:.2f} s"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 503
    assert problem["type"].endswith("/lock-unavailable")
    assert {"title", "detail", "errors"} <= set(problem)


def test_a_settlement_behind_a_held_lock_answers_503_within_the_lock_wait_and_writes_nothing(
    impatient_server: Server, world: World, settings: Settings
) -> None:
    headers = world.hospital_headers(3)
    first = world.claim("e2", person="dibao")
    waiting = world.claim("e2", person="dibao")
    with httpx.Client(base_url=impatient_server.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        created = http.post("/v1/settlements", json=first, headers=headers)
        assert created.status_code == 201, created.text
        settlement_id = created.json()["settlement_id"]
        before = row_counts(settings)
        held_since = time.monotonic()
        with _person_locked(settings, world.persons["dibao"]):
            settle, settle_seconds = _timed_post(http, "/v1/settlements", waiting, headers)
            reverse, reverse_seconds = _timed_post(
                http, f"/v1/settlements/{settlement_id}/reversal", {"reason": "冲正"}, headers
            )
            held = time.monotonic() - held_since
            assert held < LOCK_HOLD_SECONDS, "the lock was not held for both requests"
            time.sleep(LOCK_HOLD_SECONDS - held)
        print(
            f"\n[lock wait {_backend(settings.database_url)}] {LOCK_WAIT_MS} ms lock wait: "
            f"settlement answered {settle.status_code} in {settle_seconds:.2f} s, reversal "
            f"{reverse.status_code} in {reverse_seconds:.2f} s; lock held {LOCK_HOLD_SECONDS} s"
        )
        _assert_busy(settle, settle_seconds)
        _assert_busy(reverse, reverse_seconds)
        assert row_counts(settings) == before

        after = http.post("/v1/settlements", json=waiting, headers=headers)
        assert after.status_code == 201, after.text
        assert after.json()["accumulators_after"]["admissions"] == 2
        reversal = http.post(
            f"/v1/settlements/{settlement_id}/reversal", json={"reason": "冲正"}, headers=headers
        )
        assert reversal.status_code == 200, reversal.text
        assert reversal.json()["status"] == "reversed"


def test_a_held_lock_on_postgresql_holds_up_only_its_own_person(
    impatient_server: Server, world: World, settings: Settings
) -> None:
    if _backend(settings.database_url) != "postgresql":
        pytest.skip("SQLite has one write lock for the whole database")
    headers = world.hospital_headers(3)
    with httpx.Client(base_url=impatient_server.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        created = http.post(
            "/v1/settlements", json=world.claim("e2", person="dibao"), headers=headers
        )
        assert created.status_code == 201, created.text
        with _person_locked(settings, world.persons["dibao"]):
            other, seconds = _timed_post(
                http, "/v1/settlements", world.claim("e2", person="destitute"), headers
            )
        assert other.status_code == 201, other.text
        assert seconds < ANSWER_WITHIN_SECONDS
