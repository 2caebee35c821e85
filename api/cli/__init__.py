"""The `onestop` command line, one module per command group:

- `workbench`: `settle` a claim file and `tariffs check`, no database needed;
- `admin`: `db upgrade`, `serve`, `keys create|revoke`, `persons|hospitals import`;
- `demo`: `demo seed`;
- `ledger`: `ledger verify`;
- `finance`: `reconcile totals|detail` and `clearing`;
- `after_bill`: `receivables` and `alerts` (rules §15–16);
- `simulate`: `simulate`, the year re-settled under a candidate tariff (SIMULATION.md).

Heavy imports stay inside the commands so that every command starts quickly.
"""

from __future__ import annotations

import typer

from api.cli import admin, after_bill, demo, finance, ledger, simulate, workbench

app = typer.Typer(
    help="onestop: one-stop settlement of medical insurance, assistance and charity.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("settle")(workbench.settle_file)
app.add_typer(workbench.tariffs_app, name="tariffs")
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.persons_app, name="persons")
app.add_typer(admin.hospitals_app, name="hospitals")
app.add_typer(demo.demo_app, name="demo")
app.command("serve")(admin.serve)
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(finance.reconcile_app, name="reconcile")
app.command("clearing")(finance.clearing)
app.command("receivables")(after_bill.receivables)
app.command("alerts")(after_bill.alerts)
app.command("simulate")(simulate.simulate)
