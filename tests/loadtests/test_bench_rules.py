"""The rule-check benchmark runs and prints both books (figures are read, never asserted)."""

from __future__ import annotations

import pytest

from loadtests.bench_rules import main


def test_the_rule_check_benchmark_prints_a_row_for_each_book(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--runs", "2", "--claims", "5", "--lines", "10"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("10-line claims, 5 a run, 2 runs of each book")
    assert [line.split()[0] for line in out[2:]] == ["with", "without"]
    assert all(float(value) > 0 for line in out[2:] for value in line.split()[-3:])
