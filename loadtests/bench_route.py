"""`python -m loadtests.bench_route`: what the settle route itself costs, in process, beside the
bare app (`loadtests.bare`): everything but the engine and the database.

Builds the service on a temporary SQLite database with a seeded population, replaces its
group-commit writer by one that answers every claim at once with the same settlement (settled
beforehand by the engine), and calls the ASGI application directly (no server, no socket) with
a 30-line claim `--requests` times a round, alternating with the bare app, for `--rounds`
rounds. What is timed is the service's own path: its middlewares, routing, the key check (from
its cache), the body's parse and validation, the answer written from the engine's result.

Run it in two checkouts to compare them (the stub writer needs `Outcome(created, made=Made)`,
since 3876a62):

    (cd CHECKOUT && PYTHONPATH=CHECKOUT .venv/bin/python -m loadtests.bench_route)

A benchmark, not a test: figures are printed for docs/performance.md, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson


async def _call(app: Any, headers: list[tuple[bytes, bytes]], body: bytes) -> float:
    """One POST of the claim to the ASGI application; the seconds it took."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": "/v1/settlements",
        "raw_path": b"/v1/settlements", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "state": {},
    }  # fmt: skip
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    started = time.perf_counter()
    await app(scope, receive, send)
    took = time.perf_counter() - started
    assert sent[0]["status"] in (200, 201), sent
    return took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--lines", type=int, default=30)
    options = parser.parse_args(argv)

    from fastapi.testclient import TestClient

    from api.core.config import Settings
    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.main import create_app
    from api.services.demo import seed_population
    from api.services.settlements import Made, Outcome
    from loadtests import bare
    from loadtests.claims import claim_json, generate, hospital_keys, read_keys
    from settlement.engine import settle
    from settlement.model import Accumulators
    from tariffs import load_default

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'route.db'}"
        upgrade(url)
        engine = make_engine(Settings(database_url=url))
        keys_file = Path(folder) / "keys.env"
        seed_population(engine, 200, 4, keys_file)
        engine.dispose()
        hospital_id, key = sorted(hospital_keys(read_keys(keys_file)).items())[0]
        stay = generate(random.Random(5), claim_id="BR1", hospital_id=hospital_id, persons=200,
                        lines=options.lines)  # fmt: skip
        body = orjson.dumps(claim_json(stay.claim))
        before = Accumulators(year=stay.claim.discharge_date.year)
        result = settle(stay.claim, stay.person, stay.hospital.level, before,
                        load_default().book, stay.hospital.region)  # fmt: skip

        class AnswersAtOnce:
            def submit(self, _claim: Any, _actor: Any) -> Future[Outcome]:
                future: Future[Outcome] = Future()
                made = Made(result, "ST1", datetime.now(UTC))  # type: ignore[arg-type]
                future.set_result(Outcome(created=True, made=made))
                return future

            def close(self) -> None:
                return None

        headers = [
            (b"host", b"bench"), (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-length", str(len(body)).encode()),
        ]  # fmt: skip

        app = create_app(Settings(database_url=url, key_cache_seconds=3600))
        medians: dict[str, list[float]] = {"service": [], "bare": []}
        with TestClient(app):  # runs the lifespan: the state, the key cache
            app.state.writer = AnswersAtOnce()

            async def rounds() -> None:
                for _ in range(options.rounds):
                    for name, target in (("service", app), ("bare", bare.app)):
                        times = [
                            await _call(target, headers, body) for _ in range(options.requests)
                        ]
                        medians[name].append(statistics.median(times))

            asyncio.run(rounds())
    print(f"one POST /v1/settlements in process, {options.lines} lines, stub writer "
          f"({options.rounds} rounds of {options.requests}; median of the rounds' medians)")  # fmt: skip
    for name, values in medians.items():
        print(f"{name:>8} {statistics.median(values) * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
