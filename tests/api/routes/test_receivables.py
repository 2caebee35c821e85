"""Receivables (先诊疗后付费, rules §15; API_CONTRACT.md "after the bill"): the plan, its
replay and conflict, every refusal (each writing nothing), payments filled earliest due first,
the cancellation a reversal makes, aging as of a day in the five buckets, exports, and who may
see and do what. On SQLite and PostgreSQL (the `world` fixture).

The stay is E4's claim for the registered_poor person at the level-2 hospital, a first
admission of 2018: the patient pays 6924.41 and may pay later (tariff 220000-2018: levels 1–2,
12 installments within 12 months). The plan: 424.41 at discharge (2018-03-12), then 3250.00 on
2018-04-12 and 3250.00 on 2018-05-12.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from api.core.config import Settings
from tests.support.db import row_counts
from tests.support.world import World

PLAN: dict[str, Any] = {
    "paid_at_discharge": "424.41",
    "installments": [
        {"due_date": "2018-04-12", "amount": "3250.00"},
        {"due_date": "2018-05-12", "amount": "3250.00"},
    ],
}


def settle(
    world: World, example: str = "e4", person: str = "registered_poor", level: int = 2
) -> dict[str, Any]:
    answer = world.client.post(
        "/v1/settlements",
        json=world.claim(example, level=level, person=person),
        headers=world.hospital_headers(level),
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def plan(world: World, settlement: dict[str, Any], body: Any = None, level: int = 2) -> Any:
    return world.client.post(
        f"/v1/settlements/{settlement['settlement_id']}/receivable",
        json=PLAN if body is None else body,
        headers=world.hospital_headers(level),
    )


def pay(world: World, receivable_id: str, payment_id: str, amount: str, paid_on: str,
        method: str = "cash", level: int = 2) -> Any:  # fmt: skip
    return world.client.post(
        f"/v1/receivables/{receivable_id}/payments",
        json={"payment_id": payment_id, "amount": amount, "paid_on": paid_on, "method": method},
        headers=world.hospital_headers(level),
    )


def opened(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    settlement = settle(world)
    answer = plan(world, settlement)
    assert answer.status_code == 201, answer.text
    return settlement, dict(answer.json())


def test_a_plan_is_recorded_once_and_the_same_body_again_is_a_replay(world: World) -> None:
    settlement, receivable = opened(world)
    assert settlement["pay_later_eligible"] is True
    assert settlement["totals"]["patient_pay"] == "6924.41"
    assert receivable["principal"] == "6500.00"
    assert receivable["outstanding"] == "6500.00"
    assert receivable["status"] == "open"
    assert receivable["paid_at_discharge"] == "424.41"
    assert receivable["installments"] == [
        {"due_date": "2018-04-12", "amount": "3250.00", "paid": "0.00", "outstanding": "3250.00"},
        {"due_date": "2018-05-12", "amount": "3250.00", "paid": "0.00", "outstanding": "3250.00"},
    ]
    assert (receivable["refund_due"], receivable["refund_to_fund"]) == ("0.00", "0.00")
    assert receivable["settlement_id"] == settlement["settlement_id"]
    again = plan(world, settlement)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
    assert again.json() == receivable
    other = plan(world, settlement, {**PLAN, "paid_at_discharge": "24.41",
                                     "installments": [{"due_date": "2018-04-12", "amount": "6900.00"}]})  # fmt: skip
    assert other.status_code == 409, other.text
    read = world.client.get(
        f"/v1/receivables/{receivable['receivable_id']}", headers=world.hospital_headers(2)
    )
    assert read.json() == receivable


def _installments(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"due_date": day, "amount": amount} for day, amount in pairs]


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ({"paid_at_discharge": "6924.41", "installments": _installments(("2018-04-12", "0.00"))},
         {"out_of_range", "not_positive"}),
        ({"paid_at_discharge": "-1.00", "installments": _installments(("2018-04-12", "6925.41"))},
         {"out_of_range"}),
        ({"paid_at_discharge": "424.41", "installments": _installments(("2018-04-12", "6499.99"))},
         {"sum_mismatch"}),
        ({"paid_at_discharge": "424.41",
          "installments": _installments(("2018-05-12", "3250.00"), ("2018-05-12", "3250.00"))},
         {"not_increasing"}),
        ({"paid_at_discharge": "424.41", "installments": _installments(("2018-03-11", "6500.00"))},
         {"before_discharge"}),
        ({"paid_at_discharge": "424.41", "installments": _installments(("2019-03-13", "6500.00"))},
         {"too_late"}),
        ({"paid_at_discharge": "424.41",
          "installments": _installments(*[(f"2018-{m:02d}-12", "500.00") for m in range(3, 13)],
                                        ("2019-01-12", "500.00"), ("2019-02-12", "500.00"),
                                        ("2019-03-12", "500.00"))},
         {"too_many"}),
    ],
)  # fmt: skip
def test_a_bad_plan_is_refused_with_every_problem_and_writes_nothing(
    world: World, settings: Settings, body: dict[str, Any], codes: set[str]
) -> None:
    settlement = settle(world)
    before = row_counts(settings)
    answer = plan(world, settlement, body)
    assert answer.status_code == 422, answer.text
    assert {error["code"] for error in answer.json()["errors"]} == codes
    assert row_counts(settings) == before


def test_the_last_day_allowed_is_months_max_months_after_discharge(world: World) -> None:
    """2018-03-12 + 12 months = 2019-03-12, allowed (the day after is refused above)."""
    settlement = settle(world)
    body = {"paid_at_discharge": "424.41", "installments": _installments(("2019-03-12", "6500.00"))}
    assert plan(world, settlement, body).status_code == 201


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({**PLAN, "paid_at_discharge": "424.415"}, ["body", "paid_at_discharge"]),
        ({**PLAN, "paid_at_discharge": 424.41}, ["body", "paid_at_discharge"]),
        ({**PLAN, "installments": _installments(("2018-4-12", "6500.00"))},
         ["body", "installments", 0, "due_date"]),
        ({**PLAN, "installments": []}, ["body", "installments"]),
        ({**PLAN, "extra": 1}, ["body", "extra"]),
    ],
)  # fmt: skip
def test_a_malformed_plan_is_refused_by_its_field(
    world: World, settings: Settings, body: dict[str, Any], location: list[Any]
) -> None:
    settlement = settle(world)
    before = row_counts(settings)
    answer = plan(world, settlement, body)
    assert answer.status_code == 422, answer.text
    assert location in [error["loc"] for error in answer.json()["errors"]]
    assert row_counts(settings) == before


def test_an_ineligible_or_reversed_settlement_takes_no_plan(
    world: World, settings: Settings
) -> None:
    at_level_3 = settle(world, "e2", "dibao", 3)
    assert at_level_3["pay_later_eligible"] is False
    answer = plan(world, at_level_3, level=3)
    assert answer.status_code == 422
    assert "not_eligible" in {error["code"] for error in answer.json()["errors"]}
    settlement = settle(world)
    reversal = world.client.post(
        f"/v1/settlements/{settlement['settlement_id']}/reversal",
        json={"reason": "冲正"}, headers=world.hospital_headers(2),
    )  # fmt: skip
    assert reversal.status_code == 200
    before = row_counts(settings)
    answer = plan(world, settlement)
    assert answer.status_code == 422
    assert "reversed" in {error["code"] for error in answer.json()["errors"]}
    assert row_counts(settings) == before


def test_payments_fill_the_earliest_installment_first_until_paid(world: World) -> None:
    _, receivable = opened(world)
    rid = receivable["receivable_id"]
    first = pay(world, rid, "P1", "800.00", "2018-04-10")
    assert first.status_code == 201, first.text
    document = first.json()
    assert [(i["paid"], i["outstanding"]) for i in document["installments"]] == [
        ("800.00", "2450.00"), ("0.00", "3250.00"),
    ]  # fmt: skip
    assert (document["outstanding"], document["status"]) == ("5700.00", "open")
    assert pay(world, rid, "P1", "800.00", "2018-04-10").status_code == 200
    assert pay(world, rid, "P1", "801.00", "2018-04-10").status_code == 409
    second = pay(world, rid, "P2", "3000.00", "2018-05-01").json()
    assert [(i["paid"], i["outstanding"]) for i in second["installments"]] == [
        ("3250.00", "0.00"), ("550.00", "2700.00"),
    ]  # fmt: skip
    last = pay(world, rid, "P3", "2700.00", "2018-05-12").json()
    assert (last["outstanding"], last["status"]) == ("0.00", "paid")
    assert [p["payment_id"] for p in last["payments"]] == ["P1", "P2", "P3"]
    after = pay(world, rid, "P4", "0.01", "2018-05-13")
    assert after.status_code == 422
    assert {e["code"] for e in after.json()["errors"]} == {"not_open", "above_outstanding"}


@pytest.mark.parametrize(
    ("amount", "paid_on", "method", "codes"),
    [
        ("0.00", "2018-04-10", "cash", {"not_positive"}),
        ("6500.01", "2018-04-10", "cash", {"above_outstanding"}),
        ("100.00", "2018-03-11", "card", {"before_discharge"}),
        ("100.00", "2099-01-01", "transfer", {"in_the_future"}),
        ("100.00", "2018-04-10", "temporary_assistance", {"grant_only"}),
    ],
)
def test_a_bad_payment_is_refused_and_writes_nothing(
    world: World, settings: Settings, amount: str, paid_on: str, method: str, codes: set[str]
) -> None:
    _, receivable = opened(world)
    before = row_counts(settings)
    answer = pay(world, receivable["receivable_id"], "PX", amount, paid_on, method)
    assert answer.status_code == 422, answer.text
    assert {error["code"] for error in answer.json()["errors"]} == codes
    assert row_counts(settings) == before


def test_a_reversal_cancels_the_receivable_and_says_what_is_due_back(world: World) -> None:
    settlement, receivable = opened(world)
    rid = receivable["receivable_id"]
    assert pay(world, rid, "P1", "800.00", "2018-04-10").status_code == 201
    reversal = world.client.post(
        f"/v1/settlements/{settlement['settlement_id']}/reversal",
        json={"reason": "冲正"}, headers=world.hospital_headers(2),
    )  # fmt: skip
    assert reversal.status_code == 200
    document = world.client.get(f"/v1/receivables/{rid}", headers=world.hospital_headers(2)).json()
    assert document["status"] == "cancelled"
    assert document["refund_due"] == "1224.41"  # 424.41 at discharge + 800.00 since
    assert document["refund_to_fund"] == "0.00"
    assert document["cancelled_at"] is not None
    refused = pay(world, rid, "P2", "100.00", "2018-04-11")
    assert refused.status_code == 422
    assert "not_open" in {e["code"] for e in refused.json()["errors"]}


def test_aging_as_of_a_day_by_due_dates_and_payments_made_by_then(world: World) -> None:
    _, receivable = opened(world)
    rid = receivable["receivable_id"]
    assert pay(world, rid, "P1", "800.00", "2018-04-10").status_code == 201
    assert pay(world, rid, "P2", "100.00", "2018-06-01").status_code == 201
    finance = world.auth(world.keys.finance)
    hospital = world.hospitals[2]

    def aging(as_of: str) -> dict[str, Any]:
        answer = world.client.get(
            f"/v1/receivables?as_of={as_of}&hospital_id={hospital}", headers=finance
        )
        assert answer.status_code == 200, answer.text
        document = answer.json()
        assert document["as_of"] == as_of
        (row,) = document["aging"]
        return dict(row)

    early = world.client.get(
        f"/v1/receivables?as_of=2018-03-11&hospital_id={hospital}", headers=finance
    )
    assert early.json()["receivables"] == []
    assert early.json()["aging"] == []
    on_day = aging("2018-04-12")  # due today: 0 days overdue is not due
    assert (on_day["not_due"], on_day["1_30"], on_day["outstanding"]) == (
        "5700.00", "0.00", "5700.00",
    )  # fmt: skip
    a_day_late = aging("2018-04-13")
    assert (a_day_late["not_due"], a_day_late["1_30"]) == ("3250.00", "2450.00")
    late = aging("2018-06-11")  # 60 and 30 days overdue; P2 of 06-01 counted
    assert (late["31_90"], late["1_30"], late["outstanding"]) == ("2350.00", "3250.00", "5600.00")
    at_90 = aging("2018-07-11")  # 90 and 60 days overdue
    assert (at_90["31_90"], at_90["91_180"]) == ("5600.00", "0.00")
    at_91 = aging("2018-07-12")  # 91 and 61
    assert (at_91["91_180"], at_91["31_90"]) == ("2350.00", "3250.00")
    at_180 = aging("2018-10-09")  # 180 and 150
    assert (at_180["91_180"], at_180["over_180"]) == ("5600.00", "0.00")
    at_181 = aging("2018-10-10")  # 181 and 151
    assert (at_181["over_180"], at_181["91_180"]) == ("2350.00", "3250.00")
    at_30 = aging("2018-05-12")  # 30 and 0 days overdue
    assert (at_30["1_30"], at_30["not_due"], at_30["31_90"]) == ("2450.00", "3250.00", "0.00")
    at_31 = aging("2018-05-13")  # 31 and 1
    assert (at_31["31_90"], at_31["1_30"]) == ("2450.00", "3250.00")
    before_p2 = world.client.get(
        f"/v1/receivables?as_of=2018-05-31&hospital_id={hospital}", headers=finance
    ).json()
    assert before_p2["receivables"][0]["outstanding"] == "5700.00"
    assert [p["payment_id"] for p in before_p2["receivables"][0]["payments"]] == ["P1"]


def test_a_hospital_sees_its_own_receivables_only_and_finance_records_nothing(
    world: World,
) -> None:
    settlement, receivable = opened(world)
    rid = receivable["receivable_id"]
    other = world.hospital_headers(3)
    assert world.client.get(f"/v1/receivables/{rid}", headers=other).status_code == 403
    assert pay(world, rid, "PZ", "1.00", "2018-04-10", level=3).status_code == 403
    assert world.client.get("/v1/receivables/RVNONE", headers=other).status_code == 404
    listed = world.client.get("/v1/receivables?as_of=2018-12-31", headers=other).json()
    assert all(r["hospital_id"] == world.hospitals[3] for r in listed["receivables"])
    assert (
        world.client.get(
            f"/v1/receivables?hospital_id={world.hospitals[2]}", headers=other
        ).status_code
        == 403
    )
    finance = world.auth(world.keys.finance)
    assert world.client.get(f"/v1/receivables/{rid}", headers=finance).status_code == 200
    answer = world.client.post(
        f"/v1/settlements/{settlement['settlement_id']}/receivable", json=PLAN, headers=finance
    )
    assert answer.status_code == 403
    assert (
        world.client.post(
            f"/v1/receivables/{rid}/payments",
            json={"payment_id": "PF", "amount": "1.00", "paid_on": "2018-04-10", "method": "cash"},
            headers=finance,
        ).status_code
        == 403
    )


def test_the_exports_hold_the_same_figures_as_the_json(world: World) -> None:
    _, receivable = opened(world)
    assert pay(world, receivable["receivable_id"], "P1", "800.00", "2018-04-10").status_code == 201
    finance = world.auth(world.keys.finance)
    query = f"/v1/receivables?as_of=2018-04-20&hospital_id={world.hospitals[2]}"
    as_json = world.client.get(query, headers=finance).json()
    as_csv = world.client.get(query + "&format=csv", headers=finance)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0][:4] == ["receivable_id", "settlement_id", "hospital_id", "person_id"]
    assert rows[1][0] == receivable["receivable_id"]
    assert rows[1][7:9] == ["800.00", "5700.00"]
    aging_header = rows.index(["hospital_id", "receivables", "outstanding", "not_due", "1_30",
                               "31_90", "91_180", "over_180"])  # fmt: skip
    assert rows[aging_header + 1][2:5] == [
        as_json["aging"][0]["outstanding"], as_json["aging"][0]["not_due"], as_json["aging"][0]["1_30"],
    ]  # fmt: skip
    as_xlsx = world.client.get(query + "&format=xlsx", headers=finance)
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    assert sheet.cell(2, 1).value == receivable["receivable_id"]
    assert Decimal(str(sheet.cell(2, 9).value)) == Decimal("5700.00")


def test_the_slip_shows_the_agreement_what_was_paid_and_what_is_owed(world: World) -> None:
    settlement, receivable = opened(world)
    url = f"/v1/settlements/{settlement['settlement_id']}/statement"
    assert pay(world, receivable["receivable_id"], "P1", "800.00", "2018-04-10").status_code == 201
    slip = world.client.get(url, headers=world.hospital_headers(2)).text
    assert "<h2>先诊疗后付费</h2>" in slip
    assert '<td>出院时已付</td><td class="n">424.41</td>' in slip
    assert '<td>尚欠</td><td class="n">5700.00</td>' in slip
    assert "<td>状态</td><td>还款中</td>" in slip
    assert '<td>第1期</td><td>2018-04-12</td><td class="n">3250.00</td>' in slip
    assert '<td class="n">800.00</td><td class="n">2450.00</td>' in " ".join(slip.split()).replace(
        "> <", "><"
    )
    assert '<td>2018-04-10</td><td class="n">800.00</td><td>现金</td><td>P1</td>' in slip
    assert "本年度个人负担累计 6924.41（高额医疗费用预警线 5000.00，本次结算达到预警线）" in slip


def test_the_slip_of_an_eligible_stay_without_a_plan_says_it_may_pay_later(world: World) -> None:
    eligible = settle(world)
    slip = world.client.get(
        f"/v1/settlements/{eligible['settlement_id']}/statement", headers=world.hospital_headers(2)
    ).text
    assert "本次住院可先诊疗后付费" in slip
    assert "<h2>先诊疗后付费</h2>" not in slip
    not_eligible = settle(world, "e2", "dibao", 3)
    slip = world.client.get(
        f"/v1/settlements/{not_eligible['settlement_id']}/statement",
        headers=world.hospital_headers(3),
    ).text
    assert "先诊疗后付费" not in slip
    assert "本年度个人负担累计 4904.90（高额医疗费用预警线 5000.00）" in slip
