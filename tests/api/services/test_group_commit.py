"""Group commit (api/services/group_commit.py): many settlements, one transaction, each request
answered as if it had been settled alone, on both databases."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, exc, text

from api.core.access import Principal
from api.core.config import Settings
from api.core.contract import ClaimIn, settlement_json
from api.core.problems import ApiProblem
from api.db import store
from api.db.engine import make_engine, read_connection
from api.db.rows import timestamp
from api.services.group_commit import Pending, SettlementWriter, settle_batch
from api.services.settlements import Outcome
from settlement.engine import settle
from settlement.model import AccumulatorsFen
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.support.db import query_plans, row_counts
from tests.support.world import World

ACTOR = Principal("admin", None, "testprefix")
START = datetime(2018, 3, 13, 1, 0, tzinfo=UTC)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def ticking() -> Any:
    """A clock that moves one second a call, so that every stamp is known."""
    moments = iter(START + timedelta(seconds=n) for n in range(10_000))
    return lambda: next(moments)


def pending(world: World, **changes: Any) -> Pending:
    return Pending(ClaimIn.model_validate(world.claim("e2", **changes)), ACTOR)


def run(engine: Engine, book: TariffBook, items: list[Pending]) -> list[Outcome | BaseException]:
    settle_batch(engine, book, items, clock=ticking())
    return [item.future.exception() or item.future.result() for item in items]


def replayed(engine: Engine, book: TariffBook, items: list[Pending]) -> list[dict[str, Any]]:
    """The bills the pure engine gives settling the claims one after another, in order."""
    documents = []
    accumulators: dict[str, AccumulatorsFen] = {}
    with read_connection(engine) as connection:
        for index, item in enumerate(items):
            claim = item.claim_in.to_engine()
            site, person = store.load_parties(connection, claim.hospital_id, claim.person_id)
            before = accumulators.get(claim.person_id, AccumulatorsFen.empty(claim.policy_year))
            result = settle(claim, person, site.level, before.to_money(), book, site.region)
            assert isinstance(result, Settlement)
            accumulators[claim.person_id] = result.accumulators_after_fen
            document = settlement_json(
                result, settlement_id=None, status="settled",
                settled_at=timestamp(START + timedelta(seconds=index)), reversed_at=None,
            )  # fmt: skip
            documents.append(document)
    return documents


def test_claims_of_one_person_in_one_batch_are_settled_in_arrival_order_on_running_figures(
    world: World, engine: Engine, book: TariffBook, settings: Settings
) -> None:
    items = [pending(world) for _ in range(4)] + [pending(world, person="none")]
    outcomes = run(engine, book, items)
    assert all(isinstance(outcome, Outcome) and outcome.created for outcome in outcomes)
    expected = replayed(engine, book, items)
    for outcome, document in zip(outcomes, expected, strict=True):
        assert isinstance(outcome, Outcome)
        assert {**outcome.document, "settlement_id": None} == document
    # What was stored is what was answered, and the accumulators are the replay's.
    with read_connection(engine) as connection:
        for outcome in outcomes:
            assert isinstance(outcome, Outcome)
            row = store.settlement_row(connection, outcome.document["settlement_id"])
            assert store.stored_document(connection, row) == outcome.document
        after = store.read_accumulators(connection, world.persons["dibao"], 2018)
    assert after.admissions == 4
    last = outcomes[3]
    assert isinstance(last, Outcome)
    assert last.document["accumulators_after"]["admissions"] == 4
    assert after == AccumulatorsFen(
        2018, 4, *(_fen(last.document["accumulators_after"][name]) for name in AMOUNTS)
    )


AMOUNTS = (
    "basic_paid", "ci_base", "ci_paid", "assistance_paid", "charity_paid", "health_paid",
    "patient_paid",
)  # fmt: skip


def _fen(text: str) -> int:
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int(cents)


def test_the_writer_leaves_each_answer_document_to_the_thread_that_answers(
    world: World, engine: Engine, book: TariffBook
) -> None:
    """The writer only writes: a settlement's document is built when the answering thread
    first reads it (the platform's 2304 answers from the engine's result and never does),
    once, and it is what was stored."""
    (outcome,) = run(engine, book, [pending(world)])
    assert isinstance(outcome, Outcome)
    assert outcome.created
    assert outcome.made is not None
    assert outcome._document is None
    document = outcome.document
    assert outcome.document is document
    assert document["settlement_id"] == outcome.settlement_id
    with read_connection(engine) as connection:
        row = store.settlement_row(connection, outcome.settlement_id)
        assert store.stored_document(connection, row) == document


def test_a_claim_posted_twice_in_one_batch_is_settled_once_and_replayed_once(
    world: World, engine: Engine, book: TariffBook
) -> None:
    first = pending(world)
    again = Pending(first.claim_in, ACTOR)
    other_body = Pending(
        ClaimIn.model_validate({**first.claim_in.model_dump(mode="json"), "surgery": False}), ACTOR
    )
    outcomes = run(engine, book, [first, again, other_body])
    created, replay, conflict = outcomes
    assert isinstance(created, Outcome)
    assert created.created
    assert isinstance(replay, Outcome)
    assert not replay.created
    assert replay.document == created.document
    assert isinstance(conflict, ApiProblem)
    assert conflict.status == 409
    with read_connection(engine) as connection:
        count = connection.execute(
            text("SELECT count(*) FROM settlement WHERE claim_id = :claim"),
            {"claim": first.claim_in.claim_id},
        ).scalar_one()
    assert count == 1


def test_a_refused_claim_is_refused_alone_and_the_rest_of_its_batch_is_settled(
    world: World, engine: Engine, book: TariffBook, settings: Settings
) -> None:
    good = pending(world)
    wrong_amount = world.claim("e2")
    wrong_amount["items"][0]["amount"] = "1.00"
    refused = Pending(ClaimIn.model_validate(wrong_amount), ACTOR)
    unknown = pending(world, person_id="NOBODY")
    later = pending(world)
    outcomes = run(engine, book, [good, refused, unknown, later])
    assert isinstance(outcomes[0], Outcome)
    assert isinstance(outcomes[3], Outcome)
    for problem, code in ((outcomes[1], "amount_mismatch"), (outcomes[2], "unknown_person")):
        assert isinstance(problem, ApiProblem)
        assert problem.status == 422
        assert code in {error["code"] for error in problem.errors}
    # The later claim was settled on the figures the first one left: the refused one left none.
    assert outcomes[3].document["accumulators_after"]["admissions"] == 2
    assert outcomes[3].document == {
        **replayed(engine, book, [good, later])[1],
        "settlement_id": outcomes[3].document["settlement_id"],
        "settled_at": outcomes[3].document["settled_at"],
    }


def test_a_batch_that_fails_to_write_answers_503_to_each_request_and_writes_nothing(
    world: World,
    engine: Engine,
    book: TariffBook,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = row_counts(settings)

    def disk_full(*_: Any) -> None:
        raise exc.OperationalError("INSERT INTO audit", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "audit_all", disk_full)
    items = [pending(world), pending(world, person="none")]
    outcomes = run(engine, book, items)
    for outcome in outcomes:
        assert isinstance(outcome, ApiProblem)
        assert outcome.status == 503
        assert outcome.headers["Retry-After"] == "1"
    assert row_counts(settings) == before


def test_a_batch_whose_commit_answer_is_lost_is_in_doubt_never_nothing_committed(
    world: World, engine: Engine, book: TariffBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 says nothing was committed; here the commit landed. Each request is answered 500
    `commit-in-doubt`, and the same claim sent again is a replay of the settlement that
    landed (tests/support/crash.py found it on a PostgreSQL restart: 503, then a replay)."""
    items = [pending(world), pending(world, person="none")]
    monkeypatch.setattr(Connection, "commit", _committed_then_lost())
    outcomes = run(engine, book, items)
    monkeypatch.undo()
    for outcome in outcomes:
        assert isinstance(outcome, ApiProblem)
        assert (outcome.status, outcome.kind) == (500, "commit-in-doubt")
        assert "may or may not have been carried out" in outcome.detail
    again = run(engine, book, [Pending(item.claim_in, ACTOR) for item in items])
    for outcome in again:
        assert isinstance(outcome, Outcome)
        assert not outcome.created, "the first commit landed: the claim is replayed"


def _committed_then_lost() -> Any:
    original = Connection.commit

    def commit(self: Any) -> None:
        original(self)
        raise exc.OperationalError(
            "COMMIT", {}, Exception("server closed the connection"), connection_invalidated=True
        )

    return commit


def test_a_commit_failing_otherwise_is_raised_as_it_is() -> None:
    """Only a lost connection makes a commit's outcome unknown; any other error of the commit
    (a deferred constraint, a full disk) is the database refusing it: raised unchanged."""
    from api.db.engine import commit

    class Refusing:
        def commit(self) -> None:
            raise exc.IntegrityError("COMMIT", {}, Exception("deferred constraint"))

    class Lost:
        def commit(self) -> None:
            raise exc.OperationalError(
                "COMMIT", {}, Exception("connection lost"), connection_invalidated=True
            )

    with pytest.raises(exc.IntegrityError):
        commit(Refusing())  # type: ignore[arg-type]
    with pytest.raises(ApiProblem) as raised:
        commit(Lost())  # type: ignore[arg-type]
    assert (raised.value.status, raised.value.kind) == (500, "commit-in-doubt")
    assert isinstance(raised.value.__cause__, exc.OperationalError)


def test_a_duplicate_caught_by_the_unique_index_sends_the_batch_one_claim_at_a_time(
    world: World, engine: Engine, book: TariffBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were a settled claim missed by the batch's replay check, the index refuses the write;
    every claim is then settled alone, and the duplicate answered as the replay it is."""
    original = pending(world)
    first = run(engine, book, [original])[0]
    assert isinstance(first, Outcome)
    duplicate = Pending(original.claim_in, ACTOR)
    blind = {"calls": 0}
    seeing = store.settled_for_claims

    def blind_once(connection: Any, claims: set[tuple[str, str]]) -> dict[Any, Any]:
        blind["calls"] += 1
        return {} if blind["calls"] == 1 else seeing(connection, claims)

    monkeypatch.setattr(store, "settled_for_claims", blind_once)
    fresh = pending(world, person="none")
    refused = pending(world, person_id="NOBODY")
    outcomes = run(engine, book, [duplicate, refused, fresh])
    replay, refusal, created = outcomes
    assert isinstance(refusal, ApiProblem)
    assert refusal.status == 422
    assert isinstance(replay, Outcome)
    assert not replay.created
    assert replay.document == first.document
    assert isinstance(created, Outcome)
    assert created.created


def test_a_claim_whose_request_went_away_before_its_batch_is_not_settled(
    world: World, engine: Engine, book: TariffBook, settings: Settings
) -> None:
    before = row_counts(settings)
    gone = pending(world)
    assert gone.future.cancel()
    settle_batch(engine, book, [gone], clock=ticking())
    assert row_counts(settings) == before


def test_the_writer_answers_every_claim_sent_from_many_threads_and_drains_on_close(
    world: World,
    engine: Engine,
    book: TariffBook,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="onestop")
    writer = SettlementWriter(engine, book, clock=ticking(), batch_max=8, batch_wait_ms=2)
    persons = ["none", "dibao", "destitute", "registered_poor"]
    futures: list[Any] = []
    lock = threading.Lock()

    def send(index: int) -> None:
        future = writer.submit(pending(world, person=persons[index % 4]).claim_in, ACTOR)
        with lock:
            futures.append(future)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    outcomes = [future.result(timeout=0) for future in futures]
    assert len(outcomes) == 24
    assert writer.claims == 24
    assert 1 <= writer.batches <= 24
    assert any("24 claims in" in message for message in caplog.messages)
    assert all(outcome.created for outcome in outcomes)
    with read_connection(engine) as connection:
        for person in persons:
            after = store.read_accumulators(connection, world.persons[person], 2018)
            assert after.admissions == 6


def test_a_batch_makes_the_same_few_statements_whatever_its_size(
    world: World, engine: Engine, book: TariffBook
) -> None:
    """Round trips per batch do not grow with the batch: reads and writes are one statement
    per table for all of its claims (docs/performance.md reports the count). A batch in which
    a settlement crossed its alert threshold (rules §16) adds the alerts' one read and one
    write, whatever the number of crossings."""
    counted: list[str] = []
    alerts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        kind = statement.split(maxsplit=1)[0].upper()
        (alerts if "burden_alert" in statement else counted).append(kind)

    event.listen(engine, "before_cursor_execute", count)
    try:
        persons = ["none", "dibao", "destitute", "registered_poor"]
        run(engine, book, [pending(world, person="none")])
        one, alerts_of_one = list(counted), list(alerts)
        counted.clear()
        alerts.clear()
        run(engine, book, [pending(world, person=persons[n % 4]) for n in range(20)])
        twenty = list(counted)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(twenty) == len(one), "\n".join(map(str, (one, twenty)))
    assert len(one) <= 13, one
    # The one claim (13122.94 for a person of no group) crosses 5000.00 alone; the twenty
    # cross for the three other persons: the same two statements.
    assert alerts_of_one == alerts == ["SELECT", "INSERT"], (alerts_of_one, alerts)


def test_a_batch_of_only_refused_claims_leaves_no_row_behind(
    world: World, engine: Engine, book: TariffBook, settings: Settings
) -> None:
    """Not even the empty accumulators row its lock created for a year without settlements."""
    before = row_counts(settings)
    no_tariff = pending(world, admission_date="9999-03-01", discharge_date="9999-03-12")
    outcomes = run(engine, book, [no_tariff])
    assert isinstance(outcomes[0], ApiProblem)
    assert row_counts(settings) == before


def test_a_batch_finds_every_row_it_reads_by_index(
    world: World, engine: Engine, book: TariffBook
) -> None:
    """With a million settlements stored a batch must not walk them: its replay check, its
    parties and its accumulators are index lookups on both databases (EXPLAIN)."""
    items = [pending(world, person=person) for person in ("none", "dibao", "destitute")]
    plans = query_plans(engine, lambda: run(engine, book, items))
    assert len(plans) >= 5
    for statement, plan in plans:
        assert "SCAN" not in plan.replace("SCAN CONSTANT", ""), (statement, plan)
        assert "Seq Scan" not in plan, (statement, plan)
