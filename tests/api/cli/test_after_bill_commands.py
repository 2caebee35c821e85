"""`onestop receivables` and `onestop alerts`: the same figures as the routes, for clerks
without a browser (rules §15–16)."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from api.cli import app
from tests.api.routes.test_receivables import opened, pay, settle
from tests.support.world import World

runner = CliRunner()


def _run(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, list(args), env={"ONESTOP_DATABASE_URL": database_url, "COLUMNS": "250"}
    )
    return result.exit_code, result.output


def test_receivables_on_the_command_line_are_the_routes(world: World, database_url: str) -> None:
    _, receivable = opened(world)
    assert pay(world, receivable["receivable_id"], "P1", "800.00", "2018-04-10").status_code == 201
    hospital = world.hospitals[2]
    route = world.client.get(
        f"/v1/receivables?as_of=2018-04-20&hospital_id={hospital}",
        headers=world.auth(world.keys.finance),
    ).json()
    code, output = _run(database_url, "receivables", "--as-of", "2018-04-20", "--hospital",
                        hospital, "--format", "json")  # fmt: skip
    assert code == 0, output
    assert json.loads(output) == route
    code, output = _run(
        database_url, "receivables", "--as-of", "2018-04-20", "--hospital", hospital
    )
    assert code == 0, output
    assert receivable["receivable_id"] in output
    assert "5700.00" in output
    assert "2450.00" in output
    code, output = _run(database_url, "receivables", "--as-of", "2018-04-20", "--hospital",
                        hospital, "--format", "csv")  # fmt: skip
    assert code == 0, output
    rows = list(csv.reader(io.StringIO(output)))
    assert rows[1][0] == receivable["receivable_id"]
    code, output = _run(database_url, "receivables", "--as-of", "20-04-2018")
    assert code == 2
    assert "not a date" in output


def test_alerts_on_the_command_line_are_the_routes(world: World, database_url: str) -> None:
    settle(world)  # 6924.41 paid: crosses 5000.00
    route = world.client.get("/v1/alerts?year=2018&status=raised",
                             headers=world.auth(world.keys.finance)).json()  # fmt: skip
    code, output = _run(database_url, "alerts", "--year", "2018", "--status", "raised",
                        "--format", "json")  # fmt: skip
    assert code == 0, output
    assert json.loads(output) == route
    code, output = _run(database_url, "alerts", "--year", "2018", "--status", "raised")
    assert code == 0, output
    assert world.persons["registered_poor"] in output
    assert "6924.41" in output
