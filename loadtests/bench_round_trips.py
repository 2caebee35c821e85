"""`python -m loadtests.bench_round_trips`: PostgreSQL round trips per request, counted on the
wire.

Creates a database on the PostgreSQL server of `--server` (127.0.0.1 only), seeds a load-test
population, and runs the service in-process (group commit on, as served). Every connection
the service opens writes libpq's protocol trace; a round trip is counted each time the client
sends after having read (so a pipeline of statements is one). Then it settles `--claims`
claims through `POST /v1/settlements` and runs `--stays` whole stays through `POST /v1/nhsa`
(2401, 2301 once or twice, 2402, 2304), one request at a time, and prints the mean round trips
of each kind of request, with the pool pinging each connection it hands out
(`ONESTOP_DATABASE_PRE_PING=true`, the former default) and without (the socket check).

A benchmark, not a test: figures are printed for docs/performance.md, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PERSONS = 200
HOSPITALS = 4


class Wire:
    """The protocol traces of every connection, and the round trips read off them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Any] = []

    def trace(self, dbapi_connection: Any, _record: Any) -> None:
        handle = (self.folder / f"c{len(self.files)}.trace").open("w")
        self.files.append(handle)
        dbapi_connection.pgconn.trace(handle.fileno())

    def round_trips(self) -> int:
        """Round trips in every trace so far: each run of client messages after a reply."""
        total = 0
        for handle in self.files:
            handle.flush()
            last = "B"
            for line in (Path(handle.name)).read_text().splitlines():
                parts = line.split("\t")
                if len(parts) < 3:
                    continue
                if parts[1] == "F" and last == "B":
                    total += 1
                last = parts[1]
        return total


@contextmanager
def database(server: str) -> Iterator[str]:
    url = make_url(server).set(drivername="postgresql+psycopg")
    assert url.host in ("127.0.0.1", "localhost"), "only a local server"
    name = f"onestop_trips_{random.randrange(16**8):08x}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(
    url: str, keys_file: Path, pre_ping: bool, options: argparse.Namespace
) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from api.core.config import Settings
    from api.main import create_app
    from loadtests.claims import claim_json, generate, hospital_keys, read_keys
    from loadtests.nhsa import NhsaStay, run_stay

    keys = sorted(hospital_keys(read_keys(keys_file)).items())
    settings = Settings(database_url=url, database_pre_ping=pre_ping, key_cache_seconds=3600)
    counts: dict[str, list[int]] = defaultdict(list)
    rng = random.Random(7)
    tag = "P" if pre_ping else "S"
    with tempfile.TemporaryDirectory() as folder, TestClient(create_app(settings)) as client:
        wire = Wire(Path(folder))
        event.listen(client.app.state.onestop.engine, "connect", wire.trace)  # type: ignore[attr-defined]
        client.app.state.onestop.engine.dispose()  # type: ignore[attr-defined]

        def counted(kind: str, request: Callable[[], Any]) -> Any:
            before = wire.round_trips()
            answer = request()
            counts[kind].append(wire.round_trips() - before)
            return answer

        for number in range(options.claims + 2):
            hospital_id, key = keys[number % len(keys)]
            headers = {"Authorization": f"Bearer {key}"}
            stay = generate(rng, claim_id=f"RT{tag}C{number}", hospital_id=hospital_id,
                            persons=PERSONS, lines=30)  # fmt: skip
            kind = "settle" if number >= 2 else "warm-up"  # the first requests fill the pool
            body = claim_json(stay.claim)
            response = counted(
                kind, partial(client.post, "/v1/settlements", json=body, headers=headers)
            )
            assert response.status_code == 201, response.text
        for number in range(options.stays):
            hospital_id, key = keys[number % len(keys)]
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            generated = generate(rng, claim_id=f"RT{tag}N{number}", hospital_id=hospital_id,
                                 persons=PERSONS, lines=30)  # fmt: skip

            def send(infno: str, body: bytes, check: Any, headers: dict[str, str] = headers) -> Any:
                response = counted(
                    infno, lambda: client.post("/v1/nhsa", content=body, headers=headers)
                )
                document = response.json()
                assert document["infcode"] == 0, document
                return document["output"]

            assert run_stay(NhsaStay.of(generated, claim_json(generated.claim)), send) is not None
    return {kind: statistics.mean(values) for kind, values in counts.items() if kind != "warm-up"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("ONESTOP_TEST_PG_URL", SERVER))
    parser.add_argument("--claims", type=int, default=20)
    parser.add_argument("--stays", type=int, default=10)
    options = parser.parse_args(argv)
    from api.core.config import Settings
    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.services.demo import seed_population

    with database(options.server) as url, tempfile.TemporaryDirectory() as keys_dir:
        upgrade(url)
        engine = make_engine(Settings(database_url=url))
        keys_file = Path(keys_dir) / "keys.env"
        seed_population(engine, PERSONS, HOSPITALS, keys_file)
        engine.dispose()
        rows = {pre_ping: measure(url, keys_file, pre_ping, options) for pre_ping in (True, False)}
    kinds = list(rows[True])
    print("PostgreSQL round trips per request (mean, 30-line claims, one request at a time)")
    print(f"{'request':>10} {'pre-ping':>9} {'socket check':>13}")
    for kind in kinds:
        print(f"{kind:>10} {rows[True][kind]:>9.1f} {rows[False][kind]:>13.1f}")


if __name__ == "__main__":
    main()
