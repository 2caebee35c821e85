"""Backups and restores of the configured database (`onestop db backup|restore`).

SQLite: SQLite's online backup API (`sqlite3.Connection.backup`), the whole database copied in
one step under one read transaction. In WAL mode a reader never blocks the service's writers,
so a backup taken while the service settles is a consistent snapshot of one instant. The copy
is written beside the target as `PATH.partial`, checked (`PRAGMA quick_check`, the alembic
revision present), switched out of WAL into a single self-contained file, flushed to disk and
only then renamed to PATH; an existing PATH is never overwritten.

A restore copies the backup into the configured database with the same API, in one step under
the database's write lock: it waits for a settlement being written (the busy timeout), then
replaces every page in one transaction, so a running service sees the old database or the
restored one, never a mix, and what it settles afterwards lands on the restored data. What
was settled after the backup is gone: stop the service before restoring (docs/operations.md).

PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean --if-exists --no-owner
--single-transaction` (all or nothing), run when the client programs are on PATH; the
password, if the URL has one, is passed in PGPASSWORD, never on the command line.

Nothing is restored that is not an onestop database: before the configured database is
touched, the file's alembic revision must be one of onestop's own migrations and its tables
exactly the tables that revision has (SQLite: with their columns), as an empty database
migrated to that revision shows them. A foreign file that merely has an `alembic_version` row
is refused, and the database left as it was (issue 19, section 5). A backup that cannot be
written where it was asked (a folder that is not writable, a file in the way of a folder) is
refused with the reason, never a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

from api.db.migrate import alembic_config, upgrade

SQLITE_LOCK_WAIT_SECONDS = 30.0
"""Longest wait for the database's lock (a restore waits for the service's write to finish)."""


class BackupRefused(Exception):
    """An expected refusal (a file missing or in the way, not a backup): nothing was changed."""


class ToolMissing(Exception):
    """pg_dump or pg_restore is not on PATH; `command` is what the operator can run instead."""

    def __init__(self, program: str, command: list[str]) -> None:
        super().__init__(f"{program} is not on PATH")
        self.program = program
        self.command = command


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a backup or restore did: the database kind, the file, its size and revision."""

    kind: str
    path: Path
    size_bytes: int
    revision: str | None


def is_postgresql(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def backup(database_url: str, path: Path) -> Outcome:
    """Back the configured database up to `path` (which must not exist yet)."""
    if path.exists():
        raise BackupRefused(f"{path} exists: a backup never overwrites a file")
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # not writable, or a file where a folder of the path should be
        raise BackupRefused(_unwritable(path, error)) from None
    try:
        # Readable by its owner only (it holds names and ID numbers); never another backup's.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupRefused(f"{partial} exists: another backup may be writing it") from None
    except OSError as error:
        raise BackupRefused(_unwritable(path, error)) from None
    try:
        return _backed_up(database_url, path, partial)
    except OSError as error:  # the disk filled up, the folder went away meanwhile
        raise BackupRefused(_unwritable(path, error)) from None
    finally:
        partial.unlink(missing_ok=True)


def _unwritable(path: Path, error: OSError) -> str:
    """Why a backup cannot be written at `path`, in the system's words, naming the file."""
    where = f" ({error.filename})" if error.filename else ""
    return f"cannot write {path}: {error.strerror or error}{where}"


def _backed_up(database_url: str, path: Path, partial: Path) -> Outcome:
    """The database copied into `partial`, checked, flushed and linked to `path`."""
    if is_postgresql(database_url):
        # The command shown when pg_dump is missing names PATH, not the partial file.
        if shutil.which("pg_dump") is None:
            raise ToolMissing("pg_dump", pg_dump_command(database_url, path))
        _run("pg_dump", pg_dump_command(database_url, partial), database_url)
        kind, revision = "postgresql", None
    else:
        kind, revision = "sqlite", _sqlite_backup(_sqlite_path(database_url), partial)
    _flush(partial)
    try:
        os.link(partial, path)  # fails, unlike a rename, if PATH appeared meanwhile
    except FileExistsError:
        raise BackupRefused(f"{path} exists: a backup never overwrites a file") from None
    _flush(path.parent)
    return Outcome(kind, path, path.stat().st_size, revision)


def restore(database_url: str, path: Path) -> Outcome:
    """Replace the configured database's contents with the backup at `path`."""
    if not path.is_file():
        raise BackupRefused(f"{path} is not a file")
    if is_postgresql(database_url):
        command = pg_restore_command(database_url, path)
        revision = _dump_revision(path, command)
        _run("pg_restore", command, database_url)
        return Outcome("postgresql", path, path.stat().st_size, revision)
    return _sqlite_restore(path, _sqlite_path(database_url))


# What an onestop database is: one of its own revisions, with that revision's tables.


def onestop_revisions() -> list[str]:
    """Every revision of onestop's migrations, oldest first."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


@cache
def schema_at(revision: str) -> dict[str, frozenset[str]]:
    """The tables of an onestop database at `revision` and their columns, read from an empty
    SQLite database migrated to it: the migrations themselves say what a backup must hold."""
    with tempfile.TemporaryDirectory(prefix="onestop-schema-") as folder:
        reference = Path(folder) / "reference.db"
        upgrade(f"sqlite:///{reference}", revision)
        connection = sqlite3.connect(reference)
        try:
            return _sqlite_schema(connection)
        finally:
            connection.close()


def _known_revision(found: str, path: Path) -> str:
    known = onestop_revisions()
    if found not in known:
        raise BackupRefused(
            f"{path} is at revision {found!r}, which is none of onestop's migrations "
            f"({known[0]}…{known[-1]}): not an onestop database, or one of a newer onestop"
        )
    return found


def _sqlite_schema(connection: sqlite3.Connection) -> dict[str, frozenset[str]]:
    tables = [
        str(row[0])
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        table: frozenset(str(row[1]) for row in connection.execute(f'PRAGMA table_info("{table}")'))
        for table in tables
    }


def _refuse_other_schema(
    path: Path, revision: str, tables: dict[str, frozenset[str]] | set[str]
) -> None:
    """Refused, naming each difference, unless the file's tables (with their columns, when
    known) are exactly `revision`'s."""
    expected = schema_at(revision)
    problems = []
    missing = sorted(expected.keys() - set(tables))
    if missing:
        problems.append(f"missing tables {', '.join(missing)}")
    foreign = sorted(set(tables) - expected.keys())
    if foreign:
        problems.append(f"tables onestop has not: {', '.join(foreign)}")
    if isinstance(tables, dict):
        for name in sorted(expected.keys() & tables.keys()):
            if tables[name] != expected[name]:
                lacking = ", ".join(sorted(expected[name] - tables[name])) or "none"
                unknown = ", ".join(sorted(tables[name] - expected[name])) or "none"
                problems.append(f"table {name}: columns missing {lacking}, unknown {unknown}")
    if problems:
        raise BackupRefused(
            f"{path} is not an onestop database of revision {revision}: {'; '.join(problems)}"
        )


def _check_sqlite_schema(connection: sqlite3.Connection, path: Path, revision: str) -> None:
    _refuse_other_schema(path, _known_revision(revision, path), _sqlite_schema(connection))


_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE public (\S+) ", re.MULTILINE)
"""A table of the public schema in `pg_restore --list` (its data is a `TABLE DATA` entry)."""
_COPY_ROWS = re.compile(
    r"^COPY \S*alembic_version \(version_num\) FROM stdin;\n(.*?)^\\\.$", re.DOTALL | re.MULTILINE
)


def _dump_revision(path: Path, restore_command: list[str]) -> str:
    """The revision of a pg_dump file, refused unless it is onestop's with that revision's
    tables: read from the dump's table of contents and its alembic_version data, nothing
    restored."""
    if shutil.which("pg_restore") is None:
        raise ToolMissing("pg_restore", restore_command)
    listing = _output(["pg_restore", "--list", str(path)])
    tables = set(_TOC_TABLE.findall(listing))
    data = _output(["pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(path)])
    copied = _COPY_ROWS.search(data)
    rows = [] if copied is None else [row for row in copied.group(1).splitlines() if row]
    if "alembic_version" not in tables or len(rows) != 1:
        raise BackupRefused(f"{path} has no alembic revision: not a migrated onestop database")
    revision = _known_revision(rows[0], path)
    _refuse_other_schema(path, revision, tables)
    return revision


def _output(command: list[str]) -> str:
    """What a client program that reads a file (never the database) prints."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupRefused(
            f"{command[0]} cannot read {command[-1]} (exit {result.returncode}): "
            f"{result.stderr.strip()}"
        )
    return result.stdout


# PostgreSQL: the client programs, with the URL in libpq's form and without its password.


def _libpq_url(database_url: str) -> URL:
    url = make_url(database_url)
    # URL.set(password=None) keeps the password: build the URL anew without it.
    return URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)


def pg_dump_command(database_url: str, path: Path) -> list[str]:
    """The pg_dump command line that backs the database up to `path` (no password in it)."""
    dbname = _libpq_url(database_url).render_as_string(hide_password=False)
    return ["pg_dump", "--format=custom", f"--file={path}", f"--dbname={dbname}"]


def pg_restore_command(database_url: str, path: Path) -> list[str]:
    """The pg_restore command line that restores `path` into the database (no password)."""
    dbname = _libpq_url(database_url).render_as_string(hide_password=False)
    return [
        "pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
        "--exit-on-error", f"--dbname={dbname}", str(path.resolve()),
    ]  # fmt: skip


def _run(program: str, command: list[str], database_url: str) -> None:
    if shutil.which(program) is None:
        raise ToolMissing(program, command)
    environment = dict(os.environ)
    password = make_url(database_url).password
    if password is not None:
        environment["PGPASSWORD"] = str(password)
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupRefused(f"{program} failed (exit {result.returncode}): {result.stderr.strip()}")


# SQLite: the online backup API.


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupRefused(f"the SQLite database {database!r} is not a file that can be backed up")
    return Path(database)


def _sqlite_backup(source_path: Path, partial: Path) -> str:
    """Copy the database to `partial`; its alembic revision."""
    if not source_path.is_file():
        raise BackupRefused(f"the database {source_path} does not exist")
    source = sqlite3.connect(source_path, timeout=SQLITE_LOCK_WAIT_SECONDS)
    target = sqlite3.connect(partial)
    try:
        source.backup(target)  # pages=-1: one step, one read transaction, one instant
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        return _checked_revision(target, partial)
    finally:
        target.close()
        source.close()


def _sqlite_restore(path: Path, target_path: Path) -> Outcome:
    source = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        revision = _checked_revision(source, path)
        _check_sqlite_schema(source, path, revision)  # before anything of the target is touched
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(target_path, timeout=SQLITE_LOCK_WAIT_SECONDS)
        try:
            # Into the service's WAL database: the copy is one transaction in its log.
            target.execute("PRAGMA journal_mode=WAL")
            source.backup(target)
            _checked_revision(target, target_path)
        finally:
            target.close()
    finally:
        source.close()
    return Outcome("sqlite", path, path.stat().st_size, revision)


def _checked_revision(connection: sqlite3.Connection, path: Path) -> str:
    """The database's alembic revision, after SQLite's own check of its pages; refused if
    the file is not an intact onestop database."""
    try:
        check = connection.execute("PRAGMA quick_check").fetchone()
        found = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError as error:
        raise BackupRefused(f"{path} is not a onestop SQLite database: {error}") from None
    if check is None or check[0] != "ok":
        raise BackupRefused(f"{path} fails SQLite's integrity check: {check}")
    if len(found) != 1:
        raise BackupRefused(f"{path} has no alembic revision: not a migrated onestop database")
    return str(found[0][0])


def _flush(path: Path) -> None:
    """fsync a file or a folder, so that a backup reported written survives a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
