"""The engine's purity rules (STYLE.md "A pure core"), checked on the source with `ast`.

Nothing under settlement/ imports the web framework, the database, the tariff loader, the
load tests, the file system or the clock, asks for today's date, or names `float`; nothing on
the path of `settle` writes a float literal (SETTLEMENT_RULES.md §2: floats never appear).
These rules hold for every file under settlement/, without exception.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SETTLEMENT_DIR = Path(__file__).resolve().parents[2] / "settlement"
FORBIDDEN_MODULES = frozenset(
    {
        "fastapi",
        "sqlmodel",
        "sqlalchemy",
        "api",
        "tariffs",
        "loadtests",
        "os",
        "pathlib",
        "io",
        "time",
    }
)
CLOCK_CALLS = frozenset({"today", "now", "utcnow", "fromtimestamp", "utcfromtimestamp"})


def engine_files() -> list[Path]:
    return sorted(SETTLEMENT_DIR.rglob("*.py"))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, top-level module) of every import; relative imports stay inside settlement."""
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append((node.lineno, node.module.split(".")[0]))
    return modules


def clock_calls(tree: ast.Module) -> list[int]:
    """Lines calling date.today(), datetime.now() and the like, however qualified."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_CALLS
    ]


def float_names(tree: ast.Module) -> list[int]:
    """Lines naming `float`: as a type (annotation, cast) or a call.

    The one allowed use is refusing floats: `float` as the type tested by `isinstance`.
    """
    refusals = {
        id(argument)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "isinstance"
        and len(node.args) == 2
        for argument in (
            node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
        )
    }
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == "float" and id(node) not in refusals
    ]


def float_literals(tree: ast.Module) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, float)
    ]


def module_file(module: str) -> Path | None:
    """The file of a `settlement.…` module, or None for anything outside the package."""
    parts = module.split(".")
    if parts[0] != "settlement":
        return None
    base = SETTLEMENT_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def settle_path_files() -> list[Path]:
    """engine.py and every settlement module it imports, directly or not."""
    seen: set[Path] = set()
    todo = [SETTLEMENT_DIR / "engine.py"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(parsed(path)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                found = module_file(name)
                if found is not None:
                    todo.append(found)
    return sorted(seen)


def test_the_engine_has_source_files_to_check() -> None:
    names = {path.name for path in engine_files()}
    assert {"engine.py", "money.py", "allocation.py", "basic_insurance.py"} <= names


@pytest.mark.parametrize("path", engine_files(), ids=lambda path: path.name)
def test_no_engine_module_imports_the_web_the_database_the_loader_the_load_tests_files_or_the_clock(
    path: Path,
) -> None:
    modules = imported_modules(parsed(path))
    bad = [(line, module) for line, module in modules if module in FORBIDDEN_MODULES]
    assert bad == [], f"{path}: forbidden imports {bad}"


@pytest.mark.parametrize("path", engine_files(), ids=lambda path: path.name)
def test_no_engine_module_asks_the_clock_for_the_date(path: Path) -> None:
    assert clock_calls(parsed(path)) == [], f"{path}: calls the clock"


@pytest.mark.parametrize("path", engine_files(), ids=lambda path: path.name)
def test_no_engine_module_uses_float_as_a_type_or_a_call(path: Path) -> None:
    assert float_names(parsed(path)) == [], f"{path}: names float"


def test_the_settle_path_covers_the_driver_the_lines_and_every_fund() -> None:
    names = {path.relative_to(SETTLEMENT_DIR).as_posix() for path in settle_path_files()}
    assert {"engine.py", "lines.py", "money.py", "allocation.py", "funds/charity.py"} <= names
    assert {"funds/basic_insurance.py", "funds/critical_illness.py"} <= names
    assert "funds/medical_assistance.py" in names


@pytest.mark.parametrize(
    "path", settle_path_files(), ids=lambda path: path.relative_to(SETTLEMENT_DIR).as_posix()
)
def test_no_module_on_the_settle_path_writes_a_float_literal(path: Path) -> None:
    assert float_literals(parsed(path)) == [], f"{path}: float literal"


def test_the_import_check_catches_a_forbidden_import() -> None:
    source = (
        "import os.path\n"
        "from tariffs.loader import load_default\n"
        "from loadtests.generate import generate_claim\n"
        "import decimal\n"
    )
    found = [
        module for _, module in imported_modules(ast.parse(source)) if module in FORBIDDEN_MODULES
    ]
    assert found == ["os", "tariffs", "loadtests"]


def test_the_clock_check_catches_date_today_and_datetime_now() -> None:
    tree = ast.parse("import datetime\nx = datetime.date.today()\ny = datetime.datetime.now()\n")
    assert clock_calls(tree) == [2, 3]


def test_the_float_checks_catch_annotations_calls_and_literals_but_not_refusals() -> None:
    source = (
        "def f(x: float) -> int:\n"
        "    assert not isinstance(x, float)\n"
        "    return int(float(x) * 0.5)\n"
    )
    tree = ast.parse(source)
    assert float_names(tree) == [1, 3]
    assert float_literals(tree) == [3]
