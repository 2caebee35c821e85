"""The seal (issue 19, section 2): only the 2304 that sealed an encounter lifts the seal.

A 2304 seals the encounter's lines in the transaction that reads them, then settles them in
another (the person's accumulators lock, the group-commit writer). While it is in flight no
line may change, or a line answered infcode 0 would never reach the settlement. Here the 2304
is held in flight between the two: its submission to the writer waits on a gate the test
opens (as it would wait on the person's lock, held by another settlement), so that what other
messages do meanwhile is deterministic on both databases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from api.core.problems import LockUnavailable
from api.db.tables import ENCOUNTER, ENCOUNTER_LINE
from api.services import nhsa
from api.services.nhsa import SEAL_SECONDS
from loadtests.nhsa import dumps
from tests.support.nhsa import His, envelope, exact
from tests.support.world import World

GATE_SECONDS = 30.0
"""Longest a test waits for the held 2304 to reach its gate (or to be answered)."""


def his_of(world: World) -> His:
    return His(world, world.hospitals[3], world.hospital_headers(3))


def engine_of(world: World) -> Engine:
    engine: Engine = world.client.app.state.onestop.engine  # type: ignore[attr-defined]
    return engine


def reference(claim: dict[str, Any], mdtrt_id: str, setl_id: str) -> dict[str, Any]:
    return {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]}}


def total(claim: dict[str, Any]) -> Decimal:
    return sum((Decimal(item["amount"]) for item in claim["items"]), Decimal("0.00"))


def seal_of(world: World, mdtrt_id: str) -> Any:
    """The encounter's seal: the time it was sealed, None when it is not (and then no token of
    an owner is left either)."""
    with engine_of(world).connect() as connection:
        sealed_at, sealed_by = connection.execute(
            select(ENCOUNTER.c.sealed_at, ENCOUNTER.c.sealed_by).where(
                ENCOUNTER.c.mdtrt_id == mdtrt_id
            )
        ).one()
    assert (sealed_at is None) == (sealed_by is None), (sealed_at, sealed_by)
    return sealed_at


def line_sns(world: World, mdtrt_id: str) -> list[str]:
    with engine_of(world).connect() as connection:
        return list(
            connection.execute(
                select(ENCOUNTER_LINE.c.feedetl_sn)
                .where(ENCOUNTER_LINE.c.mdtrt_id == mdtrt_id)
                .order_by(ENCOUNTER_LINE.c.position)
            ).scalars()
        )


def settled_and_reversed(his: His, claim: dict[str, Any]) -> tuple[str, str]:
    """An encounter settled by a 2304 and cancelled by a 2305: its mdtrt_id and old setl_id."""
    mdtrt_id = his.stay(claim)
    setl_id = his.ok("2304", his.settle_data(claim, mdtrt_id))["setlinfo"]["setl_id"]
    his.ok("2305", reference(claim, mdtrt_id, setl_id))
    return mdtrt_id, str(setl_id)


class Gate:
    """Holds the next 2304 between its seal and its settlement until `open`; a 2304 after it
    is turned away as the person's lock running out would turn it away (`refuse_after`)."""

    def __init__(self, refuse_after: bool) -> None:
        self.reached = threading.Event()
        self.opened = threading.Event()
        self.refuse_after = refuse_after
        self.calls = 0

    def wrap(self, submit: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls > 1 and self.refuse_after:
                raise LockUnavailable()
            self.reached.set()
            assert self.opened.wait(GATE_SECONDS), "the test never opened the gate"
            return submit(*args, **kwargs)

        return held


@contextmanager
def held_2304(
    world: World, monkeypatch: pytest.MonkeyPatch, message: dict[str, Any], refuse_after: bool
) -> Iterator[tuple[Gate, list[Any]]]:
    """A 2304 `message` sent on a thread of its own and held in flight, sealed, until the
    block ends; its HTTP response in the list."""
    writer = world.client.app.state.writer  # type: ignore[attr-defined]
    assert writer is not None, "the tests' service settles through the group-commit writer"
    gate = Gate(refuse_after)
    monkeypatch.setattr(writer, "submit", gate.wrap(writer.submit))
    his = his_of(world)
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(his.post(message)))
    thread.start()
    try:
        assert gate.reached.wait(GATE_SECONDS), "the 2304 never reached its settlement"
        yield gate, answers
    finally:
        gate.opened.set()
        thread.join(GATE_SECONDS)
    assert answers, "the held 2304 was never answered"


@contextmanager
def service_changed(world: World, **changes: Any) -> Iterator[None]:
    """The service's state with `changes` (a clock, settings) until the block ends. (pytest's
    monkeypatch cannot: Starlette's `app.state` keeps attributes where its undo misses them.)"""
    app_state = world.client.app.state  # type: ignore[attr-defined]
    kept = app_state.onestop
    app_state.onestop = replace(kept, **changes)
    try:
        yield
    finally:
        app_state.onestop = kept


def extra_line(his: His, claim: dict[str, Any], mdtrt_id: str) -> dict[str, Any]:
    return {**his.fee_lines(claim, mdtrt_id)[0], "feedetl_sn": "F0900"}


def test_a_2305_of_an_old_settlement_cannot_unseal_a_2304_in_flight(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's wrong money: a 2301 answered infcode 0 while a 2304 settled without it."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id, old = settled_and_reversed(his, claim)
    lines = line_sns(world, mdtrt_id)
    message = envelope(his.hospital_id, "2304", his.settle_data(claim, mdtrt_id))
    with held_2304(world, monkeypatch, message, False) as (_, answers):
        # The old settlement's 2305 again (a new msgid): answered as reversed, seal untouched.
        assert his.ok("2305", reference(claim, mdtrt_id, old))["setlinfo"]["setl_id"] == old
        added = his.call("2301", {"feedetail": [extra_line(his, claim, mdtrt_id)]})
        assert added["infcode"] == -1, "a line was added while a 2304 was settling the lines"
        assert "is being settled" in added["err_msg"]
        assert seal_of(world, mdtrt_id) is not None
    settled = exact(answers[0])
    assert settled["infcode"] == 0, settled["err_msg"]
    assert settled["output"]["setlinfo"]["medfee_sumamt"] == total(claim)
    assert line_sns(world, mdtrt_id) == lines  # what is settled is what the encounter holds


def test_a_2304_turned_away_does_not_unseal_the_2304_in_flight(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second 2304 of the encounter (the HIS's retry) while the first is in flight: whatever
    becomes of it, it must not lift the first one's seal."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id, _ = settled_and_reversed(his, claim)
    body = his.settle_data(claim, mdtrt_id)
    settings = world.client.app.state.onestop.settings  # type: ignore[attr-defined]
    quick = settings.model_copy(update={"lock_wait_ms": 300})  # waits a little for the first
    held = held_2304(world, monkeypatch, envelope(his.hospital_id, "2304", body), True)
    with service_changed(world, settings=quick), held as (_, answers):
        retry = his.call("2304", body)  # waits the lock wait for the first, then is refused
        assert retry["infcode"] == -1
        assert "being settled by another 2304: send again" in retry["err_msg"]
        added = his.call("2301", {"feedetail": [extra_line(his, claim, mdtrt_id)]})
        assert added["infcode"] == -1, "a line was added while a 2304 was settling the lines"
        assert "is being settled" in added["err_msg"]
    first = exact(answers[0])
    assert first["infcode"] == 0, first["err_msg"]
    assert first["output"]["setlinfo"]["medfee_sumamt"] == total(claim)


def test_a_copy_of_a_2304_in_flight_waits_for_it_and_answers_the_same_bytes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A HIS that timed out sends its 2304 again while the first is still settling: the copy
    takes no seal of its own (the first's stands), waits for the first to be answered, and
    answers the first's answer; one settlement."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    message = envelope(his.hospital_id, "2304", his.settle_data(claim, mdtrt_id))
    copies: list[Any] = []
    copy = threading.Thread(target=lambda: copies.append(his.post(message)))
    with held_2304(world, monkeypatch, message, False) as (_, answers):
        copy.start()
        time.sleep(0.2)  # the copy finds the first's seal and waits for it
        added = his.call("2301", {"feedetail": [extra_line(his, claim, mdtrt_id)]})
        assert added["infcode"] == -1
    copy.join(GATE_SECONDS)
    assert exact(answers[0])["infcode"] == 0
    assert copies[0].content == answers[0].content
    assert seal_of(world, mdtrt_id) is None


def test_a_2304_lifts_its_own_seal_once_answered_so_a_2305_leaves_the_lines_open(
    world: World,
) -> None:
    """Settled, the settlement itself refuses changes; cancelled (2305), the lines may change
    at once, with no seal of the 2304 left behind to wait out."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    setl_id = his.ok("2304", his.settle_data(claim, mdtrt_id))["setlinfo"]["setl_id"]
    assert seal_of(world, mdtrt_id) is None
    line = extra_line(his, claim, mdtrt_id)
    refused = his.call("2301", {"feedetail": [line]})
    assert refused["infcode"] == -1
    assert f"is settled ({setl_id})" in refused["err_msg"]
    his.ok("2305", reference(claim, mdtrt_id, setl_id))
    assert seal_of(world, mdtrt_id) is None
    his.ok("2301", {"feedetail": [line]})


def _sealed(world: World, mdtrt_id: str, at: datetime) -> None:
    """The encounter as a 2304 that died after sealing it at `at` left it."""
    with engine_of(world).begin() as connection:
        connection.execute(
            update(ENCOUNTER).where(ENCOUNTER.c.mdtrt_id == mdtrt_id).values(sealed_at=at)
        )


def test_a_stale_seal_lapses_after_seal_seconds_and_not_a_moment_before(world: World) -> None:
    """A 2304 that died (a crash between seal and settlement) never lifts its seal: it lapses
    SEAL_SECONDS after it was set, exactly, and a later 2304 settles the encounter."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    with service_changed(world, clock=lambda: now):
        _lapses_at_seal_seconds(world, his, claim, mdtrt_id, now)


def _lapses_at_seal_seconds(
    world: World, his: His, claim: dict[str, Any], mdtrt_id: str, now: datetime
) -> None:
    lines = his.fee_lines(claim, mdtrt_id)
    for age in (timedelta(0), timedelta(seconds=SEAL_SECONDS - 0.001)):
        _sealed(world, mdtrt_id, now - age)
        line = {**lines[0], "feedetl_sn": "F0901"}
        answer = his.call("2301", {"feedetail": [line]})
        assert answer["infcode"] == -1, f"a seal {age} old let a line in"
        assert "is being settled" in answer["err_msg"]
    _sealed(world, mdtrt_id, now - timedelta(seconds=SEAL_SECONDS))
    his.ok("2301", {"feedetail": [{**lines[0], "feedetl_sn": "F0901"}]})
    his.ok("2302", {"data": [{"feedetl_sn": "F0901", "mdtrt_id": mdtrt_id,
                              "psn_no": claim["person_id"]}]})  # fmt: skip
    # A 2304 takes over the lapsed seal, settles, and lifts its own seal.
    _sealed(world, mdtrt_id, now - timedelta(seconds=SEAL_SECONDS + 1))
    output = his.ok("2304", his.settle_data(claim, mdtrt_id))
    assert output["setlinfo"]["medfee_sumamt"] == total(claim)


def test_a_2304_whose_seal_lapsed_cannot_lift_the_seal_of_the_2304_that_took_over(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2304 held in flight past SEAL_SECONDS (its seal lapsed), and a later 2304 that sealed
    the encounter anew: when the first comes back refused, it lifts its own seal, which is no
    longer there, and leaves the second one's alone."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    writer = world.client.app.state.writer  # type: ignore[attr-defined]
    submit = writer.submit
    first_held, first_back = threading.Event(), threading.Event()
    second_held, second_back = threading.Event(), threading.Event()
    calls: list[Any] = []

    def held(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:  # the first comes back refused, as from a lock wait run out
            first_held.set()
            assert first_back.wait(GATE_SECONDS)
            raise LockUnavailable()
        second_held.set()
        assert second_back.wait(GATE_SECONDS)
        return submit(*args)

    monkeypatch.setattr(writer, "submit", held)
    body = his.settle_data(claim, mdtrt_id)
    answers: dict[str, Any] = {}

    def send(name: str) -> None:
        answers[name] = his.call("2304", body)

    threads = [threading.Thread(target=send, args=(name,)) for name in ("first", "second")]
    try:
        threads[0].start()
        assert first_held.wait(GATE_SECONDS)
        lapsed = datetime.now(UTC) - timedelta(seconds=SEAL_SECONDS + 1)
        _sealed(world, mdtrt_id, lapsed)  # as it stands once the first has been away that long
        threads[1].start()
        assert second_held.wait(GATE_SECONDS)
        first_back.set()
        threads[0].join(GATE_SECONDS)
        assert answers["first"]["infcode"] == -1
        added = his.call("2301", {"feedetail": [extra_line(his, claim, mdtrt_id)]})
        assert added["infcode"] == -1, "a line was added while a 2304 was settling the lines"
        assert "is being settled" in added["err_msg"]
    finally:
        first_back.set()
        second_back.set()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join(GATE_SECONDS)
    assert answers["second"]["infcode"] == 0, answers["second"]["err_msg"]
    assert answers["second"]["output"]["setlinfo"]["medfee_sumamt"] == total(claim)


def test_a_2304_whose_answer_cannot_be_kept_lifts_its_seal_all_the_same(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A settled 2304 lifts its seal in the transaction that keeps its answer. Should keeping it
    fail (a fault of onestop's: HTTP 500, infcode -1), the seal is lifted on its own all the
    same, and the HIS's resend under the same msgid answers the settlement that was made."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    keep = nhsa._keep

    def failing(*_: Any) -> bytes:
        raise RuntimeError("the answer could not be kept")

    monkeypatch.setattr(nhsa, "_keep", failing)
    body = envelope(his.hospital_id, "2304", his.settle_data(claim, mdtrt_id))
    failed = world.client.post(
        "/v1/nhsa", content=dumps(body), headers={**his.headers, "content-type": "application/json"}
    )
    assert failed.status_code == 500
    assert failed.json()["infcode"] == -1
    assert seal_of(world, mdtrt_id) is None
    monkeypatch.setattr(nhsa, "_keep", keep)
    resent = exact(his.post(body))
    assert resent["infcode"] == 0, resent["err_msg"]
    setl_id = resent["output"]["setlinfo"]["setl_id"]
    queried = his.ok("5203", reference(claim, mdtrt_id, setl_id))
    assert queried["setlinfo"]["medfee_sumamt"] == total(claim)
    assert seal_of(world, mdtrt_id) is None
