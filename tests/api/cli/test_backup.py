"""`onestop db backup` and `onestop db restore` (issue 11, "Backups"), on both databases.

The drill: settle, back up, settle and reverse more, restore, then `onestop ledger verify` is
clean and exactly the backed-up settlements are present, with their backed-up status. A
restore replaces the whole database, so each test here has a database of its own (not the
session's shared one), served by an app of its own that keeps running through the backup and
the restore, as a service would. The PostgreSQL pass needs ONESTOP_TEST_PG_URL and the
pg_dump and pg_restore programs; without them it is skipped, saying which is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from api.cli import app
from api.cli.admin import EXIT_NO_CLIENT
from api.cli.common import EXIT_REFUSED
from api.core.config import Settings
from api.db.backup import is_postgresql
from api.db.engine import make_engine
from api.main import create_app
from tests.support.db import fresh_postgres_database, migrated_database
from tests.support.world import World, make_world

runner = CliRunner()


def _onestop(database_url: str, *args: str, **environment: str) -> Result:
    return runner.invoke(
        app,
        list(args),
        env={"ONESTOP_DATABASE_URL": database_url, "COLUMNS": "300", **environment},
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each backend for this test alone, dropped after it."""
    if request.param == "postgresql":
        for program in ("pg_dump", "pg_restore"):
            if shutil.which(program) is None:
                pytest.skip(f"{program} is not on PATH: the PostgreSQL backup drill is skipped")
    with migrated_database(
        request.param, tmp_path / "service" / "onestop.db", "onestop_backup"
    ) as url:
        yield url


@pytest.fixture
def service(own_database: str) -> Iterator[tuple[World, Settings]]:
    """The test's own running service and world on its own database."""
    settings = Settings(database_url=own_database, key_cache_seconds=0)
    with TestClient(create_app(settings)) as client:
        yield make_world(client, settings), settings


def settle(world: World, person: str = "dibao", level: int = 3) -> str:
    response = world.client.post(
        "/v1/settlements",
        json=world.claim("e2", level=level, person=person),
        headers=world.hospital_headers(level),
    )
    assert response.status_code == 201, response.text
    settlement_id: str = response.json()["settlement_id"]
    return settlement_id


def reverse(world: World, settlement_id: str) -> None:
    response = world.client.post(
        f"/v1/settlements/{settlement_id}/reversal",
        json={"reason": "医院冲正：演练"},
        headers=world.hospital_headers(3),
    )
    assert response.status_code == 200, response.text


def stored(database_url: str) -> dict[str, str]:
    """Every stored settlement's id and status, read from the database directly."""
    engine = make_engine(Settings(database_url=database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT settlement_id, status FROM settlement"))
            return {row[0]: row[1] for row in rows}
    finally:
        engine.dispose()


def test_the_backup_drill_restores_exactly_the_backed_up_settlements_and_a_clean_ledger(
    service: tuple[World, Settings], tmp_path: Path
) -> None:
    world, settings = service
    url = settings.database_url
    first = [settle(world, person) for person in ("dibao", "destitute", "none")]
    reverse(world, first[2])
    backed_up = stored(url)
    assert set(first) <= set(backed_up)
    assert backed_up[first[2]] == "reversed"

    backup_file = tmp_path / "backups" / "onestop.backup"
    result = _onestop(url, "db", "backup", str(backup_file))
    assert result.exit_code == 0, result.output
    assert backup_file.is_file()

    later = [settle(world, person) for person in ("registered_poor", "dibao")]
    reverse(world, first[0])
    assert set(stored(url)) == set(backed_up) | set(later)

    result = _onestop(url, "db", "restore", str(backup_file), "--yes")
    assert result.exit_code == 0, result.output

    assert stored(url) == backed_up
    verify = _onestop(url, "ledger", "verify")
    assert verify.exit_code == 0, verify.output
    assert "no differences" in verify.output
    # The service kept running through the restore and settles on the restored data.
    again = settle(world, "registered_poor")
    assert stored(url) == {**backed_up, again: "settled"}
    assert _onestop(url, "ledger", "verify").exit_code == 0


def test_a_backup_taken_while_the_service_settles_is_one_consistent_snapshot(
    service: tuple[World, Settings], tmp_path: Path
) -> None:
    world, settings = service
    before = set(stored(settings.database_url))
    done = threading.Event()
    settled: list[str] = []

    def keep_settling() -> None:
        while not done.is_set() and len(settled) < 200:
            settled.append(settle(world, ("dibao", "destitute", "none")[len(settled) % 3]))

    settler = threading.Thread(target=keep_settling)
    settler.start()
    try:
        while len(settled) < 3:
            threading.Event().wait(0.01)
        backup_file = tmp_path / "during.backup"
        result = _onestop(settings.database_url, "db", "backup", str(backup_file))
    finally:
        done.set()
        settler.join()
    assert result.exit_code == 0, result.output

    # Restored into a database of its own, the snapshot is a sound ledger on its own.
    with _restored_copy(settings.database_url, backup_file, tmp_path) as copy_url:
        snapshot = stored(copy_url)
        assert before <= set(snapshot) <= before | set(settled)
        verify = _onestop(copy_url, "ledger", "verify")
        assert verify.exit_code == 0, verify.output


@contextmanager
def _restored_copy(database_url: str, backup_file: Path, tmp_path: Path) -> Iterator[str]:
    """The backup restored into an empty database of its own (dropped after): its URL."""
    with ExitStack() as stack:
        if make_url(database_url).get_backend_name() == "sqlite":
            copy_url = f"sqlite:///{tmp_path / 'copy' / 'onestop.db'}"
        else:
            copy_url = stack.enter_context(fresh_postgres_database(database_url, "onestop_copy"))
        result = _onestop(copy_url, "db", "restore", str(backup_file), "--yes")
        assert result.exit_code == 0, result.output
        yield copy_url


def test_a_backup_never_overwrites_a_file_and_a_restore_refuses_what_is_not_a_backup(
    service: tuple[World, Settings], tmp_path: Path
) -> None:
    world, settings = service
    url = settings.database_url
    settle(world)
    before = stored(url)

    existing = tmp_path / "existing.backup"
    existing.write_bytes(b"an earlier backup")
    result = _onestop(url, "db", "backup", str(existing))
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "exists" in result.output
    assert existing.read_bytes() == b"an earlier backup"
    assert not (tmp_path / "existing.backup.partial").exists()

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("not a database\n" * 100, encoding="utf-8")
    result = _onestop(url, "db", "restore", str(not_a_backup), "--yes")
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "nothing restored" in result.output
    assert stored(url) == before

    missing = tmp_path / "missing.backup"
    result = _onestop(url, "db", "restore", str(missing), "--yes")
    assert result.exit_code == EXIT_REFUSED, result.output

    # Without --yes, a restore asks first; answered no, it changes nothing.
    backup_file = tmp_path / "good.backup"
    assert _onestop(url, "db", "backup", str(backup_file)).exit_code == 0
    settle(world, "destitute")
    after = stored(url)
    declined = runner.invoke(
        app, ["db", "restore", str(backup_file)], input="n\n", env={"ONESTOP_DATABASE_URL": url}
    )
    assert declined.exit_code == EXIT_REFUSED, declined.output
    assert stored(url) == after
    unanswered = _onestop(url, "db", "restore", str(backup_file))
    assert unanswered.exit_code == EXIT_REFUSED, unanswered.output
    assert stored(url) == after


def test_without_pg_dump_on_path_the_postgresql_backup_prints_the_command_and_exits_1(
    tmp_path: Path,
) -> None:
    url = "postgresql+psycopg://clerk:s3cret-pw@db.example:5433/onestop?sslmode=require"
    target = tmp_path / "onestop.dump"
    empty_path = str(tmp_path / "no-programs-here")

    result = _onestop(url, "db", "backup", str(target), PATH=empty_path)
    assert result.exit_code == EXIT_NO_CLIENT, result.output
    assert "pg_dump --format=custom" in result.output
    assert f"--file={target}" in result.output
    assert "postgresql://clerk@db.example:5433/onestop?sslmode=require" in result.output
    assert "s3cret-pw" not in result.output
    assert not target.exists()

    existing = tmp_path / "existing.dump"
    existing.write_bytes(b"dump")
    result = _onestop(url, "db", "restore", str(existing), "--yes", PATH=empty_path)
    assert result.exit_code == EXIT_NO_CLIENT, result.output
    assert "pg_restore --clean --if-exists" in result.output
    assert "s3cret-pw" not in result.output


def test_a_backup_is_its_owners_alone_and_never_takes_over_another_backups_partial_file(
    service: tuple[World, Settings], tmp_path: Path
) -> None:
    world, settings = service
    url = settings.database_url
    settle(world)
    backup_file = tmp_path / "owner-only.backup"
    assert _onestop(url, "db", "backup", str(backup_file)).exit_code == 0
    assert backup_file.stat().st_mode & 0o777 == 0o600  # names and ID numbers inside
    busy = tmp_path / "busy.backup"
    (tmp_path / "busy.backup.partial").write_bytes(b"another backup, still writing")
    result = _onestop(url, "db", "backup", str(busy))
    assert result.exit_code == EXIT_REFUSED, result.output
    assert (tmp_path / "busy.backup.partial").read_bytes() == b"another backup, still writing"
    assert not busy.exists()


def test_a_restore_reads_the_file_named_even_when_its_name_holds_uri_characters(
    service: tuple[World, Settings], tmp_path: Path
) -> None:
    """`?`, `#` and `%` in a path are the file's name, not a URI's query or fragment."""
    world, settings = service
    url = settings.database_url
    if is_postgresql(url):
        pytest.skip("SQLite opens the backup by URI; pg_restore takes the path as it is")
    settle(world)
    odd = tmp_path / "bk?x#y%20z.db"
    assert _onestop(url, "db", "backup", str(odd)).exit_code == 0
    backed_up = stored(url)
    settle(world, "destitute")
    result = _onestop(url, "db", "restore", str(odd), "--yes")
    assert result.exit_code == 0, result.output
    assert stored(url) == backed_up
    # …and nothing was made of the name's parts (`bk`: the file before the "query").
    assert not (tmp_path / "bk").exists()


# ---------------------------------------------------------------- issue 19: what is not a backup


def revision_of(database_url: str) -> list[str]:
    engine = make_engine(Settings(database_url=database_url))
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
    finally:
        engine.dispose()


def foreign_sqlite(path: Path, revision: str, tables: tuple[str, ...] = ("ledger_entry",)) -> Path:
    """Another program's SQLite database that happens to use alembic too."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        for table in tables:
            connection.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note TEXT)")
        connection.commit()
    finally:
        connection.close()
    return path


def foreign_dump(server_url: str, path: Path, revision: str) -> Path:
    """Another program's PostgreSQL database with an alembic_version row, as pg_dump writes it."""
    with fresh_postgres_database(server_url, "onestop_foreign") as url:
        engine = make_engine(Settings(database_url=url))
        try:
            with engine.begin() as connection:
                connection.execute(
                    text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
                )
                connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})
                connection.execute(text("CREATE TABLE ledger_entry (id INTEGER PRIMARY KEY)"))
        finally:
            engine.dispose()
        result = _onestop(url, "db", "backup", str(path))
        assert result.exit_code == 0, result.output
    return path


def test_a_restore_refuses_a_foreign_database_with_an_alembic_revision_and_wipes_nothing(
    service: tuple[World, Settings], tmp_path: Path
) -> None:
    """Issue 19, section 5: a file with an `alembic_version` row is not yet a backup. Before
    anything is replaced, its revision must be one of onestop's and its tables that revision's;
    the database stays as it was and can still be upgraded and verified."""
    world, settings = service
    url = settings.database_url
    settle(world)
    before, revision = stored(url), revision_of(url)
    if is_postgresql(url):
        candidates = {"0007": foreign_dump(url, tmp_path / "foreign.dump", "0007")}
    else:
        candidates = {
            "0007": foreign_sqlite(tmp_path / "foreign.db", "0007"),
            "ab12cd34ef56": foreign_sqlite(tmp_path / "other.db", "ab12cd34ef56"),
        }
    for found, candidate in candidates.items():
        result = _onestop(url, "db", "restore", str(candidate), "--yes")
        assert result.exit_code == EXIT_REFUSED, result.output
        said = " ".join(result.output.split())  # as one line, however the console wrapped it
        assert "nothing restored" in said
        if found == "0007":
            assert "not an onestop database of revision 0007" in said
            assert re.search(r"missing tables [a-z_, ]*\bsettlement\b", said)
            assert "tables onestop has not: ledger_entry" in said
        else:
            assert "revision 'ab12cd34ef56', which is none of onestop's migrations" in said
        assert stored(url) == before
        assert revision_of(url) == revision
    assert _onestop(url, "db", "upgrade").exit_code == 0
    assert _onestop(url, "ledger", "verify").exit_code == 0


def test_a_restore_refuses_an_onestop_backup_whose_tables_were_changed(
    service: tuple[World, Settings], tmp_path: Path
) -> None:
    """An onestop SQLite backup with a column of another revision (or of nobody's) is not a
    database of the revision it names: refused, naming the table and the column."""
    world, settings = service
    url = settings.database_url
    if is_postgresql(url):
        pytest.skip("the columns are read from SQLite backups; a dump is checked by its tables")
    settle(world)
    backup_file = tmp_path / "changed.backup"
    assert _onestop(url, "db", "backup", str(backup_file)).exit_code == 0
    connection = sqlite3.connect(backup_file)
    try:
        connection.execute("ALTER TABLE encounter DROP COLUMN sealed_by")
        connection.commit()
    finally:
        connection.close()
    before = stored(url)
    result = _onestop(url, "db", "restore", str(backup_file), "--yes")
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "table encounter: columns missing sealed_by" in " ".join(result.output.split())
    assert stored(url) == before


def test_a_backup_to_a_path_that_cannot_be_written_is_refused_in_a_line_with_exit_2(
    service: tuple[World, Settings], tmp_path: Path
) -> None:
    """Issue 19, section 5: no traceback, the reason in the system's words, nothing left."""
    _, settings = service
    url = settings.database_url
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("a file, not a folder\n", encoding="utf-8")
    targets = [in_the_way / "onestop.backup", in_the_way / "sub" / "onestop.backup"]
    if os.geteuid() != 0:  # root writes into a read-only folder all the same
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        targets.append(locked / "onestop.backup")
    for target in targets:
        result = _onestop(url, "db", "backup", str(target))
        assert result.exit_code == EXIT_REFUSED, (target, result.output, result.exception)
        assert isinstance(result.exception, SystemExit), result.exception
        said = " ".join(result.output.split())
        assert "nothing backed up" in said
        assert f"cannot write {target}" in said
        assert "Traceback" not in said
        assert not target.with_name(target.name + ".partial").exists()
    assert in_the_way.read_text(encoding="utf-8") == "a file, not a folder\n"
