"""The load-test suite itself: reproducible claims, valid bills, a short smoke run that fails
on any failed request or wrong answer."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from loadtests.claims import bill_problems, claim_body

ROOT = Path(__file__).resolve().parents[2]


def test_the_same_seed_gives_the_same_claims_and_another_seed_other_claims() -> None:
    def claims(seed: int) -> list[dict[str, object]]:
        rng = random.Random(seed)
        return [
            claim_body(
                rng, claim_id=f"C{i}", hospital_id="LH0000", person_id="LP0000001", lines=None
            )
            for i in range(20)
        ]

    assert claims(3) == claims(3)
    assert claims(3) != claims(4)


def test_generated_claims_are_valid_for_the_default_catalog_with_skewed_line_counts() -> None:
    from tariffs import load_default

    catalog = load_default().book.tariffs[0].catalog
    rng = random.Random(5)
    counts = []
    for i in range(200):
        claim = claim_body(
            rng, claim_id=f"C{i}", hospital_id="LH0000", person_id="LP0000001", lines=None
        )
        counts.append(len(claim["items"]))
        assert all(item["item_code"] in catalog for item in claim["items"])
        assert claim["diagnoses"]
    assert min(counts) < 15
    assert max(counts) > 60


def test_the_bill_check_finds_a_fen_out_of_place() -> None:
    claim = {"items": [{"line_no": 1, "amount": "10.00"}]}
    good = {
        "items": [{"line_no": 1, "amount": "10.00", "full_selfpay": "0.00", "over_cap_selfpay": "0.00",
                   "first_selfpay": "0.00", "in_scope": "10.00", "basic_insurance": "6.00",
                   "critical_illness": "0.00", "medical_assistance": "0.00", "charity": "0.00",
                   "patient_pay": "4.00"}],
        "totals": {"total": "10.00", "in_scope": "10.00", "basic_insurance": "6.00", "critical_illness": "0.00",
                   "medical_assistance": "0.00", "charity": "0.00", "fund_total": "6.00", "patient_pay": "4.00"},
        "funds": [{"fund": f} for f in ("basic_insurance", "critical_illness", "medical_assistance", "charity")],
    }  # fmt: skip
    assert bill_problems(claim, good) == []
    bad = json.loads(json.dumps(good))
    bad["items"][0]["patient_pay"] = "4.01"
    assert "line 1: amount ≠ funds + patient" in bill_problems(claim, bad)


def test_a_short_load_test_against_a_fresh_service_has_no_failure(tmp_path: Path) -> None:
    """wrk against the bare app and the service, then the locust mix: no failure anywhere."""
    completed = subprocess.run(
        [sys.executable, "-m", "loadtests.run", "--duration", "6", "--users", "4", "--persons", "2000",
         "--hospitals", "3", "--lines", "skewed", "--name", f"pytest-smoke-{tmp_path.name}",
         "--settle-seconds", "2", "--connections", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert "failures 0" in output
    comparison = next(line for line in output.splitlines() if line.startswith("settle-only: bare"))
    assert " 0 errors" in comparison, comparison
    summary_line = next(line for line in output.splitlines() if line.startswith("settlements/s"))
    assert float(summary_line.split()[1]) > 0
