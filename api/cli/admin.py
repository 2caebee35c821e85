"""Operating the service: `onestop db upgrade|backup|restore`, `serve`, `keys create|revoke`
and the registry imports `persons|hospitals import`."""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import database, fail
from api.core.access import Role
from api.core.metrics import MULTIPROCESS_DIR

db_app = typer.Typer(help="Database migrations, backups and restores.", no_args_is_help=True)

EXIT_NO_CLIENT = 1
"""`db backup|restore` on PostgreSQL without pg_dump/pg_restore on PATH: the command to run is
printed instead."""
keys_app = typer.Typer(help="API keys: create (shown once) and revoke.", no_args_is_help=True)
persons_app = typer.Typer(help="Person registry.", no_args_is_help=True)
hospitals_app = typer.Typer(help="Hospital registry.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database named by ONESTOP_DATABASE_URL (SQLite file by default)."""
    from api.core.config import Settings
    from api.db.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database migrated to {revision}: {_redacted(settings.database_url)}")


@db_app.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="The backup file to write (must not exist).")],
) -> None:
    """Back the database up to PATH while the service runs: SQLite's online backup API (one
    consistent snapshot), or `pg_dump --format=custom` for PostgreSQL."""
    from api.db.backup import backup

    outcome = _backup_or_restore(backup, path, "nothing backed up")
    revision = f", revision {outcome.revision}" if outcome.revision else ""
    typer.echo(f"backed up to {path} ({outcome.size_bytes} bytes{revision})")


@db_app.command("restore")
def db_restore(
    path: Annotated[Path, typer.Argument(help="A file written by `onestop db backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database without asking.")
    ] = False,
) -> None:
    """Replace the database's contents with the backup at PATH (stop the service first).

    SQLite: the online backup API, in one transaction under the database's write lock, so a
    service still running sees the old database or the restored one, never a mix; whatever it
    settled after the backup is gone. PostgreSQL: `pg_restore --clean --if-exists
    --single-transaction`. Then run `onestop db upgrade` and `onestop ledger verify`.
    """
    from api.core.config import Settings
    from api.db.backup import restore

    target = _redacted(Settings().database_url)
    if not yes and not _confirmed(
        f"Replace everything in {target} with {path}? What was written since is lost"
    ):
        raise fail(["not confirmed (pass --yes to restore without asking)"], "nothing restored")
    outcome = _backup_or_restore(restore, path, "nothing restored")
    revision = f" (revision {outcome.revision})" if outcome.revision else ""
    typer.echo(f"restored {path}{revision} into {target}")


def _confirmed(question: str) -> bool:
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:  # no answer (no terminal, end of input)
        return False


def _backup_or_restore(action: Any, path: Path, heading: str) -> Any:
    from api.core.config import Settings
    from api.db.backup import BackupRefused, ToolMissing

    try:
        return action(Settings().database_url, path)
    except BackupRefused as refused:
        raise fail([str(refused)], heading) from None
    except ToolMissing as missing:
        typer.echo(f"{missing}; {heading}. Run, with the password in PGPASSWORD:", err=True)
        typer.echo(shlex.join(missing.command), err=True)
        raise typer.Exit(EXIT_NO_CLIENT) from None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run the HTTP service (uvicorn with uvloop and httptools)."""
    import uvicorn

    if workers > 1 and not os.environ.get(MULTIPROCESS_DIR):
        # Each worker writes its metrics here; GET /metrics adds up every worker's. A fresh
        # directory for each start: figures of an earlier run must not be added in.
        os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="onestop-metrics-")
    uvicorn.run(
        "api.app:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
    )


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="admin, finance or hospital.")],
    hospital: Annotated[
        str | None, typer.Option(help="The hospital a hospital key is bound to.")
    ] = None,
    label: Annotated[str, typer.Option(help="A note on who holds the key.")] = "",
) -> None:
    """Create an API key and print it once, alone on the last line (only its hash is kept)."""
    from datetime import UTC, datetime

    from api.db.engine import write_session
    from api.db.keys import create_key
    from api.db.store import audit
    from api.db.tables import Hospital

    if (role == "hospital") != (hospital is not None):
        raise fail(
            ["--hospital is required for a hospital key and refused for other roles"], "key refused"
        )
    with write_session(database()) as session:
        if hospital is not None and session.get(Hospital, hospital) is None:
            raise fail([f"hospital {hospital} is not registered"], "key refused")
        key, row = create_key(session, role, hospital, label)
        subject = f"{row.prefix} role {role} {hospital or ''}"
        audit(session, "cli", "key.create", subject, datetime.now(UTC))
        session.commit()
    typer.echo(
        f"created {role} key {row.prefix}" + (f" for hospital {hospital}" if hospital else "")
    )
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (osk_<prefix>_…).")],
) -> None:
    """Revoke a key; services stop accepting it within their key cache time (5 s by default)."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from api.db.engine import write_session
    from api.db.store import audit
    from api.db.tables import ApiKey

    with write_session(database()) as session:
        row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if row is None:
            raise fail([f"no key with prefix {prefix}"], "nothing revoked")
        now = datetime.now(UTC)
        row.revoked_at = row.revoked_at or now
        audit(session, "cli", "key.revoke", prefix, now)
        session.commit()
    typer.echo(f"revoked key {prefix}")


@persons_app.command("import")
def persons_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.csv", help="Persons CSV (see docs/operations.md).")
    ],
) -> None:
    """Import persons all-or-nothing; list every bad row and import nothing if any is bad."""
    from api.services.imports import import_persons

    _run_import(import_persons, file, "persons")


@hospitals_app.command("import")
def hospitals_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.csv", help="Hospitals CSV (see docs/operations.md).")
    ],
) -> None:
    """Import hospitals all-or-nothing; list every bad row and import nothing if any is bad."""
    from api.services.imports import import_hospitals

    _run_import(import_hospitals, file, "hospitals")


def _run_import(importer: Any, file: Path, what: str) -> None:
    from api.services.imports import ImportRefused

    try:
        count = importer(database(), file)
    except ImportRefused as refused:
        raise fail(
            refused.problems, f"{file}: nothing imported ({len(refused.problems)} problems)"
        ) from None
    typer.echo(f"imported {count} {what} from {file}")
