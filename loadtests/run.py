"""`make loadtest`: a fresh database, the service, a seeded population, locust headless, the
figures, a plot, and an exit status by the thresholds given — then everything stopped.

    python -m loadtests.run [--db sqlite|pg] [--workers N] [--users U] [--duration 60]
                            [--lines 30|skewed] [--persons 100000] [--hospitals 20]
                            [--nhsa-percent 10] [--min-rps R] [--max-p99-ms MS] [--name NAME]

Reports go to var/loadtest/NAME/: locust's CSV (stats, history, failures), its HTML report,
summary.json and throughput.svg (settlements/s and p99 over the run). Only 127.0.0.1 is used.
Besides the settlement route's figures it prints those of the NHSA users' stays through
`/v1/nhsa`, per transaction (`nhsa` in summary.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from loadtests import metrics as service_metrics
from loadtests.claims import read_keys
from loadtests.nhsa import NHSA_PATH, NHSA_PERCENT_DEFAULT, nhsa_users
from loadtests.plot import history_svg

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "ONESTOP_LOADTEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NHSA_INFNOS = ("2401", "2301", "2402", "2304")
"""The transactions of an NHSA user's stay, in its order."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _database(kind: str, folder: Path) -> tuple[str, Any]:
    """A fresh database URL and a function that drops it."""
    if kind == "sqlite":
        path = folder / "loadtest.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}", lambda: None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"onestop_load_{secrets.token_hex(4)}"
    admin_url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    assert admin_url.host in ("127.0.0.1", "localhost", None), (
        "load tests only run against this machine"
    )
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def _onestop(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, check=True, cwd=ROOT)


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the service exited during start-up")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the service did not become healthy within 60 s")


def _stats(folder: Path) -> dict[str, Any]:
    """Figures from locust's CSV: settlements/s, latency percentiles, failures."""
    rows = {
        row["Name"]: row
        for row in csv.DictReader((folder / "locust_stats.csv").open(encoding="utf-8"))
    }
    settle = rows.get("settle", {})
    total = rows.get("Aggregated", {})

    def number(row: dict[str, str], key: str) -> float:
        value = row.get(key, "0") or "0"
        return float(value) if value != "N/A" else 0.0

    nhsa = {
        infno: {
            "requests_per_s": number(row, "Requests/s"),
            "p50_ms": number(row, "50%"),
            "p95_ms": number(row, "95%"),
            "p99_ms": number(row, "99%"),
            "requests": int(number(row, "Request Count")),
            "failures": int(number(row, "Failure Count")),
        }
        for infno in NHSA_INFNOS
        if (row := rows.get(f"{NHSA_PATH} {infno}")) is not None
    }
    return {
        "nhsa": nhsa,
        "settlements_per_s": number(settle, "Requests/s"),
        "requests_per_s": number(total, "Requests/s"),
        "settle_p50_ms": number(settle, "50%"),
        "settle_p95_ms": number(settle, "95%"),
        "settle_p99_ms": number(settle, "99%"),
        "all_p99_ms": number(total, "99%"),
        "requests": int(number(total, "Request Count")),
        "failures": int(number(total, "Failure Count")),
        "settlements": int(number(settle, "Request Count")),
    }


def _report(
    folder: Path,
    name: str,
    args: argparse.Namespace,
    comparison: dict[str, Any] | None,
    counted: dict[str, Any] | None = None,
) -> int:
    """Print the figures, write summary.json and the plot; 1 when a threshold is missed."""
    figures: dict[str, Any] = _stats(folder)
    if comparison is not None:
        figures["settle_only"] = comparison
    if counted is not None:
        figures["service"] = counted
    figures.update(
        db=args.db,
        workers=args.workers,
        users=args.users,
        nhsa_users=nhsa_users(args.users, args.nhsa_percent),
        duration_s=args.duration,
        lines=args.lines,
    )
    (folder / "summary.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    (folder / "throughput.svg").write_text(
        history_svg(folder / "locust_stats_history.csv", title=name), encoding="utf-8"
    )
    print(
        f"\nsettlements/s {figures['settlements_per_s']:.0f}  (all requests/s {figures['requests_per_s']:.0f})\n"
        f"settle latency p50 {figures['settle_p50_ms']:.0f} ms, p95 {figures['settle_p95_ms']:.0f} ms, "
        f"p99 {figures['settle_p99_ms']:.0f} ms\n"
        f"requests {figures['requests']}, failures {figures['failures']}\n"
        + _nhsa_lines(figures)
        + (service_metrics.lines(counted) if counted is not None else "")
        + f"reports: {folder}"
    )
    failed = []
    if comparison is not None and comparison["service_errors"]:
        failed.append(f"{comparison['service_errors']} wrong answers in the settle-only run")
    if figures["failures"]:
        failed.append(f"{figures['failures']} failed requests")
    if args.min_rps and figures["settlements_per_s"] < args.min_rps:
        failed.append(f"settlements/s {figures['settlements_per_s']:.0f} < {args.min_rps:.0f}")
    if args.max_p99_ms and figures["settle_p99_ms"] > args.max_p99_ms:
        failed.append(f"settle p99 {figures['settle_p99_ms']:.0f} ms > {args.max_p99_ms:.0f} ms")
    if failed:
        print("THRESHOLDS MISSED: " + "; ".join(failed))
        return 1
    print("thresholds met")
    return 0


def _nhsa_lines(figures: dict[str, Any]) -> str:
    """The NHSA users' figures: stays/s (2304s answered) and each transaction's rate and
    latencies, under the settlement route's."""
    nhsa = figures["nhsa"]
    if not figures["nhsa_users"]:
        return ""
    settled = nhsa.get("2304", {})
    lines = [
        f"nhsa stays/s {settled.get('requests_per_s', 0.0):.1f}  "
        f"({figures['nhsa_users']} of {figures['users']} users through {NHSA_PATH}; "
        f"{settled.get('requests', 0)} stays settled)"
    ]
    lines += [
        f"  {NHSA_PATH} {infno}: {row['requests_per_s']:.1f} requests/s, p50 {row['p50_ms']:.0f} ms, "
        f"p95 {row['p95_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms, {row['requests']} requests, "
        f"{row['failures']} failures"
        for infno, row in nhsa.items()
    ]
    return "\n".join(lines) + "\n"


def _serve_bare(env: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtests.bare", "--port", str(port)],
        env=env, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    _wait_healthy(base_url, process)
    return base_url, process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _compare_with_bare(
    env: dict[str, str], base_url: str, keys_file: Path, folder: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """The settle-only rate of the bare app and of the service, same driver, same claims."""
    from loadtests.claims import hospital_keys, read_keys
    from loadtests.wrk import drive, write_claims

    keys = hospital_keys(read_keys(keys_file))
    claims = folder / "claims.wrk"
    lines = None if args.lines == "skewed" else int(args.lines)
    write_claims(claims, keys, args.persons, lines, seed=int(time.time()))
    bare_url, bare = _serve_bare(env)
    try:
        print(
            f"settle-only, wrk {args.connections} connections, {args.settle_seconds} s: bare app",
            flush=True,
        )
        ceiling = drive(
            bare_url, claims, connections=args.connections, seconds=args.settle_seconds, run="B"
        )
    finally:
        _stop(bare)
    print("settle-only: the service", flush=True)
    service = drive(base_url, claims, connections=args.connections, seconds=args.settle_seconds,
                    run=secrets.token_hex(3))  # fmt: skip
    ratio = service.per_second / ceiling.per_second if ceiling.per_second else 0.0
    print(
        f"settle-only: bare app {ceiling.per_second:.0f}/s (p99 {ceiling.p99_ms:.0f} ms), "
        f"service {service.per_second:.0f}/s (p99 {service.p99_ms:.0f} ms, {service.errors} errors): "
        f"{ratio:.2f} of the bare app",
        flush=True,
    )
    return {
        "bare_per_s": ceiling.per_second, "bare_p99_ms": ceiling.p99_ms,
        "service_per_s": service.per_second, "service_p50_ms": service.p50_ms,
        "service_p99_ms": service.p99_ms, "service_errors": service.errors + service.socket_errors,
        "ratio": ratio,
    }  # fmt: skip


def _seed(env: dict[str, str], args: argparse.Namespace, keys_file: Path) -> None:
    _onestop(env, "demo", "seed", "--persons", str(args.persons), "--hospitals", str(args.hospitals),
             "--keys-file", str(keys_file))  # fmt: skip


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--lines", default="30", help='lines per claim, or "skewed"')
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--hospitals", type=int, default=20)
    parser.add_argument(
        "--nhsa-percent",
        type=int,
        choices=range(101),
        metavar="0..100",
        default=NHSA_PERCENT_DEFAULT,
        help="share of the users that settle whole stays through /v1/nhsa (at least one of "
        "two users or more when above 0)",
    )
    parser.add_argument(
        "--min-rps", type=float, default=0.0, help="fail below this many settlements/s"
    )
    parser.add_argument(
        "--max-p99-ms", type=float, default=0.0, help="fail above this settle p99 (0: no limit)"
    )
    parser.add_argument("--name", default=None, help="report folder name under var/loadtest/")
    parser.add_argument("--locust-processes", type=int, default=1, help="locust worker processes")
    parser.add_argument(
        "--settle-seconds",
        type=int,
        default=20,
        help="seconds of the wrk settle-only run against the bare app and the service (0: none)",
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="open connections of the wrk runs"
    )
    parser.add_argument(
        "--existing-sqlite",
        type=Path,
        default=None,
        help="use this SQLite file as it is (seeded and prefilled), with keys.env beside it",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)

    name = (
        args.name
        or f"{args.db}-w{args.workers}-u{args.users}-l{args.lines}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    folder = ROOT / "var" / "loadtest" / name
    folder.mkdir(parents=True, exist_ok=True)
    drop: Callable[[], None]
    if args.existing_sqlite is not None:
        url, drop = f"sqlite:///{args.existing_sqlite.resolve()}", (lambda: None)
    else:
        url, drop = _database(args.db, folder)
    env = {**os.environ, "ONESTOP_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = None
    try:
        print(
            f"database: {args.db}; migrating and seeding {args.persons} persons, {args.hospitals} hospitals",
            flush=True,
        )
        _onestop(env, "db", "upgrade")
        keys_file = folder / "keys.env"
        if args.existing_sqlite is not None:
            keys_file = args.existing_sqlite.parent / "keys.env"
        else:
            _seed(env, args, keys_file)
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", str(args.workers)],
            env=env, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        _wait_healthy(base_url, server)
        comparison = None
        if args.settle_seconds:
            comparison = _compare_with_bare(env, base_url, keys_file, folder, args)
        print(
            f"service: {base_url}, {args.workers} worker(s); locust: {args.users} users for {args.duration} s "
            f"({nhsa_users(args.users, args.nhsa_percent)} of them through {NHSA_PATH})",
            flush=True,
        )
        locust_env = {**env, "ONESTOP_LOADTEST_KEYS": str(keys_file), "ONESTOP_LOADTEST_PERSONS": str(args.persons),
                      "ONESTOP_LOADTEST_LINES": str(args.lines),
                      "ONESTOP_LOADTEST_NHSA_PERCENT": str(args.nhsa_percent)}  # fmt: skip
        command = [
            sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"), "--headless",
            "--host", base_url, "-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s",
            "--csv", str(folder / "locust"), "--csv-full-history", "--html", str(folder / "report.html"),
            "--only-summary", "--stop-timeout", "10", "--exit-code-on-error", "0",
        ]  # fmt: skip
        if args.locust_processes > 1:
            command += ["--processes", str(args.locust_processes)]
        admin_key = read_keys(keys_file).get("ONESTOP_ADMIN_KEY")
        before = service_metrics.scrape(base_url, admin_key) if admin_key else None
        subprocess.run(command, env=locust_env, cwd=ROOT, check=False)
        counted = None
        if admin_key and before is not None:
            counted = service_metrics.summary(before, service_metrics.scrape(base_url, admin_key))
        return _report(folder, name, args, comparison, counted)
    finally:
        if server is not None:
            _stop(server)
        drop()


if __name__ == "__main__":
    sys.exit(main())
