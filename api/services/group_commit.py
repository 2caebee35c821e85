"""Group commit: settlements from concurrent requests written by one writer, many a transaction.

A durable commit costs a flush to disk (SQLite `synchronous=FULL`, PostgreSQL
`synchronous_commit=on`); paid once per settlement it caps throughput at the disk's flush
rate. Here each worker process has one writer thread. Requests queue their claims; the writer
takes whatever has queued (up to `batch_settlements_max`, waiting at most `batch_wait_ms` for
more once the first arrived) and settles them in one transaction:

1. the hospitals and persons of all its claims are read at once, then the persons'
   accumulators locked in sorted order (no two batches wait on each other in a circle), each
   once, then the settled claims among its claims read, each in one statement;
2. each claim, in arrival order, is checked for a replay (in the database, then earlier in the
   batch), settled by the engine on the accumulators the batch has reached so far for that
   person, and its rows prepared; a claim refused (422, 409) is refused alone and writes
   nothing;
3. every settlement of the batch is written with the store's one write, the accumulators once
   per person, the audit records, and the transaction commits: one flush for the batch.

Only then is each request answered. A batch whose write or commit fails answers 503 to each of
its requests and leaves nothing behind, but for a commit whose connection is lost while it
commits: it may have landed, so each request is answered 500 `commit-in-doubt` (never "nothing
was committed") and the same claim sent again is a replay if it did. Should the unique index
catch a duplicate (which the locks make impossible unless another writer bypassed them), every
claim of the batch is settled again on its own, in its own transaction, as without group
commit.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, exc

from api.core.access import Principal
from api.core.clock import Clock
from api.core.contract import ClaimIn
from api.core.metrics import (
    BATCH_QUEUE_SECONDS,
    BATCH_SETTLEMENTS,
    BATCH_WRITE_SECONDS,
    DATABASE_ERRORS,
    LOCK_WAIT_SECONDS,
)
from api.core.problems import (
    ApiProblem,
    LockUnavailable,
    claim_conflict,
    database_unavailable,
    rejection_problem,
)
from api.db import store
from api.db.engine import commit, write_connection
from api.db.rows import ClaimInputs
from api.services.settlements import (
    Made,
    Outcome,
    claim_hash,
    new_settlement_id,
    replay,
    settle_claim,
)
from settlement.engine import settle
from settlement.model import AccumulatorsFen, Claim
from settlement.rejection import Rejection
from settlement.tariff import TariffBook

logger = logging.getLogger("onestop")
_STOP = object()


@dataclass(slots=True)
class Pending:
    """A claim waiting for its batch, and the future its request awaits."""

    claim_in: ClaimIn
    actor: Principal
    future: Future[Outcome] = field(default_factory=Future)
    claim: Claim | None = None
    digest: str = ""
    queued: float = field(default_factory=time.perf_counter)
    """When its request queued it (for the time claims wait for their batch, a metric)."""


@dataclass(slots=True)
class _Batch:
    """What a batch has reached: accumulators per (person, year), claims settled in it."""

    accumulators: dict[tuple[str, int], AccumulatorsFen] = field(default_factory=dict)
    settled: dict[tuple[str, str], tuple[str, Outcome]] = field(default_factory=dict)
    """(hospital, claim id) → (claim hash, outcome) of the claims this batch settles."""
    written: list[store.NewSettlement] = field(default_factory=list)
    audits: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    answers: list[tuple[Pending, Outcome]] = field(default_factory=list)
    last_stamp: datetime | None = None


def settle_batch(
    engine: Engine,
    tariffs: TariffBook,
    pending: Sequence[Pending],
    clock: Clock,
) -> None:
    """Settle every pending claim in one transaction and resolve each one's future."""
    waiting = []
    for item in pending:
        if not item.future.set_running_or_notify_cancel():
            continue  # its request went away before the batch began: nothing is settled for it
        try:
            item.claim = item.claim_in.to_engine()
            item.digest = claim_hash(item.claim_in)
            waiting.append(item)
        except Exception as error:  # a claim that cannot even be read fails alone
            item.future.set_exception(error)
    if not waiting:
        return
    began = time.perf_counter()
    BATCH_SETTLEMENTS.observe(len(waiting))
    for item in waiting:
        BATCH_QUEUE_SECONDS.observe(began - item.queued)
    try:
        with store.lock_waits_mapped():
            batch = _settle_in_transaction(engine, tariffs, waiting, clock)
    except exc.IntegrityError:
        logger.warning("group commit: a duplicate reached the unique index; settling one by one")
        _settle_one_by_one(engine, tariffs, waiting, clock)
        return
    except (ApiProblem, LockUnavailable) as problem:
        _fail_all(waiting, problem)
        return
    except exc.DBAPIError as error:
        DATABASE_ERRORS.labels("batch").inc()
        logger.exception("group commit: a batch of %d failed to commit", len(waiting))
        _fail_all(waiting, database_unavailable(), cause=error)
        return
    BATCH_WRITE_SECONDS.observe(time.perf_counter() - began)
    for item, outcome in batch.answers:
        item.future.set_result(outcome)


def _settle_in_transaction(
    engine: Engine,
    tariffs: TariffBook,
    pending: list[Pending],
    clock: Clock,
) -> _Batch:
    batch = _Batch()
    claims = [item.claim for item in pending if item.claim is not None]
    with write_connection(engine) as connection:
        parties = store.load_parties_many(
            connection,
            {claim.hospital_id for claim in claims},
            {claim.person_id for claim in claims},
        )
        known = {key for key in map(_person_year, pending) if key[0] in parties.persons}
        created: set[tuple[str, int]] = set()
        if known:
            locking = time.perf_counter()
            batch.accumulators, created = store.lock_accumulators_many(connection, known)
            LOCK_WAIT_SECONDS.labels("accumulators").observe(time.perf_counter() - locking)
        # Read after the locks: a claim settled by another writer is seen once its lock is ours.
        settled = store.settled_for_claims(
            connection, {(claim.hospital_id, claim.claim_id) for claim in claims}
        )
        for item in pending:
            try:
                outcome = _settle_one(connection, tariffs, item, batch, parties, settled, clock)
            except ApiProblem as problem:
                item.future.set_exception(problem)  # refused alone: it prepared nothing
                continue
            except exc.DBAPIError:
                raise  # the transaction is in doubt: the whole batch fails
            except Exception as error:  # a bug settling this claim fails this claim only
                logger.exception("group commit: settling one claim of a batch failed")
                item.future.set_exception(error)
                continue
            batch.answers.append((item, outcome))
        _write(connection, batch, created)
        commit(connection)
    return batch


def _person_year(item: Pending) -> tuple[str, int]:
    assert item.claim is not None
    return item.claim.person_id, item.claim.policy_year


def _settle_one(
    connection: Connection,
    tariffs: TariffBook,
    item: Pending,
    batch: _Batch,
    parties: store.Parties,
    settled: dict[tuple[str, str], Any],
    clock: Clock,
) -> Outcome:
    """One claim of the batch: a replay, a refusal (raised), or a settlement to write."""
    claim = item.claim
    assert claim is not None
    key = (claim.hospital_id, claim.claim_id)
    earlier = batch.settled.get(key)
    if earlier is not None:
        digest, first = earlier
        if digest != item.digest:
            raise claim_conflict(claim.claim_id, first.settlement_id)
        # The same settlement, answered as a replay (its document built when asked for).
        return Outcome(created=False, made=first.made)
    site, person = parties.of(claim.hospital_id, claim.person_id)
    existing = settled.get(key)
    if existing is not None:
        return replay(connection, existing, item.digest, claim.claim_id)
    before = batch.accumulators[_person_year(item)]
    result = settle(claim, person, site.level, before.to_money(), tariffs, site.region)
    if isinstance(result, Rejection):
        raise rejection_problem(result)
    now = _stamp(batch, clock)
    settlement_id = new_settlement_id(now)
    # The batch's state changes only now, when nothing of this claim can fail any more.
    batch.accumulators[_person_year(item)] = result.accumulators_after_fen
    inputs = ClaimInputs.of(claim, person, site.level)
    batch.written.append(store.NewSettlement(result, settlement_id, item.digest, now, inputs))
    subject = f"{settlement_id} claim {claim.hospital_id}/{claim.claim_id}"
    batch.audits.append((item.actor.actor, "settle", subject, now))
    outcome = Outcome(created=True, made=Made(result, settlement_id, now))
    batch.settled[key] = (item.digest, outcome)
    return outcome


def _stamp(batch: _Batch, clock: Clock) -> datetime:
    """The clock's time, made to follow the batch's last stamp: settlements of one person are
    stamped in the order they were settled, as they were one transaction each."""
    now = clock()
    if batch.last_stamp is not None and now <= batch.last_stamp:
        now = batch.last_stamp + timedelta(microseconds=1)
    batch.last_stamp = now
    return now


def _write(connection: Connection, batch: _Batch, created: set[tuple[str, int]]) -> None:
    """The batch's settlements, the accumulators they moved, their audit records; and away
    with the accumulator rows the batch created for claims it then refused."""
    touched = {(new.result.person_id, new.result.policy_year) for new in batch.written}
    store.drop_unused_accumulators(connection, created - touched)
    if not batch.written:
        return
    with store.pipelined(connection):
        store.write_settlements(connection, batch.written)
        store.write_accumulators_many(connection, {key: batch.accumulators[key] for key in touched})
        store.audit_all(connection, batch.audits)
    store.raise_alerts(connection, batch.written)


def _settle_one_by_one(
    engine: Engine, tariffs: TariffBook, pending: list[Pending], clock: Clock
) -> None:
    for item in pending:
        if item.future.done():
            continue  # refused in the batch already: the refusal stands
        try:
            outcome = settle_claim(engine, tariffs, item.claim_in, item.actor, clock)
        except Exception as error:
            item.future.set_exception(error)
        else:
            item.future.set_result(outcome)


def _fail_all(
    pending: list[Pending], problem: BaseException, cause: BaseException | None = None
) -> None:
    for item in pending:
        if not item.future.done():
            item.future.set_exception(problem)
    if cause is not None:
        problem.__cause__ = cause


class SettlementWriter:
    """The writer thread of a worker process: settles queued claims in batches."""

    def __init__(
        self,
        engine: Engine,
        tariffs: TariffBook,
        *,
        clock: Clock,
        batch_max: int,
        batch_wait_ms: float,
    ) -> None:
        assert batch_max >= 1
        self._engine = engine
        self._tariffs = tariffs
        self._clock = clock
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_ms / 1000
        self._queue: queue.SimpleQueue[Pending | object] = queue.SimpleQueue()
        self.batches = 0
        """Batches settled so far (with `claims`, the mean batch size an operator tunes by)."""
        self.claims = 0
        self._thread = threading.Thread(target=self._run, name="onestop-writer", daemon=True)
        self._thread.start()

    def submit(self, claim_in: ClaimIn, actor: Principal) -> Future[Outcome]:
        """Queue a claim; the future resolves once its batch has committed (or refused it)."""
        item = Pending(claim_in, actor)
        self._queue.put(item)
        return item.future

    def close(self) -> None:
        """Settle what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()
        if self.batches:
            logger.info(
                "group commit: %d claims in %d batches (%.1f a batch)",
                self.claims, self.batches, self.claims / self.batches,
            )  # fmt: skip

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, Pending)
            batch = [first]
            stopping = self._fill(batch)
            self.batches += 1
            self.claims += len(batch)
            try:
                settle_batch(self._engine, self._tariffs, batch, self._clock)
            except BaseException as error:  # never leave a request waiting on a dead writer
                logger.exception("group commit: the writer failed on a batch")
                _fail_all(batch, error)

    def _fill(self, batch: list[Pending]) -> bool:
        """Take queued claims into the batch; True when the stop sign was among them."""
        deadline = time.monotonic() + self._batch_wait_s
        while len(batch) < self._batch_max:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            assert isinstance(item, Pending)
            batch.append(item)
        return False
