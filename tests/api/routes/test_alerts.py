"""High-burden alerts and temporary assistance (rules §16; API_CONTRACT.md "after the bill"),
on SQLite and PostgreSQL: raised by the crossing settlement (through the group-commit writer,
as the service settles), withdrawn by a reversal below the threshold before a decision, raised
again by a new crossing; decided once; a grant paid onto the person's open receivables earliest
due first, the rest to the person; `ledger verify` clean after each story.

Threshold 5000.00 (220000-2018's sample). The dibao person's E2 at level 3 leaves 4904.90 to
pay; E4's claim for the registered_poor person at level 2 leaves 6924.41.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from api.core.config import Settings
from api.services.ledger import check
from tests.api.routes.test_receivables import PLAN, pay, plan, settle
from tests.support.db import row_counts
from tests.support.world import World


def fen(text: str) -> int:
    return int(text.replace(".", ""))


def alert_of(world: World, person: str, year: int = 2018) -> dict[str, Any] | None:
    answer = world.client.get(f"/v1/alerts?year={year}", headers=world.auth(world.keys.finance))
    assert answer.status_code == 200, answer.text
    found = [a for a in answer.json()["alerts"] if a["person_id"] == world.persons[person]]
    return found[0] if found else None


def reverse(world: World, settlement: dict[str, Any], level: int) -> None:
    answer = world.client.post(
        f"/v1/settlements/{settlement['settlement_id']}/reversal",
        json={"reason": "冲正"}, headers=world.hospital_headers(level),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text


def decide(world: World, person: str, body: dict[str, Any], year: int = 2018) -> Any:
    return world.client.post(
        f"/v1/alerts/{world.persons[person]}/{year}/decision",
        json=body, headers=world.auth(world.keys.finance),
    )  # fmt: skip


def test_an_alert_is_raised_withdrawn_and_raised_again_as_the_year_crosses(
    own_world: World, own_engine: Engine
) -> None:
    world = own_world
    first = settle(world, "e2", "dibao", 3)
    assert first["burden"] == {"year_to_date": "4904.90", "threshold": "5000.00", "crossed": False}
    assert alert_of(world, "dibao") is None
    second = settle(world, "e2", "dibao", 3)
    assert second["burden"]["crossed"] is True
    raised = alert_of(world, "dibao")
    assert raised is not None
    assert (raised["status"], raised["settlement_id"]) == ("raised", second["settlement_id"])
    assert raised["patient_paid"] == second["burden"]["year_to_date"]
    assert raised["threshold"] == "5000.00"
    assert raised["settlements"] == [first["settlement_id"], second["settlement_id"]]
    assert raised["id_number"].startswith("*")
    assert raised["id_number"][-4:] == world.id_numbers[world.persons["dibao"]][-4:]
    assert raised["decision"] is None
    reverse(world, second, 3)
    assert alert_of(world, "dibao")["status"] == "withdrawn"  # type: ignore[index]
    assert check(own_engine, None).differences == ()
    third = settle(world, "e2", "dibao", 3)
    assert third["burden"]["crossed"] is True
    again = alert_of(world, "dibao")
    assert again is not None
    assert (again["status"], again["settlement_id"]) == ("raised", third["settlement_id"])
    reverse(world, first, 3)  # the year keeps only the third's patient pay
    left = fen(third["totals"]["patient_pay"])
    expected = "raised" if left >= 5000_00 else "withdrawn"
    assert alert_of(world, "dibao")["status"] == expected  # type: ignore[index]
    assert check(own_engine, None).differences == ()


def test_a_reversal_that_leaves_the_year_over_the_threshold_leaves_the_alert_raised(
    own_world: World, own_engine: Engine
) -> None:
    world = own_world
    crossing = settle(world, "e4", "registered_poor", 2)  # 6924.41 from 0.00
    assert crossing["burden"]["crossed"] is True
    later = settle(world, "e4", "registered_poor", 2)
    assert later["burden"]["crossed"] is False
    reverse(world, crossing, 2)
    alert = alert_of(world, "registered_poor")
    assert alert is not None
    assert fen(alert["patient_paid"]) == fen(later["totals"]["patient_pay"])
    assert alert["status"] == ("raised" if fen(alert["patient_paid"]) >= 5000_00 else "withdrawn")
    assert check(own_engine, None).differences == ()


def test_a_grant_pays_the_open_receivables_earliest_due_first_then_the_person(
    own_world: World, own_engine: Engine
) -> None:
    world = own_world
    settlement = settle(world)  # E4, registered_poor, level 2: 6924.41, crosses 5000.00
    receivable = plan(world, settlement).json()
    rid = receivable["receivable_id"]
    assert pay(world, rid, "P1", "800.00", "2018-04-10").status_code == 201
    body = {"decision_id": "TA1", "decision": "grant", "amount": "3000.00", "reason": "一事一议"}
    granted = decide(world, "registered_poor", body)
    assert granted.status_code == 201, granted.text
    decision = granted.json()
    assert decision["applications"] == [
        {"to": "receivable", "receivable_id": rid, "hospital_id": world.hospitals[2],
         "payment_id": "TA1-1", "amount": "3000.00"}
    ]  # fmt: skip
    assert (decision["paid_to_person"], decision["fund_code"]) == ("0.00", "999998")
    after = world.client.get(f"/v1/receivables/{rid}", headers=world.hospital_headers(2)).json()
    assert [(i["paid"], i["outstanding"]) for i in after["installments"]] == [
        ("3250.00", "0.00"), ("550.00", "2700.00"),
    ]  # fmt: skip
    assert after["payments"][-1]["method"] == "temporary_assistance"
    assert after["payments"][-1]["decision_id"] == "TA1"
    alert = alert_of(world, "registered_poor")
    assert alert is not None
    assert (alert["status"], alert["decision"]) == ("granted", decision)
    assert alert["receivables_outstanding"] == "2700.00"
    replay = decide(world, "registered_poor", body)
    assert (replay.status_code, replay.json()) == (200, decision)
    assert decide(world, "registered_poor", {**body, "amount": "3000.01"}).status_code == 409
    second = decide(world, "registered_poor", {**body, "decision_id": "TA2"})
    assert second.status_code == 422
    assert {e["code"] for e in second.json()["errors"]} == {"not_raised"}
    assert check(own_engine, None).differences == ()
    reverse(world, settlement, 2)
    cancelled = world.client.get(f"/v1/receivables/{rid}", headers=world.hospital_headers(2)).json()
    assert (cancelled["refund_due"], cancelled["refund_to_fund"]) == ("1224.41", "3000.00")
    assert check(own_engine, None).differences == ()


def test_a_grant_above_what_is_owed_pays_the_rest_to_the_person(
    own_world: World, own_engine: Engine
) -> None:
    world = own_world
    settlement = settle(world)
    receivable = plan(world, settlement).json()
    granted = decide(world, "registered_poor", {"decision_id": "TA9", "decision": "grant",
                                                "amount": "6900.00", "reason": "全额"})  # fmt: skip
    assert granted.status_code == 201, granted.text
    decision = granted.json()
    assert [a["amount"] for a in decision["applications"]] == ["6500.00", "400.00"]
    assert decision["applications"][1]["to"] == "person"
    assert decision["paid_to_person"] == "400.00"
    paid_off = world.client.get(
        f"/v1/receivables/{receivable['receivable_id']}", headers=world.hospital_headers(2)
    ).json()
    assert (paid_off["status"], paid_off["outstanding"]) == ("paid", "0.00")
    assert check(own_engine, None).differences == ()


def test_grants_go_to_the_earliest_due_installments_across_hospitals(own_world: World) -> None:
    """Two stays of the year at two level-2 hospitals? The world has one level-2 hospital and a
    level-1 one: the person's plan at each, their installments interleaved by due date."""
    world = own_world
    at_2 = settle(world)
    at_1 = settle(world, "e4", "registered_poor", 1)
    late_plan = {"paid_at_discharge": "0.00", "installments": [
        {"due_date": "2018-06-01", "amount": at_2["totals"]["patient_pay"]}]}  # fmt: skip
    early_plan = {"paid_at_discharge": "0.00", "installments": [
        {"due_date": "2018-04-01", "amount": "100.00"},
        {"due_date": "2018-07-01",
         "amount": f"{(fen(at_1['totals']['patient_pay']) - 100_00) / 100:.2f}"}]}  # fmt: skip
    late = plan(world, at_2, late_plan, level=2).json()
    early = plan(world, at_1, early_plan, level=1).json()
    body = {"decision_id": "TAX", "decision": "grant", "amount": "150.00", "reason": "部分"}
    decision = decide(world, "registered_poor", body).json()
    assert [(a["receivable_id"], a["amount"]) for a in decision["applications"]] == [
        (early["receivable_id"], "100.00"), (late["receivable_id"], "50.00"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ({"decision": "grant", "amount": "6924.42"}, {"above_burden"}),
        ({"decision": "grant", "amount": "0.00"}, {"not_positive"}),
        ({"decision": "grant"}, {"missing"}),
        ({"decision": "decline", "amount": "1.00"}, {"not_allowed"}),
    ],
)
def test_a_bad_decision_is_refused_and_writes_nothing(
    world: World, settings: Settings, body: dict[str, Any], codes: set[str]
) -> None:
    settle(world)
    before = row_counts(settings)
    answer = decide(world, "registered_poor", {"decision_id": "TB", "reason": "测试", **body})
    assert answer.status_code == 422, answer.text
    assert {e["code"] for e in answer.json()["errors"]} == codes
    assert row_counts(settings) == before


def test_a_decision_on_a_withdrawn_alert_or_none_is_refused(world: World) -> None:
    first = settle(world, "e2", "dibao", 3)
    second = settle(world, "e2", "dibao", 3)
    reverse(world, second, 3)
    body = {"decision_id": "TW", "decision": "decline", "reason": "撤回"}
    refused = decide(world, "dibao", body)
    assert {e["code"] for e in refused.json()["errors"]} == {"not_raised"}
    assert first["burden"]["crossed"] is False
    none = decide(world, "none", body)
    assert {e["code"] for e in none.json()["errors"]} == {"no_alert"}


def test_a_decline_is_final_and_pays_nothing(own_world: World, own_engine: Engine) -> None:
    world = own_world
    settlement = settle(world)
    declined = decide(world, "registered_poor", {"decision_id": "TD", "decision": "decline",
                                                 "reason": "不符合条件"})  # fmt: skip
    assert declined.status_code == 201, declined.text
    assert declined.json()["applications"] == []
    reverse(world, settlement, 2)  # below the threshold now: a decided alert stays decided
    assert alert_of(world, "registered_poor")["status"] == "declined"  # type: ignore[index]
    assert check(own_engine, None).differences == ()


def test_alerts_are_finances_only_and_filter_by_year_status_and_region(world: World) -> None:
    settle(world)
    hospital = world.hospital_headers(2)
    assert world.client.get("/v1/alerts", headers=hospital).status_code == 403
    assert decide(world, "registered_poor", {"decision_id": "TH", "decision": "decline",
                                             "reason": "x"}).status_code == 201  # fmt: skip
    as_hospital = world.client.post(
        f"/v1/alerts/{world.persons['registered_poor']}/2018/decision",
        json={"decision_id": "TH2", "decision": "decline", "reason": "x"}, headers=hospital,
    )  # fmt: skip
    assert as_hospital.status_code == 403
    finance = world.auth(world.keys.finance)
    ours = world.persons["registered_poor"]

    def by(query: str) -> list[str]:
        answer = world.client.get(f"/v1/alerts?{query}", headers=finance)
        return [alert["person_id"] for alert in answer.json()["alerts"]]

    assert ours in by("year=2018&status=declined&region=220000")
    assert ours not in by("year=2018&status=raised")
    assert ours not in by("year=2019")
    assert ours not in by("region=210000")
    csv_text = world.client.get("/v1/alerts?year=2018&format=csv", headers=finance).text
    assert csv_text.splitlines()[0].startswith("person_id,id_number,name")
    assert PLAN  # the receivables' plan is shared with test_receivables


def test_the_clearing_shows_what_temporary_assistance_paid_each_hospital_in_the_month(
    own_world: World,
) -> None:
    """Grants fall in the month they are recorded; a cancelled receivable's `refund_to_fund`
    is returned (negative) in the month of the reversal; what went to the person is no
    hospital's. The settlement funds' rows and total are as before."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    world = own_world
    settlement = settle(world)
    receivable = plan(world, settlement).json()
    finance = world.auth(world.keys.finance)
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    before = world.client.get(f"/v1/clearing?month={month}", headers=finance).json()
    assert before["temporary_assistance"] == []
    grant = {"decision_id": "TC", "decision": "grant", "amount": "6600.00", "reason": "清算"}
    assert decide(world, "registered_poor", grant).status_code == 201  # 6500.00 + 100.00 to him
    granted = world.client.get(f"/v1/clearing?month={month}", headers=finance).json()
    assert granted["temporary_assistance"] == [
        {"hospital_id": world.hospitals[2], "hospital_name": "测试医院2", "fund_code": "999998",
         "payments": 1, "applied": "6500.00", "returned": "0.00", "owed": "6500.00"}
    ]  # fmt: skip
    assert granted["temporary_assistance_owed"] == "6500.00"
    assert (granted["rows"], granted["total_owed"]) == (before["rows"], before["total_owed"])
    reverse(world, settlement, 2)
    cancelled = world.client.get(f"/v1/clearing?month={month}", headers=finance).json()
    (row,) = cancelled["temporary_assistance"]
    assert (row["applied"], row["returned"], row["owed"]) == ("6500.00", "-6500.00", "0.00")
    csv_rows = world.client.get(f"/v1/clearing?month={month}&format=csv", headers=finance).text
    assert (
        f"{world.hospitals[2]},测试医院2,,temporary_assistance,999998,1,,6500.00,-6500.00,0.00"
        in csv_rows
    )
    assert receivable["receivable_id"]


def test_a_preview_reports_the_crossing_and_raises_nothing(
    world: World, settings: Settings
) -> None:
    before = row_counts(settings)
    preview = world.client.post(
        "/v1/settlements/preview",
        json=world.claim("e4", level=2, person="registered_poor"),
        headers=world.hospital_headers(2),
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["burden"] == {
        "year_to_date": "6924.41", "threshold": "5000.00", "crossed": True,
    }  # fmt: skip
    assert preview.json()["pay_later_eligible"] is True
    assert alert_of(world, "registered_poor") is None
    assert row_counts(settings) == before
