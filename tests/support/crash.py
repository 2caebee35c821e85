"""The crash-safety harness: client threads that keep settling and reversing against
`onestop serve` while the test kills the service or restarts PostgreSQL, and the checks of what
they were told against the service and the database afterwards.

Client threads settle new claims, post duplicates, reverse settlements and settle reversed
claims anew, and log every request and every answer; they follow the service to a new port
(`Endpoint`) when it is started again. A request that got no answer (a connection error, a
timeout, a 5xx other than a lock's 503) may or may not have been carried out, so its client
retries it with the same body until it is answered, before it does anything else.

`verify` then checks what the clients were told against the service and the database:

- every settlement answered 201 (or first learnt of through a 200 replay) is stored and
  served exactly as it was returned; every reversal answered 200 is stored reversed;
- no claim has two settled settlements, and every stored settlement is one a client knows of;
- nothing is half-written: every settlement has its lines, its four fund rows, its four
  'settle' postings (and four negating 'reversal' postings once reversed) and its audit
  records, and no line, fund row or posting lacks its settlement;
- `api.services.ledger.check` finds no difference anywhere in the database.

The service runs with SERVICE_WORKERS worker processes leading a process group of its own
(`start_service`), so that `tests.support.server.kill_server` ends the supervisor and its
workers with one SIGKILL. The PostgreSQL helpers restart the local Debian cluster
(pg_ctlcluster) with a fast or an immediate shutdown.

The size of a run comes from the environment, so that `make soak` can run it long:
ONESTOP_SOAK_SECONDS (load time), ONESTOP_SOAK_KILLS, ONESTOP_SOAK_DB_RESTARTS,
ONESTOP_SOAK_THREADS and ONESTOP_SOAK_SEED.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import Engine, event, exc, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool
from sqlmodel import SQLModel

from api.core.config import Settings
from api.db.engine import make_engine
from api.services.ledger import check
from settlement.model import Fund
from settlement.money import money, money_to_fen
from tests.support.server import Server, healthy, start_server
from tests.support.world import World


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


SOAK_SECONDS = _env_float("ONESTOP_SOAK_SECONDS", 6.0)
"""Seconds of load, spread between the disruptions (the long version runs minutes)."""
SOAK_KILLS = _env_int("ONESTOP_SOAK_KILLS", 3)
"""SIGKILLs of the service's process group in one run."""
SOAK_DB_RESTARTS = _env_int("ONESTOP_SOAK_DB_RESTARTS", 2)
"""PostgreSQL restarts in one run, alternating fast and immediate shutdowns."""
SOAK_THREADS = _env_int("ONESTOP_SOAK_THREADS", 6)
"""Client threads, each one request at a time."""
SOAK_SEED = _env_int("ONESTOP_SOAK_SEED", 20180312)
"""Seeds the clients' choices and the disruptions' moments; printed in the summary."""
SERVICE_WORKERS = 2

REQUEST_TIMEOUT_SECONDS = 10.0
HEALTHY_WITHIN_SECONDS = 30.0
"""A (re)started service or a restarted database must answer /healthz 200 within this."""
DRAIN_SECONDS = 60.0
"""After the load, every unanswered request must get an answer within this."""
RETRY_PAUSE_SECONDS = 0.05
"""A client's pause after an unanswered request, times the attempts so far (at most 10)."""
LOCK_BUSY_PAUSE_SECONDS = 0.2
"""A client's pause after a 503 for a busy lock (shorter than Retry-After, to keep the pace)."""
OUTAGE_GRACE_SECONDS = 1.0
"""Server errors are allowed this long after the service answers /healthz again."""

REVERSE_SHARE = 0.2
RESETTLE_SHARE = 0.1
DUPLICATE_SHARE = 0.1
"""Of a client's choices: reverse a settlement it holds, settle a reversed claim anew, post a
settled claim again; the rest are new claims."""

PERSON_GROUPS = ("none", "destitute", "dibao", "registered_poor")
HOSPITAL_LEVELS = (1, 2, 3)
QUANTITY_STEPS = ("0", "1", "0.5", "2", "1.5")
"""Added to the E2 lines' quantities so that bills differ; halves exercise rounding."""
CENT = Decimal("0.01")
TOTAL_NAMES = (
    "total", "full_selfpay", "over_cap_selfpay", "first_selfpay", "in_scope",
    "deductible_applied", "basic_insurance", "critical_illness", "medical_assistance",
    "charity", "fund_total", "patient_pay", "refused_selfpay", "health_fund",
)  # fmt: skip
FUND_COUNT = len(Fund)
REVERSAL_FIELDS = ("status", "reversed_at")
"""What a reversal changes in a settlement's document; everything else stays as it was."""

TABLES = SQLModel.metadata.tables
SETTLEMENT = TABLES["settlement"]
FUNDS = TABLES["settlement_fund"]
POSTINGS = TABLES["fund_posting"]
AUDIT = TABLES["audit"]


# ---------------------------------------------------------------- the service, killable


def start_service(database_url: str, log_dir: Path, generation: int) -> Server:
    """The service under test: SERVICE_WORKERS workers in a process group of their own (for
    `kill_server`), logging to service-<generation>.log in `log_dir`."""
    return start_server(
        database_url,
        workers=SERVICE_WORKERS,
        log_path=log_dir / f"service-{generation}.log",
        own_process_group=True,
        healthy_within=HEALTHY_WITHIN_SECONDS,
    )


class Endpoint:
    """The base URL of the service now running, and how many times it has changed."""

    def __init__(self, base_url: str) -> None:
        self._lock = threading.Lock()
        self._base_url = base_url
        self._generation = 0

    def get(self) -> tuple[str, int]:
        with self._lock:
            return self._base_url, self._generation

    def move(self, base_url: str) -> None:
        with self._lock:
            self._base_url = base_url
            self._generation += 1


class RoundRobin(Endpoint):
    """Several services over one database, each request (a retry too) to the next one in
    turn: how a province scales out, stateless workers behind a load balancer."""

    def __init__(self, base_urls: list[str]) -> None:
        super().__init__(base_urls[0])
        self._base_urls = base_urls
        self._turn = 0

    def get(self) -> tuple[str, int]:
        with self._lock:
            self._turn += 1
            return self._base_urls[self._turn % len(self._base_urls)], self._generation


# ---------------------------------------------------------------- clients


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request as its client saw it (times in seconds since the run began)."""

    client: int
    generation: int
    action: str
    key: str
    sent: float
    answered: float
    outcome: str
    """The HTTP status, or the class name of the connection error."""

    @property
    def status(self) -> int | None:
        return int(self.outcome) if self.outcome.isdigit() else None


@dataclass(frozen=True, slots=True)
class Operation:
    """What a client is doing: settling a claim or reversing a settlement, until answered."""

    action: str  # "settle" or "reverse"
    key: str  # the claim id or the settlement id
    uncertain: bool = False
    """An earlier attempt got no answer, so it may have been carried out."""


@dataclass
class Client:
    """One client thread: its claims, what it was told, and its log."""

    index: int
    world: World
    endpoint: Endpoint
    origin: float
    rng: random.Random
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every settlement acknowledged to this client (201, or a 200 replay), as first shown."""
    reversals: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every reversal answered 200, as answered."""
    claim_of: dict[str, str] = field(default_factory=dict)
    live: dict[str, str] = field(default_factory=dict)
    """Claim id → its settled settlement, as far as this client knows."""
    resettleable: set[str] = field(default_factory=set)
    """Claims whose settlement this client reversed and has not settled anew."""
    pending: Operation | None = None
    attempts: list[Attempt] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    resolved: Counter[str] = field(default_factory=Counter)
    """How uncertain operations ended: replayed, settled anew, reversed."""
    claims_made: int = 0

    def run(self, stop: threading.Event, drain_seconds: float) -> None:
        """Operate until `stop`, then retry what is unanswered until answered or out of time."""
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as http:
            try:
                while not stop.is_set():
                    self.step(http, self.pending or self._choose())
                deadline = time.monotonic() + drain_seconds
                while self.pending is not None and time.monotonic() < deadline:
                    self.step(http, self.pending)
            except Exception as error:
                self.violations.append(f"client {self.index} crashed: {error!r}")
                raise
        if self.pending is not None:
            self.violations.append(
                f"client {self.index}: {self.pending} still unanswered {drain_seconds} s after "
                "the load stopped"
            )

    def _clock(self) -> float:
        return time.monotonic() - self.origin

    def _choose(self) -> Operation:
        roll = self.rng.random()
        if roll < REVERSE_SHARE and self.live:
            return Operation("reverse", self.live[self.rng.choice(sorted(self.live))])
        roll -= REVERSE_SHARE
        if roll < RESETTLE_SHARE and self.resettleable:
            return Operation("settle", self.rng.choice(sorted(self.resettleable)))
        roll -= RESETTLE_SHARE
        if roll < DUPLICATE_SHARE and self.live:
            return Operation("settle", self.rng.choice(sorted(self.live)))
        return Operation("settle", self.new_claim())

    def new_claim(self) -> str:
        self.claims_made += 1
        claim_id = f"ZY{self.world.tag}C{self.index:02d}N{self.claims_made:05d}"
        body = self.world.claim(
            "e2",
            level=self.rng.choice(HOSPITAL_LEVELS),
            person=self.rng.choice(PERSON_GROUPS),
            claim_id=claim_id,
        )
        for item in body["items"]:
            quantity = Decimal(item["quantity"]) + Decimal(self.rng.choice(QUANTITY_STEPS))
            amount = quantity * Decimal(item["unit_price"])
            item["quantity"] = str(quantity)
            item["amount"] = str(amount.quantize(CENT, rounding=ROUND_HALF_UP))
        self.claims[claim_id] = body
        return claim_id

    def _headers(self, hospital_id: str) -> dict[str, str]:
        return self.world.auth(self.world.keys.hospital[hospital_id])

    def step(self, http: httpx.Client, operation: Operation) -> None:
        if operation.action == "settle":
            body = self.claims[operation.key]
            path = "/v1/settlements"
            hospital_id = body["hospital_id"]
        else:
            body = {"reason": "冲正：崩溃测试"}
            path = f"/v1/settlements/{operation.key}/reversal"
            hospital_id = self.claims[self.claim_of[operation.key]]["hospital_id"]
        headers = self._headers(hospital_id)
        response = self._send(http, operation, path, body, headers)
        if response is None or (response.status_code >= 500 and response.status_code != 503):
            # No answer, or a server error: the request may have been carried out or not.
            self.pending = replace(operation, uncertain=True)
            attempts = sum(1 for attempt in self.attempts[-10:] if attempt.key == operation.key)
            time.sleep(RETRY_PAUSE_SECONDS * min(attempts, 10) * (0.5 + self.rng.random()))
            return
        if response.status_code == 503:
            self._check_busy(response, operation)
            self.pending = operation
            time.sleep(LOCK_BUSY_PAUSE_SECONDS)
            return
        self.pending = None
        if operation.action == "settle":
            self._settled(operation, response)
        else:
            self._reversed(operation, response)

    def _send(
        self,
        http: httpx.Client,
        operation: Operation,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> httpx.Response | None:
        base_url, generation = self.endpoint.get()
        sent = self._clock()
        response: httpx.Response | None
        try:
            response = http.post(base_url + path, json=body, headers=headers)
            outcome = str(response.status_code)
        except httpx.TransportError as error:
            response = None
            outcome = type(error).__name__
        self.attempts.append(
            Attempt(
                self.index,
                generation,
                operation.action,
                operation.key,
                sent,
                self._clock(),
                outcome,
            )
        )
        return response

    def _check_busy(self, response: httpx.Response, operation: Operation) -> None:
        if "Retry-After" not in response.headers:
            self.violations.append(f"{operation}: 503 without Retry-After: {response.text[:300]}")

    def _settled(self, operation: Operation, response: httpx.Response) -> None:
        claim_id = operation.key
        if response.status_code not in (200, 201):
            self.violations.append(
                f"settle {claim_id}: unexpected {response.status_code}: {response.text[:300]}"
            )
            return
        document: dict[str, Any] = response.json()
        settlement_id: str = document["settlement_id"]
        known = self.live.get(claim_id)
        if document["status"] != "settled" or document["claim_id"] != claim_id:
            self.violations.append(f"settle {claim_id}: answered {document}")
        if response.status_code == 201:
            if known is not None:
                self.violations.append(
                    f"claim {claim_id} settled twice: {known}, then {settlement_id}"
                )
            if settlement_id in self.documents:
                self.violations.append(f"201 for {settlement_id}, which existed already")
            if operation.uncertain:
                self.resolved["settled anew"] += 1
        else:
            if response.headers.get("Idempotent-Replayed") != "true":
                self.violations.append(f"settle {claim_id}: 200 without Idempotent-Replayed")
            if known is not None and document != self.documents[known]:
                self.violations.append(
                    f"claim {claim_id}: replay {document} differs from {self.documents[known]}"
                )
            if known is None and not operation.uncertain:
                self.violations.append(
                    f"claim {claim_id}: replayed as {settlement_id}, yet no earlier attempt "
                    "can have settled it"
                )
            if known is None and operation.uncertain:
                self.resolved["replayed"] += 1
        self.documents.setdefault(settlement_id, document)
        self.claim_of[settlement_id] = claim_id
        self.live[claim_id] = settlement_id
        self.resettleable.discard(claim_id)

    def _reversed(self, operation: Operation, response: httpx.Response) -> None:
        settlement_id = operation.key
        if response.status_code != 200:
            lost = " (an acknowledged settlement is LOST)" if response.status_code == 404 else ""
            self.violations.append(
                f"reverse {settlement_id}: unexpected {response.status_code}{lost}: "
                f"{response.text[:300]}"
            )
            return
        document: dict[str, Any] = response.json()
        if document["status"] != "reversed" or _without_reversal(document) != _without_reversal(
            self.documents[settlement_id]
        ):
            self.violations.append(
                f"reverse {settlement_id}: answered {document}, "
                f"settled as {self.documents[settlement_id]}"
            )
        if operation.uncertain:
            self.resolved["reversed"] += 1
        self.reversals[settlement_id] = document
        claim_id = self.claim_of[settlement_id]
        if self.live.get(claim_id) == settlement_id:
            del self.live[claim_id]
            self.resettleable.add(claim_id)


def _without_reversal(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name not in REVERSAL_FIELDS}


class Load:
    """Client threads driving the service until stopped, then draining what is unanswered;
    and one more client, without a thread, for the test's own probes."""

    def __init__(self, world: World, endpoint: Endpoint, threads: int, seed: int) -> None:
        self.origin = time.monotonic()
        self.clients = [
            Client(index, world, endpoint, self.origin, random.Random(seed * 1_000 + index))
            for index in range(threads + 1)
        ]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=client.run, args=(self._stop, DRAIN_SECONDS), daemon=True)
            for client in self.clients[:threads]
        ]

    def now(self) -> float:
        return time.monotonic() - self.origin

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def probe(self) -> str:
        """Settle a new claim from the calling thread; the outcome of that one request."""
        prober = self.clients[-1]
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as http:
            prober.step(http, Operation("settle", prober.new_claim()))
        return prober.attempts[-1].outcome

    def stop_and_drain(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(DRAIN_SECONDS + REQUEST_TIMEOUT_SECONDS * 2)
            assert not thread.is_alive(), "a client thread did not finish"
        if self.clients[-1].pending is not None:
            self.clients[-1].run(self._stop, DRAIN_SECONDS)

    @property
    def attempts(self) -> list[Attempt]:
        return sorted(
            (attempt for client in self.clients for attempt in client.attempts),
            key=lambda attempt: attempt.sent,
        )

    def write_logs(self, directory: Path) -> None:
        """requests.jsonl: every request and its outcome; answers.jsonl: every 201/200."""
        with (directory / "requests.jsonl").open("w", encoding="utf-8") as log:
            for attempt in self.attempts:
                log.write(json.dumps(asdict(attempt)) + "\n")
        with (directory / "answers.jsonl").open("w", encoding="utf-8") as log:
            for client in self.clients:
                for answers in (client.documents, client.reversals):
                    for document in answers.values():
                        log.write(json.dumps({"client": client.index, **document}) + "\n")


@contextmanager
def running_load(load: Load) -> Iterator[Load]:
    """Start the clients; stop them (and drain) even when the disruptions fail."""
    load.start()
    try:
        yield load
    finally:
        load.stop_and_drain()


# ---------------------------------------------------------------- checks


@dataclass
class Verdict:
    problems: list[str]
    lost: int
    stored: int


def verify(load: Load, world: World, settings: Settings, base_url: str) -> Verdict:
    """Check the service and the database against everything the clients were told."""
    problems = [violation for client in load.clients for violation in client.violations]
    documents = {sid: doc for client in load.clients for sid, doc in client.documents.items()}
    reversals = {sid: doc for client in load.clients for sid, doc in client.reversals.items()}
    claims = {claim_id: body for client in load.clients for claim_id, body in client.claims.items()}
    lost = _served_as_acknowledged(world, base_url, documents, reversals, problems)
    engine = make_engine(settings)
    try:
        stored = _stored_settlements(engine, list(world.hospitals.values()))
        lost += _stored_as_acknowledged(stored, documents, reversals, problems)
        problems.extend(_half_written(engine, stored, claims))
        problems.extend(_doubly_settled(engine))
        report = check(engine, None)
        problems.extend(f"ledger: {difference}" for difference in report.differences)
    finally:
        engine.dispose()
    return Verdict(problems, lost, len(stored))


def _served_as_acknowledged(
    world: World,
    base_url: str,
    documents: dict[str, dict[str, Any]],
    reversals: dict[str, dict[str, Any]],
    problems: list[str],
) -> int:
    """GET every acknowledged settlement: it must be what was answered (reversed if it was)."""
    lost = 0
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        for settlement_id, document in documents.items():
            response = http.get(
                f"/v1/settlements/{settlement_id}", headers=world.auth(world.keys.admin)
            )
            expected = reversals.get(settlement_id, document)
            if response.status_code != 200 or response.json() != expected:
                lost += 1
                problems.append(
                    f"LOST: GET {settlement_id} answered {response.status_code} "
                    f"{response.text[:500]}, acknowledged as {expected}"
                )
    return lost


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored settlement and counts of what belongs to it."""

    row: dict[str, Any]
    lines: int = 0
    funds: int = 0
    postings: tuple[tuple[str, int, int], ...] = ()
    """(kind, count, sum of amounts) per posting kind."""
    audits: tuple[str, ...] = ()


def _stored_settlements(engine: Engine, hospital_ids: list[str]) -> dict[str, Stored]:
    """The settlements of these hospitals, with their lines, funds, postings and audits counted."""
    s = SETTLEMENT.c
    ours = s.hospital_id.in_(hospital_ids)

    def joined(table: Any) -> Any:
        return table.join(SETTLEMENT, table.c.settlement_id == s.settlement_id)

    with engine.connect() as connection:
        rows = {
            row["settlement_id"]: dict(row)
            for row in connection.execute(select(SETTLEMENT).where(ours)).mappings()
        }
        query = (
            select(FUNDS.c.settlement_id, func.count())
            .select_from(joined(FUNDS))
            .where(ours)
            .group_by(FUNDS.c.settlement_id)
        )
        funds = {sid: int(count) for sid, count in connection.execute(query)}
        p = POSTINGS.c
        postings: dict[str, list[tuple[str, int, int]]] = {}
        query = (
            select(p.settlement_id, p.kind, func.count(), func.sum(p.amount_fen))
            .select_from(joined(POSTINGS))
            .where(ours)
            .group_by(p.settlement_id, p.kind)
        )
        for sid, kind, count, amount in connection.execute(query):
            postings.setdefault(sid, []).append((kind, int(count), int(amount)))
        audits: dict[str, list[str]] = {}
        query = select(AUDIT.c.action, AUDIT.c.subject).where(
            AUDIT.c.action.in_(("settle", "reverse"))
        )
        for action, subject in connection.execute(query):
            # Subjects read "<settlement id> claim …" (settle) and "<settlement id>: …" (reverse).
            audits.setdefault(subject.split(" ", 1)[0].rstrip(":"), []).append(action)
    return {
        sid: Stored(
            row,
            len(json.loads(row["lines"])),
            funds.get(sid, 0),
            tuple(sorted(postings.get(sid, []))),
            tuple(sorted(audits.get(sid, []))),
        )
        for sid, row in rows.items()
    }


def _stored_as_acknowledged(
    stored: dict[str, Stored],
    documents: dict[str, dict[str, Any]],
    reversals: dict[str, dict[str, Any]],
    problems: list[str],
) -> int:
    """Every acknowledged settlement is a row with the answered totals and status; and every
    row is one a client was told of (each unanswered request was retried until answered)."""
    lost = 0
    for settlement_id, document in documents.items():
        found = stored.get(settlement_id)
        status = "reversed" if settlement_id in reversals else "settled"
        if found is None:
            lost += 1
            problems.append(f"LOST: {settlement_id} acknowledged, not in the database")
            continue
        row = found.row
        totals = {name: money_to_fen(money(document["totals"][name])) for name in TOTAL_NAMES}
        stored_totals = {name: row[f"{name}_fen"] for name in TOTAL_NAMES}
        if stored_totals != totals or row["status"] != status:
            lost += 1
            problems.append(
                f"LOST: {settlement_id} stored {row['status']} {stored_totals}, "
                f"acknowledged {status} {totals}"
            )
    for settlement_id in sorted(set(stored) - set(documents)):
        row = stored[settlement_id].row
        problems.append(
            f"{settlement_id} ({row['status']}, claim {row['claim_id']}) is stored, but no "
            "client was ever told of it"
        )
    return lost


def _half_written(
    engine: Engine, stored: dict[str, Stored], claims: dict[str, dict[str, Any]]
) -> list[str]:
    """Each settlement complete (lines, funds, postings, audit); no orphan anywhere."""
    problems = []
    for settlement_id, found in sorted(stored.items()):
        claim = claims.get(found.row["claim_id"])
        reversed_ = found.row["status"] == "reversed"
        fund_total = found.row["fund_total_fen"]
        postings = [("settle", FUND_COUNT, fund_total)]
        if reversed_:
            postings.insert(0, ("reversal", FUND_COUNT, -fund_total))
        audits = ("reverse", "settle") if reversed_ else ("settle",)
        whole = (
            claim is not None
            and found.lines == len(claim["items"])
            and found.funds == FUND_COUNT
            and list(found.postings) == postings
            and found.audits == audits
        )
        if not whole:
            problems.append(
                f"HALF-WRITTEN: {settlement_id} ({found.row['status']}): {found.lines} lines "
                f"of {None if claim is None else len(claim['items'])}, {found.funds} fund rows, "
                f"postings {found.postings} (expected {postings}), audit {found.audits}"
            )
    with engine.connect() as connection:
        for table in (FUNDS, POSTINGS):
            orphans = connection.execute(
                select(func.count())
                .select_from(
                    table.outerjoin(SETTLEMENT, table.c.settlement_id == SETTLEMENT.c.settlement_id)
                )
                .where(SETTLEMENT.c.settlement_id.is_(None))
            ).scalar_one()
            if orphans:
                problems.append(f"ORPHANS: {orphans} {table.name} rows without their settlement")
    return problems


def _doubly_settled(engine: Engine) -> list[str]:
    """Claims with more than one settled settlement, anywhere in the database."""
    s = SETTLEMENT.c
    query = (
        select(s.hospital_id, s.claim_id, func.count())
        .where(s.status == "settled")
        .group_by(s.hospital_id, s.claim_id)
        .having(func.count() > 1)
    )
    with engine.connect() as connection:
        return [
            f"DOUBLED: claim {hospital_id}/{claim_id} has {count} settled settlements"
            for hospital_id, claim_id, count in connection.execute(query)
        ]


def summary(title: str, load: Load, crashes: int, restarts: int, verdict: Verdict) -> str:
    attempts = load.attempts
    outcomes = Counter(f"{attempt.action} {attempt.outcome}" for attempt in attempts)
    resolved: Counter[str] = Counter()
    for client in load.clients:
        resolved.update(client.resolved)
    shown = ", ".join(f"{outcome}: {count}" for outcome, count in sorted(outcomes.items()))
    return (
        f"[{title}] tried: {len(attempts)} requests, {crashes} crashes, {restarts} restarts; "
        f"lost: {verdict.lost} (stored {verdict.stored} settlements; answers {shown}; "
        f"uncertain outcomes resolved: {dict(resolved)}; seed {SOAK_SEED})"
    )


def assert_sound(verdict: Verdict, log_dir: Path) -> None:
    shown = "\n".join(verdict.problems[:30])
    more = len(verdict.problems) - 30
    assert not verdict.problems, (
        f"{len(verdict.problems)} problems{f' ({more} not shown)' if more > 0 else ''}; "
        f"request log and service logs in {log_dir}:\n{shown}"
    )
    assert verdict.lost == 0


def gaps(rng: random.Random, disruptions: int) -> list[float]:
    """Load time before each disruption and after the last, about SOAK_SECONDS in all."""
    share = SOAK_SECONDS / (disruptions + 1)
    return [rng.uniform(0.5, 1.5) * share for _ in range(disruptions + 1)]


# ---------------------------------------------------------------- PostgreSQL restarts


@dataclass(frozen=True, slots=True)
class Outage:
    """One database restart, in seconds since the load began."""

    mode: str
    stopping: float
    stopped: float
    starting: float
    started: float
    recovered: float
    """When the service first answered /healthz 200 again."""


def local_cluster(database_url: str) -> tuple[str, str] | None:
    """(version, name) of the local Debian cluster serving the URL's port, if there is one."""
    url = make_url(database_url)
    if url.host not in (None, "127.0.0.1", "localhost", "::1"):
        return None
    if shutil.which("pg_lsclusters") is None or shutil.which("pg_ctlcluster") is None:
        return None
    listed = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    )
    for line in listed.stdout.splitlines():
        version, name, port, *_ = line.split()
        if int(port) == (url.port or 5432):
            return version, name
    return None


def pg_ctl(
    cluster: tuple[str, str], action: str, *options: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action, *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pg_accepting(database_url: str) -> bool:
    conninfo = make_url(database_url).set(drivername="postgresql")
    try:
        with psycopg.connect(conninfo.render_as_string(hide_password=False), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def ensure_cluster_running(cluster: tuple[str, str], database_url: str) -> None:
    """Start the cluster if it is down and wait until it accepts connections."""
    if pg_ctl(cluster, "status").returncode != 0:
        pg_ctl(cluster, "start")
    deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
    while not pg_accepting(database_url):
        assert time.monotonic() < deadline, f"PostgreSQL {cluster} does not accept connections"
        time.sleep(0.2)


_RESTARTED_AT: list[float] = []
"""Wall-clock moments this process restarted the database server (see below)."""


def refuse_connections_opened_before_the_restart() -> None:
    """Make every pool of this process drop connections opened before the last restart.

    They died with the server, and the session's own fixtures (the engine that drops the test
    database at the end) do not ping before use. A class-level checkout listener reaches
    every pool, existing ones included; a refused connection is replaced by a new one.
    """
    if not _RESTARTED_AT:
        event.listen(Pool, "checkout", _refuse_connection_opened_before_the_restart)
    _RESTARTED_AT.append(time.time())


def _refuse_connection_opened_before_the_restart(
    _dbapi_connection: Any, record: Any, _proxy: Any
) -> None:
    if record.starttime < _RESTARTED_AT[-1]:
        raise exc.DisconnectionError("opened before the database server was restarted")


def restart_database(
    cluster: tuple[str, str], mode: str, rng: random.Random, load: Load, service: Server
) -> Outage:
    stopping = load.now()
    stopped_process = pg_ctl(cluster, "stop", "-m", mode)
    assert stopped_process.returncode == 0, stopped_process.stderr
    stopped = load.now()
    time.sleep(rng.uniform(1.0, 2.0))
    starting = load.now()
    started_process = pg_ctl(cluster, "start")
    assert started_process.returncode == 0, started_process.stderr
    started = load.now()
    deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
    while not healthy(service.base_url):
        assert service.process.poll() is None, "the service died with the database"
        assert time.monotonic() < deadline, (
            f"the service did not recover within {HEALTHY_WITHIN_SECONDS} s of the restart"
        )
        time.sleep(0.05)
    return Outage(mode, stopping, stopped, starting, started, load.now())


def answers_during_outages(attempts: list[Attempt], outages: list[Outage]) -> tuple[int, list[str]]:
    """How many requests were made while the database was down, and every wrong answer:
    a server error or connection error outside an outage, or a success while it was down."""
    down = 0
    wrong = []
    for attempt in attempts:
        failed = attempt.status is None or attempt.status >= 500
        during = any(
            attempt.answered >= outage.stopping
            and attempt.sent <= outage.recovered + OUTAGE_GRACE_SECONDS
            for outage in outages
        )
        while_down = any(
            attempt.sent >= outage.stopped and attempt.answered <= outage.starting
            for outage in outages
        )
        down += while_down
        if failed and attempt.status != 503 and not during:
            wrong.append(f"{attempt} outside every outage")
        if while_down and not failed:
            wrong.append(f"{attempt} answered while the database was down")
    return down, wrong
