"""Policy simulation (政策测算, SIMULATION.md): a recorded year re-settled under a candidate tariff.

Each person's events of the year (settlements, also those reversed later, and reversals) are
replayed in the order they were committed, twice: under the tariff versions recorded on each
settlement (the baseline, which must reproduce every stored settlement to the fen) and under
the candidate's versions. The work is independent per person, so it is partitioned by a stable
hash of `person_id` (`partition_of`); each partition is one task (`replay_partition`) that
opens its own read-only connection, reads its persons' events and returns only aggregates and
burdens (`PartitionResult`). The tasks run on Dask distributed (`run_partitions`): a local
cluster of worker processes, or an existing cluster by its scheduler's address.

The order of events is the ledger's own: every settlement and every reversal appends its five
fund postings (`fund_posting`, whose id only grows), and a person's settlements and reversals
are written one after the other under the lock of the person's accumulators row, so within a
person-year the smallest posting id of each event is the order they were committed in, even
where timestamps tie (a group commit's batch) or a clock stepped back.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from api.db.rows import settlement_contribution, stored_claim
from api.db.tables import ACCUMULATOR_COLUMNS, FUND_POSTING, SETTLEMENT, TOTAL_COLUMNS
from settlement.engine import settle
from settlement.model import AccumulatorsFen
from settlement.money import format_fen
from settlement.rejection import Rejection
from settlement.result import Settlement
from settlement.tariff import Tariff, TariffBook

FIGURES: Final[tuple[str, ...]] = (
    "basic_insurance_fen",
    "critical_illness_fen",
    "medical_assistance_fen",
    "charity_fen",
    "health_fund_fen",
    "patient_pay_fen",
)
"""What the report adds up per run: the five funds, in cascade order, and the patients' pay."""
RUNS: Final[tuple[str, str]] = ("baseline", "candidate")
PERSONS_A_READ: Final = 500
"""Persons whose events one query reads: a partition's memory is bounded by this, not by its
size (a province's year is millions of settlements)."""
PARTITIONS_PER_WORKER: Final = 4
"""Tasks per worker: enough that a slow partition does not leave the others idle at the end."""


def partition_of(person_id: str, partitions: int) -> int:
    """The partition holding a person: the first 32 bits of the MD5 of their id, modulo the
    number of partitions. Stable across processes, machines and databases (Python's `hash` is
    not); `_PARTITION_SQL` computes the same in each database."""
    digest = hashlib.md5(person_id.encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % partitions


_PARTITION_SQL: Final[dict[str, str]] = {
    "sqlite": "onestop_partition(person_id, :partitions)",
    "postgresql": "mod(('x' || substr(md5(person_id), 1, 8))::bit(32)::bigint, :partitions)",
}


# ---------------------------------------------------------------- what a partition returns


@dataclass(frozen=True, slots=True, order=True)
class Difference:
    """A stored settlement the baseline did not reproduce: which figure, stored and replayed
    (a replay refused names its problems as `replayed`)."""

    settlement_id: str
    figure: str
    stored: str
    replayed: str


@dataclass(frozen=True, slots=True, order=True)
class Refusal:
    """A recorded claim the candidate cannot settle, with every problem."""

    settlement_id: str
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True, order=True)
class Burden:
    """A person-year's burden (`patient_paid`, rules §16) at the end of both runs."""

    person_id: str
    group: str | None
    baseline_fen: int
    candidate_fen: int


def _zero_runs() -> dict[str, list[int]]:
    """Each run's figures (in the order of `FIGURES`), all zero."""
    return {run: [0] * len(FIGURES) for run in RUNS}


@dataclass(slots=True)
class PartitionResult:
    """What one partition found: sums in integer fen, so that partitions add up exactly in any
    order and the report is the same whatever the partitioning."""

    settlements: int = 0
    """Settlement events of the year and region (reversed later or not)."""
    reversals: int = 0
    standing: int = 0
    funds: dict[str, list[int]] = field(default_factory=_zero_runs)
    by_group: dict[str | None, dict[str, list[int]]] = field(default_factory=dict)
    by_level: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    patient_pay: list[int] = field(default_factory=lambda: [0, 0, 0])
    """Standing settlements whose `patient_pay` rose, fell, stayed the same."""
    burdens: list[Burden] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Settlements stored without the inputs to settle them again (migration 0010)."""
    substituted: set[tuple[str, str, str, str]] = field(default_factory=set)
    """(kind, region, recorded version, candidate version) for each version replaced."""

    def add(self, other: PartitionResult) -> None:
        self.settlements += other.settlements
        self.reversals += other.reversals
        self.standing += other.standing
        for run in RUNS:
            _add_into(self.funds[run], other.funds[run])
        for mine, theirs in ((self.by_group, other.by_group), (self.by_level, other.by_level)):
            for key, runs in theirs.items():
                target = mine.setdefault(key, _zero_runs())  # type: ignore[arg-type]
                for run in RUNS:
                    _add_into(target[run], runs[run])
        _add_into(self.patient_pay, other.patient_pay)
        self.burdens += other.burdens
        self.differences += other.differences
        self.refusals += other.refusals
        self.unreadable += other.unreadable
        self.substituted |= other.substituted


def _add_into(target: list[int], values: Sequence[int]) -> None:
    for index, value in enumerate(values):
        target[index] += value


# ---------------------------------------------------------------- the books of each run


class Books:
    """The tariffs of both runs for each settlement: the baseline's are the versions recorded on
    it (looked up in the service's tariffs), the candidate's the candidate's versions in force on
    the discharge date for the insured region (policy) and the treatment region (catalog),
    else the recorded ones. Each pair is one small `TariffBook`, made once."""

    def __init__(self, recorded: TariffBook, candidate: TariffBook) -> None:
        self.recorded = recorded
        self.candidate = candidate
        self._made: dict[tuple[int, int], TariffBook] = {}
        self._chosen: dict[tuple[str, str, str, str, date], Any] = {}

    def baseline(self, row: Any) -> TariffBook | str:
        """The book of the recorded versions, or why there is none."""
        policy = self.recorded.by_version(row.tariff_version)
        catalog = self.recorded.by_version(row.catalog_version)
        for version, found in ((row.tariff_version, policy), (row.catalog_version, catalog)):
            if found is None:
                return f"tariff version {version} is not among the service's tariffs"
        assert policy is not None
        assert catalog is not None
        return self._book(policy, catalog)

    def candidate_for(self, row: Any, result: PartitionResult) -> TariffBook:
        """The candidate's book for a settlement whose baseline book exists; each version the
        candidate replaces is noted in `result.substituted`."""
        key = (
            row.tariff_version,
            row.catalog_version,
            row.insured_region,
            row.treatment_region,
            row.discharge_date,
        )
        chosen = self._chosen.get(key)
        if chosen is None:
            chosen = self._choose(row)
            self._chosen[key] = chosen
        policy, catalog, substituted = chosen
        result.substituted |= substituted
        return self._book(policy, catalog)

    def _choose(self, row: Any) -> tuple[Tariff, Tariff, frozenset[tuple[str, str, str, str]]]:
        policy = self.candidate.select(row.insured_region, row.discharge_date)
        substituted = set()
        if policy is None:
            policy = self.recorded.by_version(row.tariff_version)
        else:
            substituted.add(("policy", row.insured_region, row.tariff_version, policy.version))
        assert policy is not None
        if row.insured_region == row.treatment_region:
            return policy, policy, frozenset(substituted)
        catalog = self.candidate.select(row.treatment_region, row.discharge_date)
        if catalog is None:
            catalog = self.recorded.by_version(row.catalog_version)
        else:
            substituted.add(("catalog", row.treatment_region, row.catalog_version, catalog.version))
        assert catalog is not None
        return policy, catalog, frozenset(substituted)

    def _book(self, policy: Tariff, catalog: Tariff) -> TariffBook:
        key = (id(policy), id(catalog))
        book = self._made.get(key)
        if book is None:
            tariffs = (policy,) if policy is catalog else (policy, catalog)
            book = TariffBook(tariffs)
            self._made[key] = book
        return book


# ---------------------------------------------------------------- replaying one person-year


@dataclass(slots=True)
class _Run:
    """One run's state for a person-year: the accumulators and each settlement's result."""

    accumulators: AccumulatorsFen
    results: dict[str, Settlement] = field(default_factory=dict)


def _undone(accumulators: AccumulatorsFen, settlement: Settlement) -> AccumulatorsFen:
    """The accumulators with exactly what a settlement added taken out (rules §9), as a
    reversal undoes it in the database (`api.db.store.undo_accumulators`)."""
    taken = settlement_contribution(settlement.totals)
    return AccumulatorsFen(
        accumulators.year,
        *(
            getattr(accumulators, name) - taken[column]
            for name, column in ACCUMULATOR_COLUMNS.items()
        ),
    )


def _figures(settlement: Settlement) -> list[int]:
    totals = settlement.totals
    return [getattr(totals, name) for name in FIGURES]


def replay_person(
    rows: Sequence[Any], year: int, region: str, books: Books, result: PartitionResult
) -> None:
    """Replay one person's events of the year (their settlement rows, each with its
    `settled_seq` and `reversed_seq`) under both runs, adding what they come to into `result`.
    Only settlements of `region` are counted; the person's settlements elsewhere in the year
    are replayed too, because they move the same accumulators."""
    events: list[tuple[int, bool, Any]] = []
    for row in rows:
        events.append((row.settled_seq, True, row))
        if row.reversed_seq is not None:
            events.append((row.reversed_seq, False, row))
    events.sort(key=lambda item: item[0])
    runs = {run: _Run(AccumulatorsFen.empty(year)) for run in RUNS}
    blocked = False
    for _, settling, row in events:
        if settling:
            blocked = _settle_event(row, region, runs, books, result, blocked=blocked)
        elif not blocked:
            for run in runs.values():
                run.accumulators = _undone(run.accumulators, run.results[row.settlement_id])
                del run.results[row.settlement_id]
            if row.insured_region == region:
                result.reversals += 1
    if blocked:
        return
    standing = [row for row in rows if row.reversed_seq is None]
    counted = [row for row in standing if row.insured_region == region]
    if not counted:
        return
    for row in counted:
        _count_standing(row, runs, result)
    last = max(counted, key=lambda row: row.settled_seq)
    result.burdens.append(
        Burden(
            last.person_id,
            last.group,
            runs["baseline"].accumulators.patient_paid,
            runs["candidate"].accumulators.patient_paid,
        )
    )


def _settle_event(
    row: Any, region: str, runs: dict[str, _Run], books: Books, result: PartitionResult, *,
    blocked: bool,
) -> bool:  # fmt: skip
    """Settle one recorded claim under both runs; True when the person-year cannot go on
    (`blocked`: an earlier event already stopped it). A stopped person-year's later claims are
    still tried under the candidate, so that every claim it refuses is listed, but their
    baseline is not compared: it would start from accumulators that miss an event."""
    if row.insured_region == region:
        result.settlements += 1
    inputs = stored_claim(row)
    if inputs is None:
        result.unreadable.append(row.settlement_id)
        return True
    claim, person, level = inputs
    baseline_book = books.baseline(row)
    if isinstance(baseline_book, str):
        if not blocked:
            result.differences.append(
                Difference(row.settlement_id, "tariff_version", row.tariff_version, baseline_book)
            )
        return True
    baseline = runs["baseline"]
    replayed = settle(
        claim, person, level, baseline.accumulators.to_money(), baseline_book,
        row.treatment_region,
    )  # fmt: skip
    if isinstance(replayed, Rejection):
        if not blocked:
            problems = "; ".join(problem.msg for problem in replayed.problems)
            result.differences.append(
                Difference(row.settlement_id, "settlement", "settled", problems)
            )
        blocked = True
    elif not blocked:
        _compare(row, replayed, result)
    candidate = runs["candidate"]
    simulated = settle(
        claim, person, level, candidate.accumulators.to_money(),
        books.candidate_for(row, result), row.treatment_region,
    )  # fmt: skip
    if isinstance(simulated, Rejection):
        why = tuple(problem.msg for problem in simulated.problems)
        result.refusals.append(Refusal(row.settlement_id, why))
        return True
    if blocked:
        return True
    assert isinstance(replayed, Settlement)
    for run, settled in ((baseline, replayed), (candidate, simulated)):
        run.accumulators = settled.accumulators_after_fen
        run.results[row.settlement_id] = settled
    return False


def _compare(row: Any, replayed: Settlement, result: PartitionResult) -> None:
    """Every total of the stored settlement the baseline did not reproduce."""
    for name in TOTAL_COLUMNS:
        stored, again = getattr(row, name), getattr(replayed.totals, name)
        if stored != again:
            result.differences.append(
                Difference(
                    row.settlement_id, name.removesuffix("_fen"), format_fen(stored),
                    format_fen(again),
                )
            )  # fmt: skip


def _count_standing(row: Any, runs: dict[str, _Run], result: PartitionResult) -> None:
    figures = {run: _figures(runs[run].results[row.settlement_id]) for run in RUNS}
    for run in RUNS:
        _add_into(result.funds[run], figures[run])
        for table, key in ((result.by_group, row.group), (result.by_level, row.hospital_level)):
            target = table.setdefault(key, _zero_runs())
            _add_into(target[run], figures[run])
    before, after = figures["baseline"][-1], figures["candidate"][-1]
    result.patient_pay[0 if after > before else 1 if after < before else 2] += 1
    result.standing += 1


# ---------------------------------------------------------------- reading a partition


def read_only_engine(url: str) -> Engine:
    """An engine that can only read: SQLite's `query_only`, PostgreSQL's read-only
    transactions. The simulation writes nothing and can run beside a serving instance."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA query_only = ON")
            dbapi_connection.create_function(
                "onestop_partition", 2, partition_of, deterministic=True
            )

        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(
        parsed,
        poolclass=NullPool,
        connect_args={"options": "-c default_transaction_read_only=on"},
    )


_EVENT_COLUMNS: Final = (
    "settlement_id", "claim_id", "hospital_id", "person_id", "admission_date", "discharge_date",
    "tariff_version", "catalog_version", "group", "insured_region", "treatment_region",
    "filing", "lines", "diagnoses", "surgery", "hospital_level", "birth_date", "gender",
    *TOTAL_COLUMNS,
)  # fmt: skip


def _first_posting(kind: str) -> Any:
    """The smallest id of the settlement's postings of `kind`: its place in the ledger."""
    return (
        select(func.min(FUND_POSTING.c.id))
        .where(
            FUND_POSTING.c.settlement_id == SETTLEMENT.c.settlement_id,
            FUND_POSTING.c.kind == kind,
        )
        .scalar_subquery()
    )


_EVENTS = select(
    *(SETTLEMENT.c[name] for name in _EVENT_COLUMNS),
    _first_posting("settle").label("settled_seq"),
    _first_posting("reversal").label("reversed_seq"),
).where(
    SETTLEMENT.c.policy_year == bindparam("year"),
    SETTLEMENT.c.person_id.in_(bindparam("persons", expanding=True)),
)


def _persons_sql(dialect: str) -> str:
    """The partition's persons: those of the year and region (read from the index on the
    three columns), each hashed once."""
    return (
        "SELECT person_id FROM (SELECT DISTINCT person_id FROM settlement "
        "WHERE policy_year = :year AND insured_region = :region) AS persons "
        f"WHERE {_PARTITION_SQL[dialect]} = :partition ORDER BY person_id"
    )


def _events_by_person(
    connection: Connection, year: int, region: str, partition: int, partitions: int
) -> Iterator[list[Any]]:
    """Each person's settlement rows of the year, person by person, `PERSONS_A_READ` a query."""
    persons = connection.execute(
        text(_persons_sql(connection.dialect.name)),
        {"year": year, "region": region, "partition": partition, "partitions": partitions},
    ).scalars()
    chosen = list(persons)
    for start in range(0, len(chosen), PERSONS_A_READ):
        by_person: dict[str, list[Any]] = defaultdict(list)
        rows = connection.execute(
            _EVENTS, {"year": year, "persons": chosen[start : start + PERSONS_A_READ]}
        )
        for row in rows:
            by_person[row.person_id].append(row)
        for person_id in sorted(by_person):
            yield by_person[person_id]


def replay_partition(
    url: str, books: tuple[TariffBook, TariffBook], year: int, region: str, partition: int,
    partitions: int,
) -> PartitionResult:  # fmt: skip
    """One Dask task: partition `partition` of `partitions` read through its own read-only
    connection and replayed under both runs. Given the database's URL and the books, not
    the data."""
    result = PartitionResult()
    replay_books = Books(*books)
    engine = read_only_engine(url)
    try:
        with engine.connect() as connection:
            for rows in _events_by_person(connection, year, region, partition, partitions):
                replay_person(rows, year, region, replay_books, result)
    finally:
        engine.dispose()
    return result


# ---------------------------------------------------------------- running it on Dask


def run_partitions(
    url: str,
    books: tuple[TariffBook, TariffBook],
    year: int,
    region: str,
    *,
    workers: int,
    scheduler: str | None,
    on_done: Callable[[int, int], None] = lambda done, total: None,
) -> PartitionResult:
    """Every partition as a Dask task, on a local cluster of `workers` processes or on the
    cluster of `scheduler`; their results added up as they finish (`on_done(done, total)`)."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # Its diagnostics server on a free port of this machine: never a fixed port that a
            # second simulation, or another program, may hold.
            dashboard_address="127.0.0.1:0",
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        count = workers if scheduler is None else max(1, len(client.scheduler_info()["workers"]))
        partitions = PARTITIONS_PER_WORKER * count
        [shared] = client.scatter([books], broadcast=True)
        futures = [
            client.submit(
                replay_partition, url, shared, year, region, partition, partitions, pure=False
            )
            for partition in range(partitions)
        ]
        total = PartitionResult()
        for done, future in enumerate(as_completed(futures), start=1):
            total.add(future.result())
            on_done(done, partitions)
        return total
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def population(connection: Connection, year: int, region: str) -> tuple[int, int]:
    """(settlements of the year and insured region, of which stored without their inputs)."""
    row = connection.execute(
        text(
            "SELECT count(*) AS settlements, "
            "sum(CASE WHEN diagnoses IS NULL OR surgery IS NULL OR hospital_level IS NULL "
            "THEN 1 ELSE 0 END) AS unreadable "
            "FROM settlement WHERE policy_year = :year AND insured_region = :region"
        ),
        {"year": year, "region": region},
    ).one()
    return int(row.settlements), int(row.unreadable or 0)


def last_in_force(books: Iterable[TariffBook], region: str, year: int) -> Tariff | None:
    """The region's last tariff version in force during `year`, from the first book that has
    one (the candidate's, then the recorded ones)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    for book in books:
        versions = [
            tariff
            for tariff in book.tariffs
            if tariff.region == region
            and tariff.effective_from <= last
            and (tariff.effective_to is None or tariff.effective_to >= first)
        ]
        if versions:
            return max(versions, key=lambda tariff: tariff.effective_from)
    return None


# ---------------------------------------------------------------- the report


FIGURE_NAMES: Final[tuple[str, ...]] = tuple(name.removesuffix("_fen") for name in FIGURES)
"""The report's names of the figures: the five funds, then `patient_pay`."""
LARGEST_CHANGES: Final = 10
_PERCENT = Decimal("0.01")


def _change_percent(baseline: int, candidate: int) -> str | None:
    """(candidate − baseline) / baseline in percent, rounded half up to two decimals; None
    when the baseline is zero."""
    if baseline == 0:
        return None
    exact = Decimal(candidate - baseline) * 100 / Decimal(baseline)
    return str(exact.quantize(_PERCENT, rounding=ROUND_HALF_UP))


def _figure_rows(runs: dict[str, list[int]]) -> list[dict[str, Any]]:
    return [
        {
            "figure": name,
            "baseline": format_fen(runs["baseline"][index]),
            "candidate": format_fen(runs["candidate"][index]),
            "difference": format_fen(runs["candidate"][index] - runs["baseline"][index]),
            "change_percent": _change_percent(runs["baseline"][index], runs["candidate"][index]),
        }
        for index, name in enumerate(FIGURE_NAMES)
    ]


def nearest_rank(ordered: Sequence[int], percent: int) -> int:
    """The nearest-rank percentile of ascending values: the value at rank ⌈percent × n / 100⌉."""
    assert ordered
    rank = -(-percent * len(ordered) // 100)
    return ordered[max(rank, 1) - 1]


def _burden_figures(values: list[int], threshold_fen: int | None) -> dict[str, Any]:
    ordered = sorted(values)
    count = len(ordered)
    mean = (Decimal(sum(ordered)) / count).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return {
        "mean": format_fen(int(mean)),
        "median": format_fen(nearest_rank(ordered, 50)),
        "p90": format_fen(nearest_rank(ordered, 90)),
        "p99": format_fen(nearest_rank(ordered, 99)),
        "max": format_fen(ordered[-1]),
        "threshold": None if threshold_fen is None else format_fen(threshold_fen),
        "at_or_above_threshold": (
            None if threshold_fen is None else sum(value >= threshold_fen for value in ordered)
        ),
    }


def _threshold(tariff: Tariff | None) -> int | None:
    if tariff is None or tariff.burden_alert is None:
        return None
    return tariff.burden_alert.threshold_fen


def report(
    total: PartitionResult, books: tuple[TariffBook, TariffBook], year: int, region: str
) -> dict[str, Any]:
    """The report of SIMULATION.md as a JSON-ready document, amounts as exact yuan strings.
    The same whatever the partitioning: every list is sorted, every sum is exact."""
    recorded, candidate = books
    thresholds = {
        "baseline": _threshold(last_in_force([recorded], region, year)),
        "candidate": _threshold(last_in_force([candidate, recorded], region, year)),
    }
    burdens = sorted(total.burdens)
    changes = sorted(
        burdens,
        key=lambda b: (-abs(b.candidate_fen - b.baseline_fen), b.person_id),
    )[:LARGEST_CHANGES]
    substituted = sorted(total.substituted)
    return {
        "year": year,
        "region": region,
        "settlements": total.settlements,
        "reversals": total.reversals,
        "standing": total.standing,
        "substituted": [
            {"kind": kind, "region": where, "recorded": old, "candidate": new}
            for kind, where, old, new in substituted
        ],
        "notes": _notes(recorded, candidate, substituted),
        "funds": _figure_rows(total.funds),
        "by_group": [
            {"group": group, "figures": _figure_rows(total.by_group[group])}
            for group in sorted(total.by_group, key=lambda group: (group is None, group or ""))
        ],
        "by_hospital_level": [
            {"level": level, "figures": _figure_rows(total.by_level[level])}
            for level in sorted(total.by_level)
        ],
        "patient_pay": dict(zip(("rose", "fell", "same"), total.patient_pay, strict=True)),
        "burden": {
            "person_years": len(burdens),
            **{
                run: _burden_figures([getattr(b, f"{run}_fen") for b in burdens], thresholds[run])
                for run in RUNS
                if burdens
            },
        },
        "largest_burden_changes": [
            {
                "person_id": b.person_id,
                "group": b.group,
                "before": format_fen(b.baseline_fen),
                "after": format_fen(b.candidate_fen),
                "change": format_fen(b.candidate_fen - b.baseline_fen),
            }
            for b in changes
        ],
        "baseline_differences": [
            {
                "settlement_id": d.settlement_id,
                "figure": d.figure,
                "stored": d.stored,
                "replayed": d.replayed,
            }
            for d in sorted(total.differences)
        ],
    }


def _notes(
    recorded: TariffBook, candidate: TariffBook, substituted: list[tuple[str, str, str, str]]
) -> list[str]:
    """What the reader must know to read the figures: a candidate that orders the groups
    otherwise still settles each claim with the group recorded on it (SIMULATION.md)."""
    notes = []
    for kind, _, old, new in substituted:
        before, after = recorded.by_version(old), candidate.by_version(new)
        if (
            kind == "policy"
            and before is not None
            and after is not None
            and before.group_precedence != after.group_precedence
        ):
            notes.append(
                f"{new} orders the groups otherwise than {old}: each claim is settled "
                "again with the group recorded on it, not by the candidate's precedence"
            )
    return notes
