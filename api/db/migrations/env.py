"""Alembic environment: migrates the database named by ONESTOP_DATABASE_URL (or the URL the
caller put on the config), with the SQLModel metadata of `api.db.tables` as the target."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import api.db.tables  # noqa: F401 - registers the tables on SQLModel.metadata
from api.core.config import Settings
from api.db.engine import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(Settings(database_url=url))
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
