"""The batch's writes sent in one pipeline on PostgreSQL (`store.pipelined`, issue 20 §5): the
same rows written, and an error the pipeline meets raised as SQLAlchemy raises it for a
statement run alone, so a duplicate is still an `IntegrityError` the writer handles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, exc, text

from api.core.config import Settings
from api.db import store
from api.db.engine import make_engine, write_connection
from tests.support.db import migrated_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_database(request.param, tmp_path / "pipelined.db", "onestop_pipe") as url:
        made = make_engine(Settings(database_url=url))
        yield made
        made.dispose()


def audited(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT subject FROM audit ORDER BY id")).scalars())


def test_writes_in_a_pipeline_are_all_written(engine: Engine) -> None:
    moment = datetime.now(UTC)
    with write_connection(engine) as connection:
        with store.pipelined(connection):
            store.audit_all(connection, [("test", "pipelined", "one", moment)])
            store.audit_all(connection, [("test", "pipelined", f"n{n}", moment) for n in range(3)])
        connection.commit()
    assert audited(engine) == ["one", "n0", "n1", "n2"]


def test_a_duplicate_in_a_pipeline_is_an_integrity_error_and_nothing_more_is_written(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE once (id INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO once VALUES (1)"))

    def twice() -> None:
        with write_connection(engine) as connection:
            with store.pipelined(connection):
                store.audit_all(connection, [("test", "pipelined", "before", datetime.now(UTC))])
                connection.execute(text("INSERT INTO once VALUES (1)"))  # its error: at the sync
            connection.commit()

    with pytest.raises(exc.IntegrityError):
        twice()
    assert audited(engine) == []
