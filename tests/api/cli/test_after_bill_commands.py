"""`onestop receivables` and `onestop alerts`: the same figures as the routes, for clerks
without a browser (rules §15–16)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

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


def test_the_demo_seeds_a_stay_paid_later_and_its_raised_alert(tmp_path: Path) -> None:
    """`make run`'s demo: E4's stay for 王五 with a plan, and the alert its settlement raised;
    the ledger verifies."""
    from api.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    seeded = runner.invoke(app, ["demo", "seed", "--keys-file", str(tmp_path / "keys.env")],
                           env={"ONESTOP_DATABASE_URL": url})  # fmt: skip
    assert seeded.exit_code == 0, seeded.output
    code, output = _run(url, "receivables", "--as-of", "2018-05-01", "--format", "json")
    assert code == 0, output
    (receivable,) = json.loads(output)["receivables"]
    assert (receivable["person_id"], receivable["hospital_id"]) == ("P0004", "H2201002")
    assert (receivable["status"], receivable["outstanding"]) == ("open", "6500.00")
    code, output = _run(url, "alerts", "--year", "2018", "--format", "json")
    (alert,) = json.loads(output)["alerts"]
    assert (alert["person_id"], alert["status"], alert["patient_paid"]) == (
        "P0004",
        "raised",
        "6924.41",
    )
    code, output = _run(url, "ledger", "verify")
    assert code == 0, output
