"""onestop under load: hospital billing systems settling discharge claims.

Each simulated user is one hospital's billing system with its own API key. Task weights:
settle 70, preview 10, replay 5, reversal 5, get 5, reconciliation totals 5. Every answer is
checked: its status, the bill's conservation to the fen on every line and in total, and that
a replay returns the very settlement first returned. A wrong answer is a failure.

A share of the users (`NhsaHospitalSystem`, 10% by default) are billing systems written for
the national platform: each of their tasks is a whole stay through `POST /v1/nhsa`, 2401
admission → 2301 fee lines (two messages) → 2402 discharge → 2304 settlement, each request
named by its transaction in locust's figures ("/v1/nhsa 2401", …, "/v1/nhsa 2304"). Every
answer must be infcode 0; 2304's setlinfo and setldetail are checked for conservation to the
fen, read as exact decimals (`loadtests.nhsa`).

The claims are the generator's mix (`loadtests.generate`): about 10% of them a person insured
in the other region than the user's hospital, with a filing; about 5% with a line that breaks a
rule of the catalog; stays the health fund pays for discharged in 2019. The checks of a bill
(`loadtests.claims.bill_problems`) cover the five funds, the refused self-pay and the findings.

Run against any deployment (headless):
    ONESTOP_LOADTEST_KEYS=var/loadtest/keys.env ONESTOP_LOADTEST_PERSONS=100000 \\
    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8000 -u 16 -r 16 -t 60s

Environment:
    ONESTOP_LOADTEST_KEYS     file of KEY=VALUE lines (as `onestop demo seed --persons` writes):
                              ONESTOP_HOSPITAL_KEY_<hospital_id>=… for each hospital, and
                              ONESTOP_FINANCE_KEY=… (keys may also be given as variables).
    ONESTOP_LOADTEST_PERSONS  how many seeded persons (LP0000000…) to draw from (100000); each
                              person's region, gender, age and group follow from the id
                              (`loadtests.claims.population_person`), as seeded
    ONESTOP_LOADTEST_LINES    lines per claim, or "skewed" for a realistic mix (30)
    ONESTOP_LOADTEST_SEED     seed of the claim generator (1)
    ONESTOP_LOADTEST_NHSA_PERCENT
                              the share of the users that settle through /v1/nhsa, in percent
                              (10): of `-u` users, that share rounded but at least one when
                              above 0 and -u ≥ 2 (`loadtests.nhsa.nhsa_users`); by weight when
                              the user count is not known at start (the web UI)
"""

from __future__ import annotations

import itertools
import os
import random
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from locust import FastHttpUser, between, events, task

from loadtests.claims import (
    HOSPITAL_KEY_PREFIX,
    bill_problems,
    claim_body,
    claim_json,
    fen_of_text,
    generate,
    hospital_keys,
    pay_later_plan,
    population_hospital,
    read_keys,
    receivable_problems,
)
from loadtests.nhsa import (
    NHSA_PATH,
    NHSA_PERCENT_DEFAULT,
    Check,
    NhsaStay,
    answer_problems,
    nhsa_users,
    run_stay,
)

_COUNTER = itertools.count()

_LOCK = threading.Lock()


def _keys() -> dict[str, str]:
    keys = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(HOSPITAL_KEY_PREFIX) or name == "ONESTOP_FINANCE_KEY"
    }
    path = os.environ.get("ONESTOP_LOADTEST_KEYS")
    return {**read_keys(Path(path)), **keys} if path else keys


KEYS = _keys()
HOSPITAL_KEYS = sorted(hospital_keys(KEYS).items())
FINANCE_KEY = KEYS.get("ONESTOP_FINANCE_KEY")
PERSONS = int(os.environ.get("ONESTOP_LOADTEST_PERSONS", "100000"))
LINES_SETTING = os.environ.get("ONESTOP_LOADTEST_LINES", "30")
LINES = None if LINES_SETTING == "skewed" else int(LINES_SETTING)
SEED = int(os.environ.get("ONESTOP_LOADTEST_SEED", "1"))
RUN = datetime.now(UTC).strftime("%H%M%S")
BUSINESS_ZONE = ZoneInfo(os.environ.get("ONESTOP_BUSINESS_TIMEZONE", "Asia/Shanghai"))
TODAY = datetime.now(BUSINESS_ZONE).date().isoformat()
"""A payment is never dated after today (the service's business day)."""
NHSA_PERCENT = min(
    100, max(0, int(os.environ.get("ONESTOP_LOADTEST_NHSA_PERCENT", str(NHSA_PERCENT_DEFAULT))))
)


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _check_setup(environment: Any, **_: Any) -> None:
    if not HOSPITAL_KEYS:
        raise SystemExit("no hospital keys: set ONESTOP_LOADTEST_KEYS (see the module docstring)")


def _user_number() -> int:
    with _LOCK:
        return next(_COUNTER)


@events.init.add_listener  # type: ignore[untyped-decorator]
def _nhsa_share(environment: Any, **_: Any) -> None:
    """With the user count known (-u), exactly `nhsa_users(-u, NHSA_PERCENT)` NHSA users."""
    options = getattr(environment, "parsed_options", None)
    users = getattr(options, "num_users", None)
    if users:
        count = nhsa_users(users, NHSA_PERCENT)
        NhsaHospitalSystem.fixed_count = count
        if count == 0:
            NhsaHospitalSystem.weight = 0


class HospitalBillingSystem(FastHttpUser):
    """One hospital's billing system: its key, its claims, the settlements it got back."""

    wait_time = between(0, 0)
    weight = 100 - NHSA_PERCENT

    def on_start(self) -> None:
        number = _user_number()
        self.hospital_id, key = HOSPITAL_KEYS[number % len(HOSPITAL_KEYS)]
        population_hospital(self.hospital_id)  # a hospital the seeding made, or stop here
        self.headers = {"Authorization": f"Bearer {key}"}
        self.rng = random.Random(SEED * 1_000_003 + number)
        self.settled: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.prefix = f"LT{RUN}U{number}N"
        self.sequence = 0
        self.planned: set[str] = set()

    def _claim(self) -> dict[str, Any]:
        self.sequence += 1
        return claim_body(
            self.rng,
            claim_id=f"{self.prefix}{self.sequence}",
            hospital_id=self.hospital_id,
            persons=PERSONS,
            lines=LINES,
        )

    def _check_bill(
        self, response: Any, claim: dict[str, Any], status: int
    ) -> dict[str, Any] | None:
        if response.status_code != status:
            response.failure(
                f"status {response.status_code}, expected {status}: {response.text[:300]}"
            )
            return None
        bill = response.json()
        problems = bill_problems(claim, bill)
        if problems:
            response.failure("wrong bill: " + "; ".join(problems[:5]))
            return None
        response.success()
        document: dict[str, Any] = bill
        return document

    @task(70)
    def settle(self) -> None:
        claim = self._claim()
        with self.client.post(
            "/v1/settlements", json=claim, headers=self.headers, name="settle", catch_response=True
        ) as response:
            bill = self._check_bill(response, claim, 201)
            if bill is not None and bill.get("status") != "settled":
                response.failure(f"status field {bill.get('status')}")
            elif bill is not None:
                self.settled.append((claim, bill))
                del self.settled[:-200]

    @task(10)
    def preview(self) -> None:
        claim = self._claim()
        with self.client.post(
            "/v1/settlements/preview",
            json=claim,
            headers=self.headers,
            name="preview",
            catch_response=True,
        ) as response:
            bill = self._check_bill(response, claim, 200)
            if bill is not None and (
                bill.get("status") != "preview" or bill.get("settlement_id") is not None
            ):
                response.failure("a preview must have status preview and no settlement id")

    @task(5)
    def replay(self) -> None:
        if not self.settled:
            return
        claim, first = self.rng.choice(self.settled)
        with self.client.post(
            "/v1/settlements", json=claim, headers=self.headers, name="replay", catch_response=True
        ) as response:
            if response.status_code == 201:
                response.failure("a replay created a second settlement")
                return
            bill = self._check_bill(response, claim, 200)
            if bill is not None and bill != first:
                response.failure("a replay returned another settlement")
            elif bill is not None and response.headers.get("Idempotent-Replayed") != "true":
                response.failure("a replay lacks Idempotent-Replayed: true")

    @task(5)
    def reverse(self) -> None:
        live = [
            index for index, (_, bill) in enumerate(self.settled) if bill["status"] == "settled"
        ]
        if not live:
            return
        index = self.rng.choice(live)
        claim, bill = self.settled.pop(index)
        settlement_id = bill["settlement_id"]
        with self.client.post(
            f"/v1/settlements/{settlement_id}/reversal", json={"reason": "load test"}, headers=self.headers,
            name="reversal", catch_response=True,
        ) as response:  # fmt: skip
            reversed_bill = self._check_bill(response, claim, 200)
            if reversed_bill is not None and (
                reversed_bill["status"] != "reversed"
                or reversed_bill["settlement_id"] != settlement_id
            ):
                response.failure("the reversal did not answer with the reversed settlement")

    @task(4)
    def pay_later(self) -> None:
        """A stay paid later (rules §15): the plan recorded for a settled bill whose patient may
        pay later, then its first installment paid; each answer checked to the fen."""
        eligible = [
            index for index, (_, bill) in enumerate(self.settled)
            if bill["status"] == "settled" and bill["settlement_id"] not in self.planned
            and pay_later_plan(bill) is not None
        ]  # fmt: skip
        if not eligible:
            return
        _, bill = self.settled[self.rng.choice(eligible)]
        plan = pay_later_plan(bill)
        assert plan is not None
        self.planned.add(bill["settlement_id"])
        with self.client.post(
            f"/v1/settlements/{bill['settlement_id']}/receivable", json=plan, headers=self.headers,
            name="receivable", catch_response=True,
        ) as response:  # fmt: skip
            receivable = self._check_receivable(response, 201, bill, plan, 0)
        if receivable is None:
            return
        first = plan["installments"][0]
        payment = {"payment_id": f"{bill['settlement_id']}-1", "amount": first["amount"],
                   "paid_on": first["due_date"] if first["due_date"] <= TODAY else TODAY,
                   "method": "cash"}  # fmt: skip
        with self.client.post(
            f"/v1/receivables/{receivable['receivable_id']}/payments", json=payment,
            headers=self.headers, name="payment", catch_response=True,
        ) as response:  # fmt: skip
            self._check_receivable(response, 201, bill, plan, fen_of_text(first["amount"]))

    def _check_receivable(
        self, response: Any, status: int, bill: dict[str, Any], plan: dict[str, Any], paid: int
    ) -> dict[str, Any] | None:
        if response.status_code != status:
            response.failure(
                f"status {response.status_code}, expected {status}: {response.text[:300]}"
            )
            return None
        receivable: dict[str, Any] = response.json()
        problems = receivable_problems(bill, plan, receivable, paid)
        if problems:
            response.failure("wrong receivable: " + "; ".join(problems[:5]))
            return None
        response.success()
        return receivable

    @task(5)
    def get(self) -> None:
        if not self.settled:
            return
        claim, bill = self.rng.choice(self.settled)
        with self.client.get(
            f"/v1/settlements/{bill['settlement_id']}",
            headers=self.headers,
            name="get",
            catch_response=True,
        ) as response:
            fetched = self._check_bill(response, claim, 200)
            if fetched is not None and fetched != bill:
                response.failure(
                    "the stored settlement differs from the one returned when settling"
                )

    @task(5)
    def totals(self) -> None:
        today = datetime.now(BUSINESS_ZONE).date().isoformat()
        with self.client.get(
            "/v1/reconciliation/totals", params={"date_from": today, "date_to": today}, headers=self.headers,
            name="totals", catch_response=True,
        ) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
                return
            document = response.json()
            if document.get("hospital_id") != self.hospital_id:
                response.failure("totals were not scoped to this hospital")
            elif (
                document["net"]["count"]
                != document["settled"]["count"] - document["reversed"]["count"]
            ):
                response.failure("net count ≠ settled − reversed")
            else:
                response.success()


class NhsaHospitalSystem(FastHttpUser):
    """One hospital's billing system written for the national platform: whole stays through
    `POST /v1/nhsa`, from the same generated claims (its hospital the key's, a cross-region
    stay's filing in 2401's mdtrtinfo.filing), each answer checked (`loadtests.nhsa`)."""

    wait_time = between(0, 0)
    weight = NHSA_PERCENT

    def on_start(self) -> None:
        number = _user_number()
        self.hospital_id, key = HOSPITAL_KEYS[number % len(HOSPITAL_KEYS)]
        population_hospital(self.hospital_id)  # a hospital the seeding made, or stop here
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.rng = random.Random(SEED * 1_000_003 + number)
        self.prefix = f"NH{RUN}U{number}N"
        self.sequence = 0

    @task
    def stay(self) -> None:
        self.sequence += 1
        generated = generate(
            self.rng, claim_id=f"{self.prefix}{self.sequence}", hospital_id=self.hospital_id,
            persons=PERSONS, lines=LINES,
        )  # fmt: skip
        run_stay(NhsaStay.of(generated, claim_json(generated.claim)), self._send)

    def _send(self, infno: str, body: bytes, check: Check) -> dict[str, Any] | None:
        """Post one message, named by its infno in the figures; the output when right."""
        # bytes as they are: FastHttpSession sends them (its docstring: "String/bytes"),
        # though its annotation names str only
        with self.client.post(
            NHSA_PATH, data=body, headers=self.headers,  # type: ignore[arg-type]
            name=f"{NHSA_PATH} {infno}", catch_response=True,
        ) as response:  # fmt: skip
            output, problems = answer_problems(response.status_code, response.content, check, infno)
            if problems:
                response.failure(f"{infno}: " + "; ".join(problems[:5]))
                return None
            response.success()
            return output
