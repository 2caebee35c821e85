"""What the command groups share: refusing with every problem listed, reading a contract
model from a JSON file, and the database named by the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from sqlalchemy import Engine

M = TypeVar("M", bound=BaseModel)

EXIT_REFUSED = 2
"""Exit status for a refused claim or input file: every problem has been printed."""


def fail(problems: list[str], heading: str) -> typer.Exit:
    """Print the heading and every problem to stderr; the Exit to raise (status 2)."""
    console = Console(stderr=True)
    console.print(f"[bold red]{heading}[/]", highlight=False)
    for problem in problems:
        console.print(f"  - {problem}", highlight=False, markup=False)
    return typer.Exit(EXIT_REFUSED)


def tariff_book(directory: Path | None) -> Any:
    """The tariff book of `directory` (the shipped tariffs when None, as the service reads
    ONESTOP_TARIFF_DIR unset); refused with every problem of its files (status 2)."""
    from tariffs import TariffError, load_default, load_tariffs

    try:
        return (load_default() if directory is None else load_tariffs(directory)).book
    except TariffError as error:
        raise fail(error.problems, "the tariff files are refused") from None


def read_model(path: Path, model: type[M]) -> M:
    """A contract model from a JSON file; refused with every problem (file, field, reason)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise fail([f"{path}: {error.strerror}"], f"cannot read {path}") from None
    except json.JSONDecodeError as error:
        raise fail([f"{path}: line {error.lineno}: {error.msg}"], f"{path} is not JSON") from None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = [
            f"{path}: {'.'.join(str(part) for part in detail['loc']) or '(root)'}: {detail['msg']}"
            for detail in error.errors()
        ]
        raise fail(problems, f"{path} is refused ({len(problems)} problems)") from None


def database() -> Engine:
    """An engine on the database of ONESTOP_DATABASE_URL (the SQLite file by default)."""
    from api.core.config import Settings
    from api.db.engine import make_engine

    return make_engine(Settings())
