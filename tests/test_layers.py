"""Imports point one way (STYLE.md "Dependencies point one way", docs/architecture.md).

Read from the source with `ast`, every import, at the top of a module or inside a function:

- inside `api/`, the layers are folders, core ← db ← services ← routes | web | cli, with
  `api/main.py` and `api/app.py` composing them: a module imports its own folder or a layer
  below, never a layer above and never a sibling entry point (routes, web and cli are peers);
- `settlement/` imports nothing of `tariffs/`, `api/` or `loadtests/`;
- `tariffs/` imports nothing of `api/` or `loadtests/`;
- `loadtests/` talks to the service over HTTP; only its bulk prefill writes through the
  store (`api.db`) and reads the settings (`api.core.config`), and the in-process benchmark of
  one service function (`bench_fhir.py`, the FHIR view's cost beside the JSON view's) calls the
  service as its route does, on a database of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"core": 0, "db": 1, "services": 2, "routes": 3, "web": 3, "cli": 3}
COMPOSITION = {"main", "app"}
COMPOSITION_RANK = 4
PREFILL_MAY_IMPORT = ("api.db", "api.core.config")
# Benchmarks that measure the service's own internals in one process: the FHIR builder, the
# CPU and round trips a request costs, the SQLite write queue under contention, and the
# policy simulation's Dask tasks on a prefilled database.
IN_PROCESS_BENCHMARKS = (
    "bench_answer.py",
    "bench_route.py",
    "bench_fhir.py",
    "bench_messages.py",
    "bench_round_trips.py",
    "bench_write_queue.py",
    "bench_simulate.py",
)


def imports_of(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import in the file, wherever it stands."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}:{node.lineno}: relative imports are not used here"
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def api_place(parts: tuple[str, ...]) -> tuple[str, int]:
    """(the folder, its rank) of a module of `api` named by its dotted parts after `api`."""
    if not parts:
        return "api", -1  # the package itself: nothing but a docstring
    head = parts[0]
    if head in LAYERS:
        return head, LAYERS[head]
    assert head in COMPOSITION, f"api.{head} belongs to no layer: add it to a layer folder"
    return "composition", COMPOSITION_RANK


def module_parts(path: Path) -> tuple[str, ...]:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def layer_violations(path: Path, source: str | None = None) -> list[str]:
    folder, rank = api_place(module_parts(path)[1:])
    problems = []
    for line, module in imports_of(path, source):
        parts = tuple(module.split("."))
        if parts[0] != "api":
            continue
        target_folder, target_rank = api_place(parts[1:-1] if len(parts) > 2 else parts[1:])
        if target_folder == folder or target_rank < rank:
            continue
        kind = "sideways" if target_rank == rank else "upward"
        problems.append(f"{path.relative_to(ROOT)}:{line}: {kind} import of {module}")
    return problems


def test_every_api_module_belongs_to_a_layer_or_composes_them() -> None:
    for path in sources("api"):
        parts = module_parts(path)[1:]
        assert not parts or parts[0] in LAYERS or parts[0] in COMPOSITION, path


@pytest.mark.parametrize("path", sources("api"), ids=lambda path: str(path.relative_to(ROOT)))
def test_an_api_module_imports_only_its_own_layer_or_the_layers_below(path: Path) -> None:
    assert layer_violations(path) == []


def test_the_layer_check_catches_an_upward_and_a_sideways_import() -> None:
    """The check can fail: a service importing a route, and a route importing the web pages."""
    service = ROOT / "api" / "services" / "probe.py"
    route = ROOT / "api" / "routes" / "probe.py"
    assert layer_violations(service, "from api.routes.settlements import router\n") == [
        "api/services/probe.py:1: upward import of api.routes.settlements.router"
    ]
    assert layer_violations(route, "def f():\n    from api.web.pages import router\n") == [
        "api/routes/probe.py:2: sideways import of api.web.pages.router"
    ]
    assert layer_violations(route, "from api.db import store\n") == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("settlement", ("tariffs", "api", "loadtests")),
        ("tariffs", ("api", "loadtests")),
    ],
)
def test_the_engine_and_the_tariffs_import_nothing_of_the_layers_above(
    package: str, forbidden: tuple[str, ...]
) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sources(package)
        for line, module in imports_of(path)
        if module.split(".")[0] in forbidden
    ]
    assert found == []


def test_the_load_tests_reach_the_service_over_http_but_for_the_prefill() -> None:
    found = []
    for path in sources("loadtests"):
        for line, module in imports_of(path):
            if module.split(".")[0] != "api":
                continue
            allowed = path.name == "prefill.py" and module.startswith(PREFILL_MAY_IMPORT)
            if not allowed and path.name not in IN_PROCESS_BENCHMARKS:
                found.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert found == []
