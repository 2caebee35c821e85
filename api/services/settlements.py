"""Settlements: settle, preview, read, reverse; each a transaction over the settlement store.

Settling locks the person's accumulators row for the policy year, decides idempotency under
that lock, runs the engine once, and writes the settlement, its lines, its fund steps, its
postings, the new accumulators and an audit record in one commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Engine, exc

from api.core.access import Principal, authorize_hospital
from api.core.clock import Clock, system_clock
from api.core.contract import ClaimIn, accumulators_json, settlement_body, settlement_json
from api.core.problems import claim_conflict, not_found, rejection_problem
from api.db import store
from api.db.engine import commit, read_connection, write_connection
from api.db.rows import ClaimInputs, settlement_document, timestamp
from api.services import receivables
from settlement.engine import settle
from settlement.model import Claim
from settlement.rejection import Rejection
from settlement.result import Settlement
from settlement.tariff import TariffBook


class Made(NamedTuple):
    """A settlement made by this call: the engine's result, its id and its time."""

    settlement: Settlement
    settlement_id: str
    settled_at: datetime


class Outcome:
    """A settlement and whether this call created it or replayed it: the contract's document
    of a stored one (a replay), or the settlement `made` now, whose document is built when
    first asked for, by the thread that answers (the group-commit writer only writes; the
    platform's 2304 answers from `made` and never builds it)."""

    __slots__ = ("_document", "created", "made", "settlement_id")

    def __init__(
        self, *, created: bool, document: dict[str, Any] | None = None, made: Made | None = None
    ) -> None:
        assert (document is None) != (made is None), "a document or a settlement made now"
        self.created = created
        self._document = document
        self.made = made
        if made is not None:
            self.settlement_id = made.settlement_id
        else:
            assert document is not None
            self.settlement_id = str(document["settlement_id"])

    @property
    def document(self) -> dict[str, Any]:
        if self._document is None:
            assert self.made is not None
            self._document = settlement_json(
                self.made.settlement, settlement_id=self.made.settlement_id, status="settled",
                settled_at=timestamp(self.made.settled_at), reversed_at=None,
            )  # fmt: skip
        return self._document

    @property
    def body(self) -> bytes:
        """The document as the answer's bytes. A settlement made now is written straight from
        the engine's result (`settlement_body`: the same bytes, no dict of every line)."""
        if self._document is None:
            assert self.made is not None
            return settlement_body(
                self.made.settlement, settlement_id=self.made.settlement_id,
                settled_at=timestamp(self.made.settled_at),
            )  # fmt: skip
        return orjson.dumps(self._document)


def claim_hash(claim_in: ClaimIn) -> str:
    """SHA-256 of the claim's canonical JSON (sorted keys, no spaces): same body, same hash."""
    canonical = orjson.dumps(claim_in.identity_json(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def new_settlement_id(moment: datetime) -> str:
    return f"ST{moment:%Y%m%d}{secrets.token_hex(8).upper()}"


def replay(connection: Connection, row: Any, digest: str, claim_id: str) -> Outcome:
    """The claim settled before: the same body is a replay (200), another one a conflict (409)."""
    if row.claim_hash != digest:
        raise claim_conflict(claim_id, row.settlement_id)
    return Outcome(created=False, document=store.stored_document(connection, row))


def settle_claim(
    engine: Engine,
    tariffs: TariffBook,
    claim_in: ClaimIn,
    actor: Principal,
    clock: Clock = system_clock,
) -> Outcome:
    """Settle and store a claim (201), or replay the same claim settled before (200)."""
    claim = claim_in.to_engine()
    digest = claim_hash(claim_in)
    try:
        with store.lock_waits_mapped():
            return _settle_in_transaction(engine, tariffs, claim, digest, actor, clock)
    except exc.IntegrityError:
        # A concurrent duplicate committed first (the unique index caught it): answer as a replay.
        with read_connection(engine) as connection:
            row = store.settled_for_claim(connection, claim.hospital_id, claim.claim_id)
            if row is None:
                raise
            return replay(connection, row, digest, claim.claim_id)


def _settle_in_transaction(
    engine: Engine,
    tariffs: TariffBook,
    claim: Claim,
    digest: str,
    actor: Principal,
    clock: Clock,
) -> Outcome:
    with write_connection(engine) as connection:
        site, person = store.load_parties(connection, claim.hospital_id, claim.person_id)
        before = store.lock_accumulators(connection, person.person_id, claim.policy_year)
        existing = store.settled_for_claim(connection, claim.hospital_id, claim.claim_id)
        if existing is not None:
            return replay(connection, existing, digest, claim.claim_id)
        result = settle(claim, person, site.level, before.to_money(), tariffs, site.region)
        if isinstance(result, Rejection):
            raise rejection_problem(result)
        now = clock()
        settlement_id = new_settlement_id(now)
        inputs = ClaimInputs.of(claim, person, site.level)
        made = [store.NewSettlement(result, settlement_id, digest, now, inputs)]
        store.write_settlements(connection, made)
        store.raise_alerts(connection, made)
        store.write_accumulators(connection, person.person_id, result.accumulators_after_fen)
        subject = f"{settlement_id} claim {claim.hospital_id}/{claim.claim_id}"
        store.audit(connection, actor.actor, "settle", subject, now)
        commit(connection)
        return Outcome(created=True, made=Made(result, settlement_id, now))


def preview_settlement(
    connection: Connection, tariffs: TariffBook, claim_in: ClaimIn
) -> tuple[Settlement | Rejection, store.Site]:
    """The engine's answer to the claim on the accumulators as they stand, and the claim's
    hospital; writes nothing (the platform's 2301 and 2303 read it too)."""
    claim = claim_in.to_engine()
    site, person = store.load_parties(connection, claim.hospital_id, claim.person_id)
    before = store.read_accumulators(connection, person.person_id, claim.policy_year)
    return settle(claim, person, site.level, before.to_money(), tariffs, site.region), site


def preview_claim(engine: Engine, tariffs: TariffBook, claim_in: ClaimIn) -> dict[str, Any]:
    """The same result as settling, computed on the accumulators as they stand; writes nothing."""
    with read_connection(engine) as connection:
        result, _ = preview_settlement(connection, tariffs, claim_in)
    if isinstance(result, Rejection):
        raise rejection_problem(result)
    return settlement_json(
        result, settlement_id=None, status="preview", settled_at=None, reversed_at=None
    )


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored settlement: its row, the engine's settlement rebuilt from it, its document."""

    row: Any
    settlement: Settlement
    document: dict[str, Any]


def get_settlement(engine: Engine, settlement_id: str) -> Stored:
    """The stored settlement; 404 when there is none."""
    with read_connection(engine) as connection:
        row = store.settlement_row(connection, settlement_id)
        if row is None:
            raise not_found("settlement", settlement_id)
        settlement = store.stored_settlement(connection, row)
    return Stored(row, settlement, settlement_document(row, settlement))


def reverse_settlement(
    engine: Engine,
    settlement_id: str,
    reason: str,
    actor: Principal,
    clock: Clock = system_clock,
) -> dict[str, Any]:
    """Reverse a settlement (repeating it answers the same reversed settlement)."""
    with store.lock_waits_mapped():
        return _reverse_in_transaction(engine, settlement_id, reason, actor, clock)


def _reverse_in_transaction(
    engine: Engine,
    settlement_id: str,
    reason: str,
    actor: Principal,
    clock: Clock,
) -> dict[str, Any]:
    with write_connection(engine) as connection:
        row = store.settlement_row(connection, settlement_id)
        if row is None:
            raise not_found("settlement", settlement_id)
        authorize_hospital(actor, row.hospital_id)
        # Lock order is always accumulators, then settlement: no two transactions wait in a circle.
        store.lock_accumulators(connection, row.person_id, row.policy_year)
        row = store.settlement_row(connection, settlement_id, locked=True)
        assert row is not None
        if row.status == "reversed":
            return store.stored_document(connection, row)
        now = clock()
        store.mark_reversed(connection, row, reason, now)
        store.undo_accumulators(connection, row)
        store.withdraw_alert(connection, row.person_id, row.policy_year, now)
        receivables.cancel_for_reversal(connection, settlement_id, now)
        store.audit(connection, actor.actor, "reverse", f"{settlement_id}: {reason}", now)
        commit(connection)
        row = store.settlement_row(connection, settlement_id)
        return store.stored_document(connection, row)


def read_accumulators(
    engine: Engine, person_id: str, year: int, treated_at: str | None = None
) -> dict[str, Any]:
    """A registered person's accumulators for the year (zero before any settlement).

    With `treated_at` (a hospital key's hospital), only for a person with a settlement at that
    hospital: any other person answers exactly as an unknown one, so that a hospital cannot
    browse the group and spending of persons it has not treated, nor which ids exist. (A
    preview answers what one claim of the hospital's would pay, its figures after included:
    that is the claim's, for a patient in the hospital's care; docs/reliability.md.)
    """
    with read_connection(engine) as connection:
        if not store.person_exists(connection, person_id) or (
            treated_at is not None
            and not store.person_treated_at(connection, person_id, treated_at)
        ):
            raise not_found("person", person_id)
        return accumulators_json(store.read_accumulators(connection, person_id, year))
