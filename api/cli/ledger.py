"""`onestop ledger verify`: the stored ledger checked against itself (api/services/ledger.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import database

ledger_app = typer.Typer(
    help="Ledger checks: accumulators, conservation, postings, encounters, receivables.",
    no_args_is_help=True,
)

EXIT_LEDGER_DIFFERS = 1
"""Exit status of `ledger verify` when any difference was found (all of them are printed)."""


@ledger_app.command("verify")
def ledger_verify(
    year: Annotated[
        int | None,
        typer.Option(
            "--year",
            min=1900,
            max=9999,
            metavar="YYYY",
            help="Only this policy year (default: all).",
        ),
    ] = None,
) -> None:
    """Check the stored ledger; exit 0 when it is sound, 1 listing every difference.

    Accumulators against the settled settlements, every settlement's conservation, the
    fund postings against the settlements' funds, and every settled encounter of the national
    platform's interface against its settlement (lines, item codes, quantities, unit prices,
    amounts, total). Reads one snapshot and writes nothing.
    """
    from rich.text import Text

    from api.services.ledger import check

    engine = database()
    try:
        report = check(engine, year)
    finally:
        engine.dispose()
    console = Console()
    scope = "all policy years" if year is None else f"policy year {year}"
    console.print(
        f"checked {scope}: {report.accumulators} accumulators, {report.settlements} "
        f"settlements, {report.postings} postings, {report.encounters} settled encounters, "
        f"{report.receivables} receivables",
        highlight=False,
    )
    if report.balanced:
        console.print("[bold green]ledger verified: no differences[/]", highlight=False)
        return
    table = Table(title="Ledger differences", title_justify="left")
    table.add_column("kind", no_wrap=True)
    table.add_column("where", no_wrap=True)
    table.add_column("expected", justify="right")
    table.add_column("found", justify="right")
    table.add_column("message")
    for difference in report.differences:
        # Text cells: a value read from the database is never taken for Rich markup.
        table.add_row(
            Text(difference.kind), Text(difference.where), Text(_shown(difference.expected)),
            Text(_shown(difference.found)), Text(difference.message),
        )  # fmt: skip
    console.print(table)
    total = len(report.differences) + report.differences_omitted
    omitted = f" ({report.differences_omitted} not listed)" if report.differences_omitted else ""
    console.print(f"[bold red]{total} differences{omitted}[/]", highlight=False)
    raise typer.Exit(EXIT_LEDGER_DIFFERS)


def _shown(value: int | str | None) -> str:
    return "—" if value is None else str(value)
