"""`onestop serve` in a subprocess, for the tests that need a real server: one way to start it,
stop it and kill it.

The server listens on a free port of 127.0.0.1 and is started with ONESTOP_DATABASE_URL naming
the test database and the key cache off (a revoked key is refused at once). `start_server`
returns once /healthz answers 200. Started with `own_process_group=True` the server leads a
session of its own, so that its whole process group (the uvicorn supervisor and its workers)
can be stopped or killed with SIGKILL at once, the way the OOM killer or a pulled plug ends it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

HEALTHY_WITHIN_SECONDS = 30.0
"""A started server must answer /healthz 200 within this."""
STOP_WITHIN_SECONDS = 10.0
"""A server sent SIGTERM is killed when it has not stopped within this."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """`onestop serve` running in a subprocess on 127.0.0.1."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    """The file its stdout and stderr are written to (None: they are discarded)."""
    own_process_group: bool = False
    """It leads a process group of its own (the group id is its pid)."""


def start_server(
    database_url: str,
    *,
    workers: int = 1,
    extra_env: Mapping[str, str] | None = None,
    log_level: str | None = None,
    log_path: Path | None = None,
    own_process_group: bool = False,
    healthy_within: float = HEALTHY_WITHIN_SECONDS,
) -> Server:
    """Start `onestop serve` on a free port and wait until /healthz answers 200.

    `extra_env` is added to the environment (e.g. ONESTOP_LOCK_WAIT_MS); `log_level` is
    uvicorn's (the command's default when None); with `log_path` the server's stdout and
    stderr are written to that file; `own_process_group` starts it in a new session. Raises
    RuntimeError (with the log's tail, when there is a log) if the server exits during
    start-up or is not healthy within `healthy_within` seconds.
    """
    port = free_port()
    env = {
        **os.environ,
        "ONESTOP_DATABASE_URL": database_url,
        "ONESTOP_KEY_CACHE_SECONDS": "0",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    if log_level is not None:
        command += ["--log-level", log_level]
    if log_path is None:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=own_process_group,
        )
    else:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=own_process_group,
            )
    server = Server(f"http://127.0.0.1:{port}", process, log_path, own_process_group)
    deadline = time.monotonic() + healthy_within
    while time.monotonic() < deadline:
        if healthy(server.base_url):
            return server
        if process.poll() is not None:
            raise RuntimeError(f"the server exited during start-up{_tail(server)}")
        time.sleep(0.1)
    kill_server(server)
    raise RuntimeError(f"the server was not healthy within {healthy_within} s{_tail(server)}")


def healthy(base_url: str) -> bool:
    """Whether /healthz answers 200 within a second."""
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop_server(server: Server) -> None:
    """SIGTERM (to its process group, when it has one); SIGKILL when it has not stopped in
    STOP_WITHIN_SECONDS."""
    if server.own_process_group:
        _signal_group(server, signal.SIGTERM)
    else:
        server.process.terminate()
    with suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=STOP_WITHIN_SECONDS)
    kill_server(server)


def kill_server(server: Server) -> None:
    """SIGKILL the server (its whole process group, when it has one) and wait until none of it
    runs any more."""
    if server.own_process_group:
        _signal_group(server, signal.SIGKILL)
        server.process.wait()
        _wait_group_gone(server.process.pid)
        return
    if server.process.poll() is None:
        server.process.kill()
    server.process.wait()


@contextmanager
def serving(
    database_url: str,
    *,
    workers: int = 1,
    extra_env: Mapping[str, str] | None = None,
    log_level: str | None = None,
    log_path: Path | None = None,
    own_process_group: bool = False,
) -> Iterator[Server]:
    """`start_server` for the block, stopped after it (for fixtures)."""
    server = start_server(
        database_url,
        workers=workers,
        extra_env=extra_env,
        log_level=log_level,
        log_path=log_path,
        own_process_group=own_process_group,
    )
    try:
        yield server
    finally:
        stop_server(server)


def _tail(server: Server, characters: int = 4_000) -> str:
    if server.log_path is None:
        return ""
    written = server.log_path.read_text(encoding="utf-8", errors="replace")
    return f":\n{written[-characters:]}"


def _signal_group(server: Server, signal_number: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal_number)


def _wait_group_gone(group_id: int, seconds: float = 10.0) -> None:
    """Wait until no process of the group runs (zombies left to an init that never reaps
    them hold no lock, file or socket, so they do not count)."""
    deadline = time.monotonic() + seconds
    while _group_members_running(group_id):
        assert time.monotonic() < deadline, f"process group {group_id} survived SIGKILL"
        time.sleep(0.02)


def _group_members_running(group_id: int) -> list[int]:
    running = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (command) state ppid pgrp …": the command may hold spaces and parentheses.
        state, _, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == group_id and state not in ("Z", "X"):
            running.append(int(entry.name))
    return running
