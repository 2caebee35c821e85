"""`make mutate`: mutation testing of the engine and of the platform interface (docs/mutation.md).

mutmut reads its settings from the `pyproject.toml` of the directory it runs in and keeps its
mutated copies and results under that directory's `mutants/`. Each scope therefore runs in a
directory of its own, `var/mutate/<scope>/`, holding a copy of the tree (never a link into it:
nothing mutmut does there can reach the sources) and a `pyproject.toml` whose `[tool.mutmut]`
is the scope's: the repository's own for the engine, with `[tool.onestop.mutate.<scope>]`'s
keys put over it for another scope. The copies keep their files' times, so a second run
retests only the functions that changed (`--fresh` starts over).

The summary counts a mutant that timed out as killed (its tests did not pass) and prints every
other mutant that was not killed: each is to be killed by a new test or explained as equivalent
in docs/mutation.md.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("settlement", "api", "tariffs", "loadtests", "examples", "tests", "docs/examples")
"""What a scope's directory holds of the tree: the packages, the reference HIS client
(`examples/`), the tests and the worked examples they read."""
SCOPES = ("engine", "platform", "simulation")
CAUGHT = {"killed", "timeout", "caught by type check"}
NOT_KILLED = {"survived", "no tests", "suspicious", "segfault", "skipped"}
RETESTED = {"survived", "no tests", "suspicious", "segfault"}
"""What `--retest-survivors` tests again: a mutant no test reached may be reached by a new one."""


def scope_table(pyproject: dict[str, Any], scope: str) -> dict[str, Any]:
    """The scope's `[tool.mutmut]`: the repository's, with the scope's own keys put over it."""
    table = dict(pyproject["tool"]["mutmut"])
    if scope != "engine":
        table.update(pyproject["tool"]["onestop"]["mutate"][scope])
    selection = []
    for argument in table.get("pytest_add_cli_args_test_selection", []):
        # A test-file pattern (tests/api/routes/test_nhsa*.py) picks up the files added later.
        matched = sorted(glob.glob(argument, root_dir=ROOT)) if "*" in argument else []
        selection += matched or [argument]
    table["pytest_add_cli_args_test_selection"] = selection
    return table


def toml_value(value: Any) -> str:
    """A TOML value of the few kinds the tables hold (JSON's strings are TOML's basic ones)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"{value!r} has no TOML form here")


def prepare(scope: str, fresh: bool) -> Path:
    """The scope's directory, its copy of the tree refreshed and its settings written."""
    place = ROOT / "var" / "mutate" / scope
    if fresh and place.exists():
        shutil.rmtree(place)
    place.mkdir(parents=True, exist_ok=True)
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in COPIED:
        target = place / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / name, target, ignore=ignored)  # copy2: the files keep their times
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pytest_table = pyproject["tool"]["pytest"]["ini_options"]
    lines = ["[tool.pytest.ini_options]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in pytest_table.items()]
    lines += ["", "[tool.mutmut]"]
    lines += [
        f"{key} = {toml_value(value)}" for key, value in scope_table(pyproject, scope).items()
    ]
    settings = "\n".join(lines) + "\n"
    written = place / "pyproject.toml"
    if not written.exists() or written.read_text(encoding="utf-8") != settings:
        written.write_text(settings, encoding="utf-8")
    return place


def mutmut(place: Path, *arguments: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    # The platform's scope runs on SQLite only: without a server the PostgreSQL pass is skipped.
    environment.pop("ONESTOP_TEST_PG_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *arguments],
        cwd=place,
        env=environment,
        text=True,
        capture_output=capture,
        check=False,
    )


def statuses(place: Path) -> dict[str, str]:
    """Every mutant of the scope and its status (`killed`, `survived`, `not checked`, …)."""
    if not (place / "mutants").exists():
        return {}
    listed = mutmut(place, "results", "--all", "true", capture=True)
    return dict(line.strip().rsplit(": ", 1) for line in listed.stdout.splitlines() if ": " in line)


def summary(place: Path, scope: str, seconds: float) -> list[str]:
    """The scope's figures and every mutant not killed, as `mutmut results --all` reports."""
    found = statuses(place)
    counts = Counter(found.values())
    tested = sum(count for status, count in counts.items() if status != "not checked")
    caught = sum(counts[status] for status in CAUGHT)
    rate = f"{100 * caught / tested:.1f}%" if tested else "n/a"
    report = [
        f"{scope}: {caught} of {tested} mutants killed ({rate}) in {seconds / 60:.0f} min; "
        + ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
    ]
    report += [f"  {name}: {status}" for name, status in found.items() if status in NOT_KILLED]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scopes", nargs="*", default=list(SCOPES), help=" ".join(SCOPES))
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument(
        "--retest-survivors",
        action="store_true",
        help="test again every mutant an earlier run did not kill (after adding tests)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="test only the mutants these names match (mutmut's names, * as a wildcard), again",
    )
    options = parser.parse_args(argv)
    unknown = set(options.scopes) - set(SCOPES)
    if unknown:
        parser.error(f"no scope {', '.join(sorted(unknown))}: the scopes are {', '.join(SCOPES)}")
    reports = []
    for scope in options.scopes:
        place = prepare(scope, options.fresh)
        names = list(options.only)
        if options.retest_survivors and not options.fresh:
            names += [name for name, status in statuses(place).items() if status in RETESTED]
        started = time.monotonic()
        run = mutmut(place, "run", "--max-children", str(options.max_children), *names)
        if run.returncode != 0:
            print(f"mutmut run failed in {place} (exit {run.returncode})", file=sys.stderr)
            return run.returncode
        reports += summary(place, scope, time.monotonic() - started)
    print("\n".join(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
