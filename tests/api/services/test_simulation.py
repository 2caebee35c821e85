"""Policy simulation (SIMULATION.md, `onestop simulate`): a generated year of settlements and
reversals, made through the service, re-settled on Dask under the recorded tariffs and a
candidate. The candidate's figures are checked against a re-computation written here, which
settles the same claims in the order this test made them, with the engine alone."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, text
from typer.testing import CliRunner

from api.cli import app
from api.core.config import Settings
from api.core.contract import ClaimIn
from api.db.engine import make_engine
from api.services import simulation
from api.services.simulation import nearest_rank, partition_of, read_only_engine
from settlement.engine import settle
from settlement.model import (
    AccumulatorsFen,
    Gender,
    Group,
    Person,
    Status,
)
from settlement.money import format_fen
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tariffs import DEFAULT_TARIFF_DIR, load_default, load_tariffs
from tests.support.db import row_counts
from tests.support.world import World

runner = CliRunner()
YEAR = 2019
REGION = "220000"
FIGURES = (
    "basic_insurance", "critical_illness", "medical_assistance", "charity", "health_fund",
    "patient_pay",
)  # fmt: skip


# ---------------------------------------------------------------- the generated year


@dataclass
class Made:
    """A settlement this test made, with what the re-computation needs."""

    settlement_id: str
    body: dict[str, Any]
    person: str
    level: int
    region: str
    document: dict[str, Any]


def _claim_body(world: World, example: str, person: str, level: int, month: int) -> dict[str, Any]:
    body = world.claim(example, person=person, level=3 if example == "x1" else level)
    admission = date(YEAR, month, 1 + (month * 7) % 20)
    body["admission_date"] = admission.isoformat()
    body["discharge_date"] = (admission + timedelta(days=5 + month % 4)).isoformat()
    if example == "x1":
        body["hospital_id"] = world.cross_region_hospital
    return body


# Each example with the persons it is made for: E1/E2 (C34.1 with surgery: charity for the
# groups it lists), E4 and H1 (K80.1; the health fund in 2019), R1 (rule findings: the man of
# no group), X1 (cross-region, filed as a referral).
EXAMPLES = {
    "e1": ("none", "destitute", "dibao", "registered_poor"),
    "e2": ("dibao", "destitute"),
    "e4": ("registered_poor", "dibao", "none"),
    "h1": ("registered_poor",),
    "r1": ("male",),
    "x1": ("dibao", "registered_poor"),
}


def generated_year(world: World, seed: int, stays: int = 22) -> tuple[list[Made], list[Any]]:
    """`stays` settlements of one year over the world's five persons, at random levels and in
    increasing months, with about one in five reversed at a later point; the operations in the
    order they were made: ("settle", Made) and ("reverse", Made)."""
    rng = random.Random(seed)
    made: list[Made] = []
    operations: list[Any] = []
    standing: list[Made] = []
    for index in range(stays):
        if index < len(EXAMPLES):  # each example once first, H1 where its fund pays (level 2)
            example = sorted(EXAMPLES)[index]
            person, level = EXAMPLES[example][0], 2
        else:
            example = rng.choice(sorted(EXAMPLES))
            person, level = rng.choice(EXAMPLES[example]), rng.choice((1, 2, 3))
        level = 3 if example == "x1" else level  # the other region's hospital is of level 3
        body = _claim_body(world, example, person, level, 1 + index * 11 // stays)
        headers = world.cross_region_headers() if example == "x1" else world.hospital_headers(level)
        response = world.client.post("/v1/settlements", json=body, headers=headers)
        assert response.status_code == 201, response.text
        document = response.json()
        item = Made(
            document["settlement_id"], body, person, level,
            "210000" if example == "x1" else REGION, document,
        )  # fmt: skip
        made.append(item)
        standing.append(item)
        operations.append(("settle", item))
        if standing and rng.random() < 0.2:
            victim = standing.pop(rng.randrange(len(standing)))
            reversal = world.client.post(
                f"/v1/settlements/{victim.settlement_id}/reversal",
                json={"reason": "冲正：测算测试"},
                headers=(
                    world.cross_region_headers()
                    if victim.region == "210000"
                    else world.hospital_headers(victim.level)
                ),
            )
            assert reversal.status_code == 200, reversal.text
            operations.append(("reverse", victim))
    return made, operations


def _engine_person(world: World, person: str) -> Person:
    """The person as this test registered them (tests/support/world.py)."""
    if person == "male":
        return Person(world.persons[person], date(1958, 6, 1), REGION, (), Gender.MALE)
    statuses = () if person == "none" else (Status(Group(person), date(2017, 1, 1), None),)
    return Person(world.persons[person], date(1960, 5, 1), REGION, statuses, Gender.FEMALE)


def recomputed(
    world: World, operations: list[Any], tariff_dir: Path
) -> tuple[dict[str, int], dict[str, int]]:
    """Each figure summed over the settlements standing at the end, settling the operations'
    claims in the order they were made under the tariffs of `tariff_dir`, each person's
    accumulators carried from zero and a reversal taking its settlement's amounts back out."""
    book = load_tariffs(tariff_dir).book
    accumulators: dict[str, AccumulatorsFen] = {}
    results: dict[str, Settlement] = {}
    for kind, item in operations:
        before = accumulators.get(item.person, AccumulatorsFen.empty(YEAR))
        if kind == "settle":
            result = settle(
                ClaimIn.model_validate(item.body).to_engine(), _engine_person(world, item.person), item.level,
                before.to_money(), book, item.region,
            )  # fmt: skip
            assert isinstance(result, Settlement), result
            results[item.settlement_id] = result
            accumulators[item.person] = result.accumulators_after_fen
            continue
        totals = results.pop(item.settlement_id).totals
        accumulators[item.person] = before._replace(
            admissions=before.admissions - 1,
            basic_paid=before.basic_paid - totals.basic_insurance_fen,
            ci_base=before.ci_base - totals.in_scope_fen + totals.basic_insurance_fen,
            ci_paid=before.ci_paid - totals.critical_illness_fen,
            assistance_paid=before.assistance_paid - totals.medical_assistance_fen,
            charity_paid=before.charity_paid - totals.charity_fen,
            health_paid=before.health_paid - totals.health_fund_fen,
            patient_paid=before.patient_paid - totals.patient_pay_fen,
        )
    figures = {
        name: sum(getattr(result.totals, f"{name}_fen") for result in results.values())
        for name in FIGURES
    }
    return figures, {person: after.patient_paid for person, after in accumulators.items()}


def candidate_dir(tmp_path: Path, name: str, changes: dict[str, tuple[str, str]]) -> Path:
    """A copy of the shipped tariffs with `changes` (file → (old text, new text)) made."""
    target = tmp_path / name
    shutil.copytree(DEFAULT_TARIFF_DIR, target)
    for file, (old, new) in changes.items():
        path = target / file
        content = path.read_text(encoding="utf-8")
        assert content.count(old) == 1, (file, old)
        path.write_text(content.replace(old, new), encoding="utf-8")
    return target


RAISED = {
    "220000/220000-2019.toml": (
        'rate_above_line = { value = "0.70", description = "Assistance rate for 建档立卡',
        'rate_above_line = { value = "0.85", description = "Assistance rate for 建档立卡',
    )
}
"""The registered poor's assistance rate above the line, 70% → 85%, in 2019."""


def simulate(database_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        ["simulate", "--year", str(YEAR), "--region", REGION, *args],
        env={"ONESTOP_DATABASE_URL": database_url, "COLUMNS": "200"},
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def in_process(database_url: str, candidate: Path, partitions: int = 3) -> dict[str, Any]:
    """The report made by calling each partition's task in this process, without Dask: the
    same functions the workers run (and what mutation testing can reach)."""
    books = (load_default().book, load_tariffs(candidate).book)
    total = simulation.PartitionResult()
    for partition in range(partitions):
        total.add(
            simulation.replay_partition(database_url, books, YEAR, REGION, partition, partitions)
        )
    assert not total.refusals
    assert not total.unreadable
    return simulation.report(total, books, YEAR, REGION)


HOW = ["in_process", "command"]
"""How a test makes its report: the tasks called here, or `onestop simulate` on Dask."""


def report_of(database_url: str, tmp_path: Path, candidate: Path, *args: str) -> dict[str, Any]:
    if args == ("in_process",):
        return in_process(database_url, candidate)
    out = tmp_path / "report.json"
    code, stdout, stderr = simulate(
        database_url, "--candidate", str(candidate), "--format", "json", "--out", str(out), *args
    )
    assert code == 0, stdout + stderr
    return dict(json.loads(out.read_text(encoding="utf-8")))


@pytest.fixture
def year(own_world: World) -> tuple[World, list[Made], list[Any]]:
    made, operations = generated_year(own_world, seed=2019)
    return own_world, made, operations


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("how", HOW)
def test_a_candidate_equal_to_the_recorded_tariffs_changes_no_figure(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, own_settings: Settings,
    tmp_path: Path, how: str,
) -> None:  # fmt: skip
    _world, made, operations = year
    documents = [item.document for item in made]
    funds_paid = {
        name: sum(1 for d in documents if d["totals"][name] != "0.00") for name in FIGURES[:5]
    }
    assert all(funds_paid.values()), funds_paid  # the year reaches all five funds
    assert any(item.region == "210000" for item in made)  # and is treated cross-region
    assert any(d["findings"] for d in documents)  # with rule findings
    reversed_ids = {item.settlement_id for kind, item in operations if kind == "reverse"}
    assert reversed_ids
    counts = row_counts(own_settings)
    args = ("in_process",) if how == "in_process" else ("--workers", "1")
    report = report_of(own_database_url, tmp_path, candidate_dir(tmp_path, "same", {}), *args)
    assert row_counts(own_settings) == counts  # read-only
    assert report["baseline_differences"] == []
    assert report["settlements"] == len(made)
    assert report["reversals"] == len(reversed_ids)
    assert report["standing"] == len(made) - len(reversed_ids)
    standing = [item.document for item in made if item.settlement_id not in reversed_ids]
    for row in report["funds"]:
        stored = sum(_fen(d["totals"][row["figure"]]) for d in standing)
        assert row["baseline"] == row["candidate"] == format_fen(stored), row
        assert row["difference"] == "0.00"
        assert row["change_percent"] in (None, "0.00")
    assert report["patient_pay"] == {"rose": 0, "fell": 0, "same": len(standing)}
    for part in (*report["by_group"], *report["by_hospital_level"]):
        assert all(row["baseline"] == row["candidate"] for row in part["figures"]), part
    # Per group and per level, the baseline adds up to the stored figures of each.
    for part in report["by_group"]:
        of_group = [d for d in standing if d["group"] == part["group"]]
        assert of_group, part["group"]
        for row in part["figures"]:
            assert row["baseline"] == format_fen(
                sum(_fen(d["totals"][row["figure"]]) for d in of_group)
            )
    levels = {item.settlement_id: item.level for item in made}
    for part in report["by_hospital_level"]:
        of_level = [d for d in standing if levels[d["settlement_id"]] == part["level"]]
        assert of_level, part["level"]
        for row in part["figures"]:
            assert row["baseline"] == format_fen(
                sum(_fen(d["totals"][row["figure"]]) for d in of_level)
            )
    assert report["substituted"] == [
        {"kind": "catalog", "region": "210000", "recorded": "210000-2018", "candidate": "210000-2018"},
        {"kind": "policy", "region": "220000", "recorded": "220000-2019", "candidate": "220000-2019"},
    ]  # fmt: skip
    burden = report["burden"]
    assert burden["baseline"] == burden["candidate"]
    assert all(change["change"] == "0.00" for change in report["largest_burden_changes"])


@pytest.mark.parametrize("how", HOW)
def test_a_raised_assistance_rate_costs_what_settling_the_claims_again_costs(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path, how: str
) -> None:
    world, _made, operations = year
    candidate = candidate_dir(tmp_path, "raised", RAISED)
    args = ("in_process",) if how == "in_process" else ("--workers", "1")
    report = report_of(own_database_url, tmp_path, candidate, *args)
    baseline, before = recomputed(world, operations, DEFAULT_TARIFF_DIR)
    expected, after = recomputed(world, operations, candidate)
    assert expected["medical_assistance"] > baseline["medical_assistance"]  # the change shows
    for row in report["funds"]:
        name = row["figure"]
        assert row["baseline"] == format_fen(baseline[name]), row
        assert row["candidate"] == format_fen(expected[name]), row
        assert row["difference"] == format_fen(expected[name] - baseline[name]), row
    assert report["patient_pay"]["fell"] > 0
    assert report["patient_pay"]["rose"] == 0
    # The burdens: every person-year with a settlement standing, before and after.
    changes = sorted(
        ((world.persons[p], before[p], after[p]) for p in before),
        key=lambda c: (-abs(c[2] - c[1]), c[0]),
    )
    listed = [
        (c["person_id"], _fen(c["before"]), _fen(c["after"]))
        for c in report["largest_burden_changes"]
    ]
    assert listed == changes[: len(listed)]
    values = sorted(after.values())
    assert report["burden"]["candidate"]["max"] == format_fen(values[-1])
    assert report["burden"]["candidate"]["median"] == format_fen(nearest_rank(values, 50))


def test_a_tampered_settlement_fails_the_baseline_and_is_named(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    _world, made, operations = year
    reversed_ids = {item.settlement_id for kind, item in operations if kind == "reverse"}
    victim = next(item for item in made if item.settlement_id not in reversed_ids)
    engine = make_engine(Settings(database_url=own_database_url))
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE settlement SET medical_assistance_fen = medical_assistance_fen + 1 WHERE settlement_id = :id"),
            {"id": victim.settlement_id},
        )  # fmt: skip
    engine.dispose()
    code, stdout, stderr = simulate(
        own_database_url, "--candidate", str(candidate_dir(tmp_path, "same", {})), "--workers", "1",
        "--format", "json",
    )  # fmt: skip
    assert code == 1, stdout + stderr
    report = json.loads(stdout)
    stored = victim.document["totals"]["medical_assistance"]
    assert report["baseline_differences"] == [
        {
            "settlement_id": victim.settlement_id,
            "figure": "medical_assistance",
            "stored": format_fen(_fen(stored) + 1),
            "replayed": stored,
        }
    ]
    assert victim.settlement_id in stderr
    assert "medical_assistance" in stderr


def _execute(database_url: str, statement: str, **values: Any) -> None:
    engine = make_engine(Settings(database_url=database_url))
    with engine.begin() as connection:
        connection.execute(text(statement), values)
    engine.dispose()


def test_every_tampered_figure_is_named_also_of_a_reversed_settlement(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    """In process: a standing settlement's patient pay and a reversed one's total, each one
    fen off; the replay still goes on with what the engine computes."""
    _world, made, operations = year
    reversed_ids = [item.settlement_id for kind, item in operations if kind == "reverse"]
    standing = next(item for item in made if item.settlement_id not in reversed_ids)
    update = "UPDATE settlement SET {0} = {0} - 1 WHERE settlement_id = :id"
    _execute(own_database_url, update.format("patient_pay_fen"), id=standing.settlement_id)
    _execute(own_database_url, update.format("total_fen"), id=reversed_ids[0])
    books = (load_default().book, load_default().book)
    total = simulation.PartitionResult()
    for partition in range(2):
        total.add(simulation.replay_partition(own_database_url, books, YEAR, REGION, partition, 2))
    reversed_total = next(i for i in made if i.settlement_id == reversed_ids[0]).document
    assert sorted(total.differences) == sorted(
        [
            simulation.Difference(
                standing.settlement_id, "patient_pay",
                format_fen(_fen(standing.document["totals"]["patient_pay"]) - 1),
                standing.document["totals"]["patient_pay"],
            ),
            simulation.Difference(
                reversed_ids[0], "total",
                format_fen(_fen(reversed_total["totals"]["total"]) - 1),
                reversed_total["totals"]["total"],
            ),
        ]
    )  # fmt: skip
    assert total.settlements == len(made)


def test_the_order_is_the_ledgers_not_the_clocks(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    """Stamp every settlement and reversal of the year back to front (a clock that stepped
    back, a batch stamped alike): the baseline still reproduces every figure, because the
    events are replayed in the order their postings were appended."""
    _execute(
        own_database_url,
        "UPDATE settlement SET settled_at = :moment, reversed_at = CASE WHEN reversed_at IS NULL "
        "THEN NULL ELSE :moment END",
        moment=datetime(2019, 1, 1, tzinfo=UTC),
    )
    report = in_process(own_database_url, candidate_dir(tmp_path, "same", {}))
    assert report["baseline_differences"] == []
    assert report["settlements"] == len(year[1])


def test_every_claim_the_candidate_cannot_settle_is_listed_in_process(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    """A candidate catalog of 220000 without an item the year billed: every claim treated in
    220000 that bills it is refused (also after an earlier refusal of the same person, also a
    claim reversed later); the cross-region claims read 210000's catalog and settle."""
    made = year[1]
    code = made[0].body["items"][0]["item_code"]
    candidate = _without_item(tmp_path, code)
    books = (load_default().book, load_tariffs(candidate).book)
    total = simulation.PartitionResult()
    for partition in range(2):
        total.add(simulation.replay_partition(own_database_url, books, YEAR, REGION, partition, 2))
    billing = sorted(
        item.settlement_id
        for item in made
        if item.region == REGION and any(i["item_code"] == code for i in item.body["items"])
    )
    assert len(billing) > len({item.person for item in made if item.settlement_id in billing})
    assert sorted(refusal.settlement_id for refusal in total.refusals) == billing
    assert all(code in " ".join(refusal.problems) for refusal in total.refusals)
    assert total.differences == []  # a refused person-year's baseline is not compared after


def _without_item(tmp_path: Path, code: str) -> Path:
    catalog = DEFAULT_TARIFF_DIR / "220000" / "catalog.csv"
    lines = catalog.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(f"{code},")]
    assert len(kept) == len(lines) - 1, code
    candidate = candidate_dir(tmp_path, "narrow", {})
    (candidate / "220000" / "catalog.csv").write_text("".join(kept), encoding="utf-8")
    return candidate


def _replayed(database_url: str, books: tuple[Any, Any]) -> simulation.PartitionResult:
    total = simulation.PartitionResult()
    total.add(simulation.replay_partition(database_url, books, YEAR, REGION, 0, 1))
    return total


def _first_of_each_person(operations: list[Any], chosen: set[str]) -> list[str]:
    """Of the settlements `chosen`, each person's first in the order they were made."""
    seen: set[str] = set()
    first = []
    for kind, item in operations:
        if kind == "settle" and item.settlement_id in chosen and item.person not in seen:
            seen.add(item.person)
            first.append(item.settlement_id)
    return sorted(first)


def test_a_recorded_version_the_service_no_longer_has_stops_its_person_years(
    year: tuple[World, list[Made], list[Any]], own_database_url: str
) -> None:
    _world, made, operations = year
    shipped = load_default().book
    without = TariffBook(tuple(t for t in shipped.tariffs if t.version != "220000-2019"))
    total = _replayed(own_database_url, (without, shipped))
    every = {item.settlement_id for item in made}
    assert sorted(total.differences) == [
        simulation.Difference(
            sid, "tariff_version", "220000-2019",
            "tariff version 220000-2019 is not among the service's tariffs",
        )
        for sid in _first_of_each_person(operations, every)
    ]  # fmt: skip
    assert total.refusals == []
    assert (total.standing, total.burdens) == (0, [])
    assert total.settlements == len(made)


def test_a_baseline_that_refuses_a_stored_claim_is_a_difference_with_its_problems(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    world, made, operations = year
    code = made[0].body["items"][0]["item_code"]
    narrow = load_tariffs(_without_item(tmp_path, code)).book
    total = _replayed(own_database_url, (narrow, load_default().book))
    billing = {
        item.settlement_id
        for item in made
        if item.region == REGION and any(i["item_code"] == code for i in item.body["items"])
    }
    by_id = {item.settlement_id: item for item in made}
    expected = []
    for sid in _first_of_each_person(operations, billing):
        item = by_id[sid]
        refused = settle(
            ClaimIn.model_validate(item.body).to_engine(), _engine_person(world, item.person), item.level,
            AccumulatorsFen.empty(YEAR).to_money(), narrow, item.region,
        )  # fmt: skip
        assert not isinstance(refused, Settlement)
        problems = "; ".join(problem.msg for problem in refused.problems)
        expected.append(simulation.Difference(sid, "settlement", "settled", problems))
    stopped = {item.person for item in made if item.settlement_id in billing}
    earlier = [
        d for d in total.differences if by_id[d.settlement_id].person not in stopped
    ]  # a person-year before its refusal may differ only if stopped later: none here
    assert earlier == []
    assert sorted(d for d in total.differences if d.figure == "settlement") == expected
    assert total.refusals == []


def test_the_population_counts_settlements_and_those_without_their_inputs(
    year: tuple[World, list[Made], list[Any]], own_database_url: str
) -> None:
    made = year[1]
    engine = read_only_engine(own_database_url)
    with engine.connect() as connection:
        assert simulation.population(connection, YEAR, REGION) == (len(made), 0)
        assert simulation.population(connection, YEAR - 1, REGION) == (0, 0)
    engine.dispose()
    _execute(
        own_database_url,
        "UPDATE settlement SET diagnoses = NULL WHERE settlement_id = :id",
        id=made[0].settlement_id,
    )
    engine = read_only_engine(own_database_url)
    with engine.connect() as connection:
        assert simulation.population(connection, YEAR, REGION) == (len(made), 1)
    engine.dispose()
    total = _replayed(own_database_url, (load_default().book, load_default().book))
    assert total.unreadable == [made[0].settlement_id]


def test_a_lowered_basic_rate_raises_what_patients_pay_and_names_each_persons_group(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    world, _made, operations = year
    lowered = candidate_dir(tmp_path, "lowered", {
        "220000/220000-2019.toml": (
            'rate = { value = "0.60", description = "Share of in-scope cost above the deductible paid at a level-3',
            'rate = { value = "0.50", description = "Share of in-scope cost above the deductible paid at a level-3',
        )
    })  # fmt: skip
    report = in_process(own_database_url, lowered, partitions=1)
    baseline, before = recomputed(world, operations, DEFAULT_TARIFF_DIR)
    expected, after = recomputed(world, operations, lowered)
    for row in report["funds"]:
        assert row["candidate"] == format_fen(expected[row["figure"]]), row
    assert expected["patient_pay"] > baseline["patient_pay"]
    changes = report["patient_pay"]
    assert changes["rose"] > 0
    assert changes["rose"] + changes["fell"] + changes["same"] == report["standing"]
    groups = {world.persons[p]: None if p in ("none", "male") else p for p in world.persons}
    for change in report["largest_burden_changes"]:
        assert change["group"] == groups[change["person_id"]], change
    assert report["substituted"] == [
        {"kind": "catalog", "region": "210000", "recorded": "210000-2018", "candidate": "210000-2018"},
        {"kind": "policy", "region": "220000", "recorded": "220000-2019", "candidate": "220000-2019"},
    ]  # fmt: skip
    assert before != after


def test_a_candidate_without_the_insured_region_keeps_its_recorded_policy(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    only_liaoning = candidate_dir(tmp_path, "only-210000", {})
    shutil.rmtree(only_liaoning / "220000")
    report = in_process(own_database_url, only_liaoning, partitions=1)
    assert report["baseline_differences"] == []
    assert report["substituted"] == [
        {
            "kind": "catalog",
            "region": "210000",
            "recorded": "210000-2018",
            "candidate": "210000-2018",
        }
    ]
    assert all(row["baseline"] == row["candidate"] for row in report["funds"])


def test_run_partitions_in_process_on_a_cluster_of_threads(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    """The Dask driver against a cluster of two threads in this process: four partitions a
    worker, each reported done once, adding up to the report the tasks make called here."""
    from distributed import LocalCluster

    candidate = candidate_dir(tmp_path, "raised", RAISED)
    books = (load_default().book, load_tariffs(candidate).book)
    done: list[tuple[int, int]] = []
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
    ) as cluster:
        total = simulation.run_partitions(
            own_database_url, books, YEAR, REGION, workers=9,
            scheduler=cluster.scheduler_address, on_done=lambda *args: done.append(args),
        )  # fmt: skip
    assert done == [(count, 8) for count in range(1, 9)]
    assert simulation.report(total, books, YEAR, REGION) == in_process(own_database_url, candidate)


def test_one_two_workers_and_an_outside_scheduler_give_the_same_bytes(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path,
    dask_cluster: str,
) -> None:  # fmt: skip
    candidate = candidate_dir(tmp_path, "raised", RAISED)
    outputs: list[bytes] = []
    for args in (("--workers", "1"), ("--workers", "2"), ("--scheduler", dask_cluster)):
        out = tmp_path / f"report-{len(outputs)}.json"
        code, stdout, stderr = simulate(
            own_database_url, "--candidate", str(candidate), "--format", "json", "--out", str(out),
            *args,
        )  # fmt: skip
        assert code == 0, stdout + stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Dask scheduler and two workers started here on 127.0.0.1, as an operator starts them
    on a cluster (docs/operations.md): `dask scheduler` and `dask worker` processes."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    python = sys.executable
    processes = [
        subprocess.Popen(
            [python, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        address = _wait_for_address(scheduler_file)
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [python, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
                     "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        from distributed import Client

        with Client(address, timeout=30) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _wait_for_address(scheduler_file: Path) -> str:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if scheduler_file.exists():
            try:
                return str(json.loads(scheduler_file.read_text())["address"])
            except (ValueError, KeyError):
                pass
        time.sleep(0.1)
    raise AssertionError("the Dask scheduler did not start")


def test_refusals_run_nothing(own_world: World, own_database_url: str, tmp_path: Path) -> None:
    same = candidate_dir(tmp_path, "same", {})
    # Nothing settled in the year yet.
    code, _stdout, stderr = simulate(own_database_url, "--candidate", str(same))
    assert code == 2
    assert (
        f"no settlement is recorded with policy year {YEAR} and insured region {REGION}" in stderr
    )
    code, _, stderr = simulate(own_database_url, "--candidate", str(same), "--region", "990000")
    assert code == 2
    assert "region '990000' is not one the tariffs know (210000, 220000)" in stderr
    # A candidate below the 70% floor is refused as `onestop tariffs check` refuses it.
    low = candidate_dir(tmp_path, "low", {
        "220000/220000-2019.toml": (
            'rate_above_line = { value = "0.70", description = "Assistance rate for 建档立卡',
            'rate_above_line = { value = "0.65", description = "Assistance rate for 建档立卡',
        )
    })  # fmt: skip
    code, _, stderr = simulate(own_database_url, "--candidate", str(low))
    assert code == 2
    assert "the candidate is refused, nothing run" in stderr
    assert "220000-2019.toml" in stderr
    assert "0.7" in stderr
    code, _, stderr = simulate(own_database_url, "--candidate", str(tmp_path / "missing"))
    assert code == 2


def test_a_claim_the_candidate_cannot_settle_refuses_the_run(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    """A candidate whose catalog lacks an item the year billed: every such claim is listed."""
    made = year[1]
    code = made[0].body["items"][0]["item_code"]
    candidate = _without_item(tmp_path, code)
    exit_code, stdout, stderr = simulate(
        own_database_url, "--candidate", str(candidate), "--workers", "1"
    )
    assert exit_code == 2, stdout + stderr
    assert "the candidate cannot settle" in stderr
    billing = [item for item in made if any(i["item_code"] == code for i in item.body["items"])]
    for item in billing:
        if item.region == REGION:
            assert item.settlement_id in stderr


def test_the_read_only_engine_refuses_a_write(own_world: World, own_database_url: str) -> None:
    engine = read_only_engine(own_database_url)
    try:
        with (
            pytest.raises(Exception, match=r"(?i)read.only|readonly"),
            engine.begin() as connection,
        ):
            connection.execute(text("UPDATE hospital SET name = 'x'"))
    finally:
        engine.dispose()


def test_the_partition_is_the_same_in_python_and_in_each_database(
    own_world: World, own_database_url: str
) -> None:
    engine = read_only_engine(own_database_url)
    persons = sorted(own_world.persons.values())
    try:
        with engine.connect() as connection:
            expression = simulation._PARTITION_SQL[connection.dialect.name]
            for partitions in (1, 2, 7, 16):
                found: dict[str, int] = dict(
                    connection.execute(
                        text(
                            f"SELECT person_id, {expression} FROM person WHERE person_id IN :ids"
                        ).bindparams(bindparam("ids", expanding=True)),
                        {"ids": persons, "partitions": partitions},
                    ).all()
                )
                assert found == {p: partition_of(p, partitions) for p in persons}
    finally:
        engine.dispose()


def _fen(amount: str) -> int:
    sign = -1 if amount.startswith("-") else 1
    whole, _, cents = amount.removeprefix("-").partition(".")
    return sign * (int(whole) * 100 + int(cents))


def test_the_report_as_csv_table_and_a_page_that_needs_no_other_origin(
    year: tuple[World, list[Made], list[Any]], own_database_url: str, tmp_path: Path
) -> None:
    """The same figures in every format; the page renders in Chromium with every request
    that is not the page itself refused, and draws one bar a run for each figure."""
    from tests.api.web.test_finance_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

    candidate = candidate_dir(tmp_path, "raised", RAISED)
    report = report_of(own_database_url, tmp_path, candidate, "--workers", "1")
    outputs = {}
    for output_format in ("csv", "table", "html"):
        out = tmp_path / f"report.{output_format}"
        code, stdout, stderr = simulate(
            own_database_url, "--candidate", str(candidate), "--workers", "1",
            "--format", output_format, "--out", str(out),
        )  # fmt: skip
        assert code == 0, stdout + stderr
        outputs[output_format] = out.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(outputs["csv"])))
    assert rows[0] == ["section", "subject", "figure", "measure", "value"]
    assistance = next(row for row in report["funds"] if row["figure"] == "medical_assistance")
    for measure in ("baseline", "candidate", "difference", "change_percent"):
        assert ["funds", "", "medical_assistance", measure, assistance[measure]] in rows
    assert ["population", "", "settlements", "count", str(report["settlements"])] in rows
    for change in report["largest_burden_changes"]:
        assert [
            "largest_burden_changes", change["person_id"], change["group"] or "none", "change",
            change["change"],
        ] in rows  # fmt: skip
    assert assistance["difference"] in outputs["table"]
    assert "medical_assistance" in outputs["table"]

    require_chromium()
    from playwright.sync_api import sync_playwright

    page_path = tmp_path / "report.html"
    own = page_path.as_uri()
    outside: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            def only_the_page(route: Any) -> None:
                if route.request.url == own:
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_the_page)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(own)
            assert page.locator("svg.chart rect.baseline").count() == len(FIGURES) + 1  # + legend
            assert page.locator("svg.chart rect.candidate").count() == len(FIGURES) + 1
            text_shown = page.locator("body").inner_text()
            assert assistance["difference"] in text_shown
            assert report["largest_burden_changes"][0]["person_id"] in text_shown
            box = page.locator("svg.chart").bounding_box()
            assert box is not None
            assert box["width"] > 300
        finally:
            browser.close()
    assert outside == []
    assert problems == []
