"""`onestop demo seed`: the demo's hospitals, persons and keys for `make run`, or a load-test
population with `--persons`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import database, tariff_book

demo_app = typer.Typer(help="Demo data for trying the service.", no_args_is_help=True)


@demo_app.command("seed")
def demo_seed(
    keys_file: Annotated[
        Path, typer.Option(help="Where the demo keys are written (mode 600).")
    ] = Path("var/demo-keys.env"),
    persons: Annotated[
        int | None,
        typer.Option(
            min=1, max=10_000_000, help="Seed a load-test population of this many persons."
        ),
    ] = None,
    hospitals: Annotated[
        int,
        typer.Option(min=1, max=10_000, help="With --persons: this many hospitals, a key each."),
    ] = 10,
) -> None:
    """Seed demo hospitals, persons (each group and none, insured in 220000 Jilin or 210000
    Liaoning) and keys, if the database is empty; with --persons, bulk-insert a load-test
    population (LP0000000…, LH0000…, both regions) and its keys."""
    from api.services.demo import seed_if_empty, seed_population

    engine = database()
    if persons is not None:
        import time

        started = time.perf_counter()
        counts = seed_population(engine, persons, hospitals, keys_file)
        typer.echo(
            f"seeded {counts['persons']} persons ({counts['statuses']} with a group) and "
            f"{counts['hospitals']} hospitals in {time.perf_counter() - started:.1f} s; "
            f"keys of {hospitals} hospitals and finance in {keys_file}"
        )
        return
    from api.core.config import Settings

    book = tariff_book(Settings().tariff_dir)
    created = seed_if_empty(engine, keys_file, book)
    typer.echo("demo data seeded" if created else "database already has data; demo seed skipped")
    if not keys_file.exists():
        return
    keys = dict(
        line.split("=", 1) for line in keys_file.read_text(encoding="utf-8").split() if "=" in line
    )
    typer.echo(f"demo keys (also in {keys_file}, readable by you only):")
    for name, key in keys.items():
        typer.echo(f"  {name}={key}")
    hospital_key = keys.get("ONESTOP_HOSPITAL_KEY_H2201003", "<hospital key>")
    typer.echo(
        "\nSettle a sample claim (worked example E2: dibao, lung cancer surgery) from here:\n"
        f"  curl -s -X POST http://127.0.0.1:8000/v1/settlements \\\n"
        f"    -H 'Authorization: Bearer {hospital_key}' \\\n"
        "    -H 'Content-Type: application/json' --data @docs/examples/e2/claim.json\n"
        "Post it again for an idempotent replay; open the slip (结算单) with\n"
        f"  curl -s -H 'Authorization: Bearer {hospital_key}' "
        "http://127.0.0.1:8000/v1/settlements/<settlement_id>/statement > slip.html\n"
        "A cross-region claim (异地就医): a person insured in 210000 (P0007, P0008) at a "
        "220000 hospital,\nor a 220000 person at H2101002/H2101003, with "
        '"filing": "resident" | "referral" | "emergency" | "temporary" in the claim.'
    )
