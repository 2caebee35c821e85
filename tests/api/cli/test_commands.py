"""The service commands of `onestop`: migrations, keys, registry imports, on both databases.

Each command runs through typer's CliRunner with ONESTOP_DATABASE_URL naming the test
database; what it wrote is checked through the admin API (the `client` fixture serves the
same database) and by reading the tables directly.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner, Result

from api.cli import app
from api.cli.common import EXIT_REFUSED
from api.core.config import Settings
from api.db.engine import make_engine, write_session
from api.db.keys import create_key
from tests.support.db import row_counts
from tests.support.world import id_number

runner = CliRunner()


def _onestop(database_url: str, *args: str) -> Result:
    return runner.invoke(
        app, list(args), env={"ONESTOP_DATABASE_URL": database_url, "COLUMNS": "300"}
    )


def _tag() -> str:
    return secrets.token_hex(4).upper()


def _listed_lines(output: str) -> set[int]:
    return {int(number) for number in re.findall(r"\bline (\d+):", output)}


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    """Headers with an admin key made directly in the database, independent of `keys create`."""
    engine = make_engine(settings)
    with write_session(engine) as session:
        key, _ = create_key(session, "admin", None, "test_commands")
        session.commit()
    engine.dispose()
    return {"Authorization": f"Bearer {key}"}


def _created_key(result: Result) -> str:
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines, result.output
    key = lines[-1]
    assert key.startswith("osk_"), result.output
    assert key == key.strip()
    assert " " not in key
    assert result.output.strip().splitlines()[-1] == key
    assert key not in "\n".join(lines[:-1])
    return key


# ---------------------------------------------------------------- db upgrade


def test_db_upgrade_on_an_already_migrated_database_succeeds_and_changes_nothing(
    database_url: str, settings: Settings
) -> None:
    before = row_counts(settings)
    first = _onestop(database_url, "db", "upgrade")
    assert first.exit_code == 0, first.output
    second = _onestop(database_url, "db", "upgrade")
    assert second.exit_code == 0, second.output
    assert "migrated to head" in second.stdout
    assert row_counts(settings) == before


# ---------------------------------------------------------------- keys


def test_keys_create_prints_a_working_key_alone_on_the_last_line(
    database_url: str, client: TestClient
) -> None:
    result = _onestop(database_url, "keys", "create", "--role", "finance", "--label", "cli test")
    key = _created_key(result)
    response = client.get("/v1/settlements/unknown", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404, response.text


def test_a_hospital_key_without_its_hospital_is_refused_with_exit_2_and_nothing_written(
    database_url: str, settings: Settings
) -> None:
    before = row_counts(settings)
    result = _onestop(database_url, "keys", "create", "--role", "hospital")
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "osk_" not in result.output
    assert "--hospital" in result.output
    assert row_counts(settings) == before


def test_keys_revoke_makes_the_key_unauthorized(database_url: str, client: TestClient) -> None:
    key = _created_key(_onestop(database_url, "keys", "create", "--role", "finance"))
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/settlements/unknown", headers=headers).status_code == 404
    prefix = key.split("_")[1]
    revoked = _onestop(database_url, "keys", "revoke", prefix)
    assert revoked.exit_code == 0, revoked.output
    response = client.get("/v1/settlements/unknown", headers=headers)
    assert response.status_code == 401, response.text


def test_revoking_an_unknown_prefix_exits_2(database_url: str) -> None:
    result = _onestop(database_url, "keys", "revoke", secrets.token_hex(6))
    assert result.exit_code == EXIT_REFUSED, result.output


def test_a_created_key_is_stored_only_as_a_hash_and_never_printed_again(
    database_url: str, settings: Settings
) -> None:
    key = _created_key(_onestop(database_url, "keys", "create", "--role", "finance"))
    _, prefix, secret = key.split("_", 2)
    revoked = _onestop(database_url, "keys", "revoke", prefix)
    assert revoked.exit_code == 0, revoked.output
    assert secret not in revoked.output

    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT * FROM api_key WHERE prefix = :prefix"), {"prefix": prefix}
            )
            key_rows = [dict(row) for row in rows.mappings()]
            audit = [
                str(value)
                for row in connection.execute(text("SELECT * FROM audit")).mappings()
                for value in row.values()
            ]
    finally:
        engine.dispose()
    assert len(key_rows) == 1
    stored = [str(value) for value in key_rows[0].values() if value is not None]
    assert prefix in stored
    assert not [value for value in stored if secret in value or key in value]
    assert not [value for value in audit if secret in value]


# ---------------------------------------------------------------- imports


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_good_hospitals_file_imports_every_row(
    database_url: str, client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    tag = _tag()
    rows = [(f"HI{tag}{level}", f"导入医院{level}", level) for level in (1, 2, 3)]
    path = _write(
        tmp_path / "hospitals.csv",
        [
            "hospital_id,name,level,region",
            *(f"{hid},{name},{level},220000" for hid, name, level in rows),
        ],
    )
    result = _onestop(database_url, "hospitals", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 3 hospitals" in result.stdout
    for hospital_id, name, level in rows:
        response = client.get(f"/v1/hospitals/{hospital_id}", headers=admin)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "hospital_id": hospital_id,
            "name": name,
            "level": level,
            "region": "220000",
        }


def test_a_good_persons_file_imports_every_row_with_its_statuses(
    database_url: str, client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    tag = _tag()
    path = _write(
        tmp_path / "persons.csv",
        [
            "person_id,name,id_number,birth_date,gender,insured_region,statuses",
            f"PI{tag}1,张导入,{id_number('22010219600501123')},1960-05-01,male,220000,",
            f"PI{tag}2,李导入,{id_number('22010219580817234')},1958-08-17,female,220000,dibao:2017-01-01:",
            f"PI{tag}3,王导入,{id_number('22020319700312345')},1970-03-12,unknown,220000,"
            "dibao:2017-01-01:;registered_poor:2016-06-01:2020-12-31",
        ],
    )
    result = _onestop(database_url, "persons", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 3 persons" in result.stdout

    first = client.get(f"/v1/persons/PI{tag}1", headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["name"] == "张导入"
    assert first.json()["birth_date"] == "1960-05-01"
    assert first.json()["statuses"] == []
    assert first.json()["id_number"].endswith(id_number("22010219600501123")[-4:])
    assert first.json()["id_number"] != id_number("22010219600501123")

    second = client.get(f"/v1/persons/PI{tag}2", headers=admin)
    assert second.status_code == 200, second.text
    assert second.json()["gender"] == "female"
    assert second.json()["statuses"] == [
        {"group": "dibao", "valid_from": "2017-01-01", "valid_to": None}
    ]

    third = client.get(f"/v1/persons/PI{tag}3", headers=admin)
    assert third.status_code == 200, third.text
    assert sorted(third.json()["statuses"], key=lambda status: status["group"]) == [
        {"group": "dibao", "valid_from": "2017-01-01", "valid_to": None},
        {"group": "registered_poor", "valid_from": "2016-06-01", "valid_to": "2020-12-31"},
    ]


def test_a_hospitals_file_with_bad_rows_lists_every_bad_line_and_imports_nothing(
    database_url: str, settings: Settings, client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    tag = _tag()
    path = _write(
        tmp_path / "hospitals.csv",
        [
            "hospital_id,name,level,region",
            f"HB{tag}1,好医院,2,220000",  # line 2: good
            f"HB{tag}2,坏等级,4,220000",  # line 3: level out of range
            f"HB{tag}3,少一列,3",  # line 4: wrong field count
            f"HB{tag}1,重复,1,220000",  # line 5: repeats line 2
            f"HB {tag},坏编号,1,220000",  # line 6: bad identifier
            f"HB{tag}7,坏等级,三级,220000",  # line 7: level not a number
            f"HB{tag}8,另一家好医院,3,220000",  # line 8: good
        ],
    )
    before = row_counts(settings)
    result = _onestop(database_url, "hospitals", "import", str(path))
    assert result.exit_code == EXIT_REFUSED, result.output
    assert _listed_lines(result.output) == {3, 4, 5, 6, 7}
    assert "nothing imported" in result.output
    assert row_counts(settings) == before
    for hospital_id in (f"HB{tag}1", f"HB{tag}8"):
        assert client.get(f"/v1/hospitals/{hospital_id}", headers=admin).status_code == 404


def test_a_hospitals_file_with_a_region_that_is_not_six_digits_is_refused(
    database_url: str, settings: Settings, client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    tag = _tag()
    path = _write(
        tmp_path / "hospitals.csv",
        ["hospital_id,name,level,region", f"HR{tag}1,好医院,2,220000", f"HR{tag}2,坏地区,1,22000X"],
    )
    before = row_counts(settings)
    result = _onestop(database_url, "hospitals", "import", str(path))
    assert result.exit_code == EXIT_REFUSED, result.output
    assert _listed_lines(result.output) == {3}
    assert row_counts(settings) == before
    assert client.get(f"/v1/hospitals/HR{tag}1", headers=admin).status_code == 404


def test_a_hospitals_file_is_held_to_the_same_rules_as_the_hospital_route(
    database_url: str, settings: Settings, client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    """The import and PUT /v1/hospitals share one request model: a control character in a
    name (PostgreSQL cannot store NUL) and a level that is not a whole number 1–3 are refused."""
    tag = _tag()
    path = _write(
        tmp_path / "hospitals.csv",
        [
            "hospital_id,name,level,region",
            f"HS{tag}1,好医院,2,220000",
            f"HS{tag}2,坏\x01名字,2,220000",
            f"HS{tag}3,坏等级,2.0,220000",
        ],
    )
    before = row_counts(settings)
    result = _onestop(database_url, "hospitals", "import", str(path))
    assert result.exit_code == EXIT_REFUSED, result.output
    assert _listed_lines(result.output) == {3, 4}
    assert row_counts(settings) == before
    assert client.get(f"/v1/hospitals/HS{tag}1", headers=admin).status_code == 404


def test_a_persons_file_with_bad_rows_lists_every_bad_line_and_imports_nothing(
    database_url: str, settings: Settings, client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    tag = _tag()
    good = id_number("22010219600501123")
    path = _write(
        tmp_path / "persons.csv",
        [
            "person_id,name,id_number,birth_date,gender,insured_region,statuses",
            f"PB{tag}1,好人,{good},1960-05-01,male,220000,dibao:2017-01-01:",  # line 2: good
            f"PB{tag}2,坏日期,{good},1960-02-30,male,220000,",  # line 3: no 30 February
            f"PB{tag}3,坏证号,12345,1960-05-01,male,220000,",  # line 4: bad id_number
            f"PB{tag}4,坏组别,{good},1960-05-01,male,220000,rich:2017-01-01:",  # line 5: no group
            f"PB{tag}1,重复,{good},1960-05-01,male,220000,",  # line 6: repeats line 2
            f"PB{tag}6,少一列,{good},1960-05-01,male,220000",  # line 7: wrong field count
            f"PB{tag}7,坏状态,{good},1960-05-01,male,220000,dibao:2017-01-01",  # 8: bad status
            f"PB{tag}9,另一个好人,{good},1961-01-01,female,220000,",  # line 9: good
        ],
    )
    before = row_counts(settings)
    result = _onestop(database_url, "persons", "import", str(path))
    assert result.exit_code == EXIT_REFUSED, result.output
    assert _listed_lines(result.output) == {3, 4, 5, 6, 7, 8}
    assert "nothing imported" in result.output
    assert row_counts(settings) == before
    for person_id in (f"PB{tag}1", f"PB{tag}9"):
        assert client.get(f"/v1/persons/{person_id}", headers=admin).status_code == 404
