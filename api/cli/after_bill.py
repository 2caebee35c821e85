"""`onestop receivables` and `onestop alerts`: what patients who pay later owe (rules §15), and
the high-burden alerts (rules §16), for clerks without a browser. Read-only; they read the
database the service uses (ONESTOP_DATABASE_URL), with the rights of finance (every hospital)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import fail


def _context() -> tuple[Any, str, Any]:
    from api.core.access import Principal
    from api.core.config import Settings
    from api.db.engine import make_engine

    settings = Settings()
    return make_engine(settings), settings.business_timezone, Principal("finance", None, "cli")


def receivables(
    as_of: Annotated[
        str, typer.Option("--as-of", help="The day, YYYY-MM-DD (business time zone).")
    ],
    hospital: Annotated[str | None, typer.Option(help="One hospital (default: all).")] = None,
    status: Annotated[
        Literal["open", "paid", "cancelled"] | None, typer.Option(help="Only this status.")
    ] = None,
    output_format: Annotated[Literal["table", "csv", "json"], typer.Option("--format")] = "table",
) -> None:
    """Receivables as of a day (先诊疗后付费), and the outstanding amount per hospital aged by
    each unpaid installment's due date: not due, 1–30, 31–90, 91–180, over 180 days."""
    from api.core.after_bill import AGING_BUCKETS
    from api.services.receivables import list_receivables, receivables_csv

    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise fail([f"--as-of {as_of!r} is not a date YYYY-MM-DD"], "nothing read") from None
    engine, zone, principal = _context()
    try:
        document = list_receivables(
            engine, zone, principal, hospital_id=hospital, status=status, as_of=day
        )
    finally:
        engine.dispose()
    if output_format == "json":
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    if output_format == "csv":
        typer.echo(receivables_csv(document), nl=False)
        return
    console = Console()
    listed = Table(title=f"Receivables as of {document['as_of']} ({zone})", title_justify="left")
    for heading in ("receivable", "hospital", "person", "discharged", "principal", "outstanding",
                    "status"):  # fmt: skip
        listed.add_column(
            heading, justify="right" if heading in ("principal", "outstanding") else "left"
        )
    for row in document["receivables"]:
        listed.add_row(
            row["receivable_id"], row["hospital_id"], row["person_id"], row["discharge_date"],
            row["principal"], row["outstanding"], row["status"],
        )  # fmt: skip
    console.print(listed)
    aging = Table(title="Aging per hospital (days overdue)", title_justify="left")
    aging.add_column("hospital")
    for heading in ("receivables", "outstanding", *AGING_BUCKETS):
        aging.add_column(heading, justify="right")
    for row in document["aging"]:
        aging.add_row(row["hospital_id"], str(row["receivables"]), row["outstanding"],
                      *(row[bucket] for bucket in AGING_BUCKETS))  # fmt: skip
    console.print(aging)


def alerts(
    year: Annotated[int, typer.Option("--year", min=1900, max=2099, help="The policy year.")],
    status: Annotated[
        Literal["raised", "withdrawn", "granted", "declined"] | None,
        typer.Option(help="Only this status."),
    ] = None,
    region: Annotated[str | None, typer.Option(help="Only persons insured in this region.")] = None,
    output_format: Annotated[Literal["table", "csv", "json"], typer.Option("--format")] = "table",
) -> None:
    """High-burden alerts (高额医疗费用预警) of a year: who, the year's burden against its
    threshold, what is still owed, and the decision (临时救助)."""
    from api.services.alerts import alerts_csv, list_alerts

    engine, _, principal = _context()
    try:
        document = list_alerts(engine, principal, year=year, status=status, region=region)
    finally:
        engine.dispose()
    if output_format == "json":
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    if output_format == "csv":
        typer.echo(alerts_csv(document), nl=False)
        return
    table = Table(title=f"High-burden alerts {year}", title_justify="left")
    for heading in ("person", "id number", "name", "group", "region", "paid this year",
                    "threshold", "owed on receivables", "status", "decision"):  # fmt: skip
        table.add_column(heading)
    for row in document["alerts"]:
        decision = row["decision"]
        decided = "" if decision is None else f"{decision['decision']} {decision['amount']}"
        table.add_row(
            row["person_id"], row["id_number"], row["name"], row["group"] or "",
            row["insured_region"], row["patient_paid"], row["threshold"],
            row["receivables_outstanding"], row["status"], decided,
        )  # fmt: skip
    Console().print(table)
