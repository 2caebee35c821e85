"""POST /v1/nhsa: the national platform's inpatient interface (INTEROP.md), on both databases.

A stay sent as the platform's transactions settles exactly as the same claim posted to
POST /v1/settlements; every refusal is `infcode -1` naming every problem and writing nothing;
a repeated msgid answers the first answer byte for byte; another hospital sees nothing.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from api.core.config import Settings
from api.db.tables import ENCOUNTER
from loadtests.nhsa import dumps as json_body
from tests.support.db import row_counts
from tests.support.nhsa import His, admission_data, envelope, exact
from tests.support.world import World, id_number

FUND_FIELDS = {
    "390100": "hifp_pay",
    "390200": "hifmi_pay",
    "610100": "maf_pay",
}
"""setlinfo's field of each fund with one of its own (charity and health fund: oth_pay)."""


def his_of(world: World, level: int = 3) -> His:
    return His(world, world.hospitals[level], world.hospital_headers(level))


def cross_region_his(world: World) -> His:
    return His(world, world.cross_region_hospital, world.cross_region_headers())


def settle(his: His, claim: dict[str, Any], mdtrt_id: str) -> dict[str, Any]:
    output = his.ok("2304", his.settle_data(claim, mdtrt_id))
    return dict(output)


def written_amounts(raw: bytes) -> list[bytes]:
    """Every amount field's number as written in an answer's bytes."""
    names = "|".join(
        ["medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay", "fund_payamt", "hifp_pay", "oth_pay"]
    )
    return re.findall(rb'"(?:' + names.encode() + rb')":(-?[0-9.eE+]+)', raw)


def expected_setlinfo(bill: dict[str, Any]) -> dict[str, Decimal]:
    """setlinfo's amounts as INTEROP.md maps them from a settlement document."""
    totals = {name: Decimal(value) for name, value in bill["totals"].items()}
    paid = {fund["fund_code"]: Decimal(fund["paid"]) for fund in bill["funds"]}
    return {
        "medfee_sumamt": totals["total"],
        "fulamt_ownpay_amt": totals["full_selfpay"] + totals["refused_selfpay"],
        "overlmt_selfpay": totals["over_cap_selfpay"],
        "preselfpay_amt": totals["first_selfpay"],
        "inscp_scp_amt": totals["in_scope"],
        "act_pay_dedc": totals["deductible_applied"],
        "hifp_pay": paid["390100"],
        "hifmi_pay": paid["390200"],
        "maf_pay": paid["610100"],
        "oth_pay": paid["999997"] + paid["610103"],
        "fund_pay_sumamt": totals["fund_total"],
        "psn_part_amt": totals["patient_pay"],
        "psn_cash_pay": totals["patient_pay"],
        "acct_pay": Decimal("0.00"),
    }


KINDS = {
    # kind: (example, person, cross-region)
    "no group": ("e1", "none", False),
    "dibao with a charity disease": ("e2", "dibao", False),
    "cross-region with a filing": ("x1", "dibao", True),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_stay_settles_as_the_same_claim_posted_to_the_settlement_route(
    world: World, kind: str
) -> None:
    example, person, cross_region = KINDS[kind]
    his = cross_region_his(world) if cross_region else his_of(world)
    claim = world.claim(example, person=person, hospital_id=his.hospital_id)
    mdtrt_id = his.stay(claim)
    presettled = his.ok("2303", his.settle_data(claim, mdtrt_id))
    response = his.post(envelope(his.hospital_id, "2304", his.settle_data(claim, mdtrt_id)))
    assert response.status_code == 200
    answer = exact(response)
    assert answer["infcode"] == 0, answer["err_msg"]
    setlinfo, setldetail = answer["output"]["setlinfo"], answer["output"]["setldetail"]
    # Every amount is written with exactly two decimals, never a float's digits.
    amounts = written_amounts(response.content)
    assert amounts
    assert all(re.fullmatch(rb"-?[0-9]+\.[0-9]{2}", value) for value in amounts), amounts
    # The pre-settlement said the same, without a settlement id.
    assert "setl_id" not in presettled["setlinfo"]
    assert presettled["setldetail"] == setldetail
    for name, value in presettled["setlinfo"].items():
        if name not in ("setl_time", "medins_setl_id"):
            assert setlinfo[name] == value, name
    # setldetail adds up to the funds' total, and it to the bill.
    assert sum(row["fund_payamt"] for row in setldetail) == setlinfo["fund_pay_sumamt"]
    assert setlinfo["medfee_sumamt"] == setlinfo["fund_pay_sumamt"] + setlinfo["psn_cash_pay"]
    assert setlinfo["medfee_sumamt"] == sum(Decimal(item["amount"]) for item in claim["items"])
    # The settlement is the ledger's own: the same under GET /v1/settlements/{id}.
    stored = world.client.get(f"/v1/settlements/{setlinfo['setl_id']}", headers=his.headers)
    assert stored.status_code == 200
    assert stored.json()["claim_id"] == mdtrt_id
    assert (setlinfo["insuplc_admdvs"], setlinfo["mdtrtarea_admvs"]) == (
        stored.json()["insured_region"], stored.json()["treatment_region"],
    )  # fmt: skip
    # 2304 answers from the settlement it has just made; 5203 reads the same one back from
    # what was written: the same answer, but for the message's own id.
    reference = {"setl_id": setlinfo["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]}
    queried = his.ok("5203", {"data": reference})
    assert queried["setldetail"] == setldetail
    assert queried["setlinfo"] == setlinfo | {"medins_setl_id": his.sent[-1]["msgid"]}
    # Cancel it, and post the very claim to POST /v1/settlements: the same figures, field by
    # field, from the same accumulators.
    his.ok("2305", {"data": reference})
    posted = world.client.post("/v1/settlements", json=claim, headers=his.headers)
    assert posted.status_code == 201, posted.text
    bill = posted.json()
    for name, value in expected_setlinfo(bill).items():
        assert setlinfo[name] == value, name
    paid = [fund for fund in bill["funds"] if Decimal(fund["paid"])]
    assert [row["fund_pay_type"] for row in setldetail] == [fund["fund_code"] for fund in paid]
    assert [row["fund_payamt"] for row in setldetail] == [Decimal(f["paid"]) for f in paid]
    assert [row["inscp_scp_amt"] for row in setldetail] == [Decimal(f["base"]) for f in paid]
    # An uncapped fund's limit this claim is its base (INTEROP.md, "Additions"), never null.
    assert [row["crt_payb_lmt_amt"] for row in setldetail] == [
        Decimal(fund["base"] if fund["cap_remaining"] is None else fund["cap_remaining"])
        for fund in paid
    ]
    assert setlinfo["psn_type"] == (bill["group"] or "")
    assert setlinfo["pool_prop_selfpay"] is not None
    if cross_region:
        assert (setlinfo["insuplc_admdvs"], setlinfo["mdtrtarea_admvs"]) == ("220000", "210000")


def test_a_cross_region_stay_names_its_filing_at_admission(world: World) -> None:
    his = cross_region_his(world)
    claim = world.claim("x1", person="dibao", hospital_id=his.hospital_id)
    del claim["filing"]
    before = row_counts(_settings(world))
    answer = his.call("2401", admission_data(world, claim, diagnoses=["C34.1"]))
    assert answer["infcode"] == -1
    assert "input.mdtrtinfo.filing" in answer["err_msg"]
    assert "insured in 220000 and the hospital is in 210000" in answer["err_msg"]
    assert row_counts(_settings(world)) == before


# ---------------------------------------------------------------- refusals


def _settings(world: World) -> Settings:
    state = world.client.app.state.onestop  # type: ignore[attr-defined]
    settings: Settings = state.settings
    return settings


def refused(his: His, body: dict[str, Any] | bytes, *named: str) -> str:
    """Send a message that must be refused: infcode -1 naming each of `named`, nothing written."""
    settings = _settings(his.world)
    before = row_counts(settings)
    response = his.post(body)
    assert response.status_code == 200, response.text
    answer = exact(response)
    assert answer["infcode"] == -1, answer
    assert answer["output"] == {}
    for text in named:
        assert text in answer["err_msg"], (text, answer["err_msg"])
    assert row_counts(settings) == before, "a refused message wrote something"
    return str(answer["err_msg"])


def test_an_unknown_infno_is_refused_naming_the_transactions_answered(world: World) -> None:
    his = his_of(world)
    message = refused(his, envelope(his.hospital_id, "9999", {"data": {}}), "infno: 9999")
    assert "2304" in message


def test_another_hospitals_code_is_refused(world: World) -> None:
    his = his_of(world)
    body = envelope(
        world.hospitals[2], "2401", admission_data(world, world.claim("e2"), diagnoses=["C34.1"])
    )
    refused(his, body, f"fixmedins_code: {world.hospitals[2]} is not this key's hospital")


def test_settling_before_the_discharge_is_refused(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    his.ok("2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    refused(
        his,
        envelope(his.hospital_id, "2304", his.settle_data(claim, mdtrt_id)),
        f"encounter {mdtrt_id} is not discharged: send 2402 before 2304",
    )


def test_a_wrong_medfee_sumamt_is_refused(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    data = his.settle_data(claim, mdtrt_id, medfee_sumamt=Decimal("24099.99"))
    refused(
        his,
        envelope(his.hospital_id, "2304", data),
        "input.data.medfee_sumamt: 24099.99 is not the encounter's lines' total 24100.00",
    )


def test_a_refund_of_an_unknown_line_is_refused_with_every_other_problem(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    lines = his.fee_lines(claim, mdtrt_id)
    refund = {**lines[0], "feedetl_sn": "R0001", "cnt": Decimal("-1"),
              "det_item_fee_sumamt": Decimal("-45.00"), "init_feedetl_sn": "F9999"}  # fmt: skip
    wrong = {**lines[1], "det_item_fee_sumamt": Decimal("12000.01")}
    refused(
        his,
        envelope(his.hospital_id, "2301", {"feedetail": [lines[0], wrong, refund]}),
        "input.feedetail[2].init_feedetl_sn: a refund names the charged line it refunds; F9999",
        "input.feedetail[1].det_item_fee_sumamt: 12000.01 is not cnt × pric",
    )


def test_three_decimals_in_an_amount_are_refused_never_rounded(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    lines = his.fee_lines(claim, mdtrt_id)
    body = json_body(envelope(his.hospital_id, "2301", {"feedetail": lines[:1]}))
    body = body.replace(b'"det_item_fee_sumamt":495.00', b'"det_item_fee_sumamt":495.001')
    body = body.replace(b'"cnt":11', b'"cnt":11.00001')
    assert b"495.001" in body
    assert b"11.00001" in body
    refused(
        his,
        body,
        "input.feedetail[0].det_item_fee_sumamt: has more than 2 decimals",
        "input.feedetail[0].cnt: has more than 4 decimals",
    )


def test_a_msgid_reused_with_another_body_is_refused(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    first = envelope(his.hospital_id, "2401", admission_data(world, claim, diagnoses=["C34.1"]))
    assert exact(his.post(first))["infcode"] == 0
    again = envelope(
        his.hospital_id,
        "2401",
        admission_data(world, {**claim, "admission_date": "2018-03-02"}, diagnoses=["C34.1"]),
    )
    again["msgid"] = first["msgid"]
    refused(his, again, f"msgid: {first['msgid']} was already used for another message")


def test_a_body_that_is_not_the_envelope_names_every_problem(world: World) -> None:
    his = his_of(world)
    body = envelope(his.hospital_id, "23O4", {}, msgid="not a msgid!")
    message = refused(his, body, "infno:", "msgid:")
    assert message.count(";") == 1
    refused(his, b'{"infno": "2401", "infno": "2402"}', "'infno' is given more than once")
    refused(his, b"[1, 2", "the body is not JSON")


def test_the_interface_keeps_its_http_errors(world: World) -> None:
    body = envelope(world.hospitals[3], "1101", {"data": {}})
    client = world.client
    assert client.post("/v1/nhsa", json=body).status_code == 401
    finance = world.auth(world.keys.finance)
    assert client.post("/v1/nhsa", json=body, headers=finance).status_code == 403
    plain = {**world.hospital_headers(), "content-type": "text/plain"}
    assert client.post("/v1/nhsa", content=b"{}", headers=plain).status_code == 415


# ---------------------------------------------------------------- msgid idempotency


def test_a_repeated_message_answers_the_first_answer_byte_for_byte(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    admission = envelope(his.hospital_id, "2401", admission_data(world, claim, diagnoses=["C34.1"]))
    first = his.post(admission)
    counts = row_counts(_settings(world))
    again = his.post(admission)
    assert again.content == first.content
    assert row_counts(_settings(world)) == counts
    mdtrt_id = exact(first)["output"]["result"]["mdtrt_id"]
    his.ok("2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    his.discharge(claim, mdtrt_id)
    settle_message = envelope(his.hospital_id, "2304", his.settle_data(claim, mdtrt_id))
    settled = his.post(settle_message)
    assert his.post(settle_message).content == settled.content
    # Another message settling the same encounter answers the same settlement.
    output = settle(his, claim, mdtrt_id)
    assert output["setlinfo"]["setl_id"] == exact(settled)["output"]["setlinfo"]["setl_id"]
    assert row_counts(_settings(world))["settlement"] == counts["settlement"] + 1


def test_concurrent_copies_of_one_message_make_one_effect(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    settings = _settings(world)
    before = row_counts(settings)
    admission = json_body(
        envelope(his.hospital_id, "2401", admission_data(world, claim, diagnoses=["C34.1"]))
    )
    answers = _at_once(his, admission, 6)
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1, [a.content for a in answers]
    after = row_counts(settings)
    assert after["encounter"] == before["encounter"] + 1
    mdtrt_id = exact(answers[0])["output"]["result"]["mdtrt_id"]
    his.ok("2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    his.discharge(claim, mdtrt_id)
    settling = json_body(envelope(his.hospital_id, "2304", his.settle_data(claim, mdtrt_id)))
    answers = _at_once(his, settling, 6)
    assert len({answer.content for answer in answers}) == 1
    assert exact(answers[0])["infcode"] == 0
    assert row_counts(settings)["settlement"] == before["settlement"] + 1


def _at_once(his: His, body: bytes, copies: int) -> list[Any]:
    answers: list[Any] = [None] * copies
    start = threading.Barrier(copies)

    def send(index: int) -> None:
        start.wait()
        answers[index] = his.post(body)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


# ---------------------------------------------------------------- lines, refunds, cancelling


def test_2301_answers_each_lines_split_and_the_rule_findings(world: World) -> None:
    his = his_of(world)
    claim = world.claim("r1", person="male")
    mdtrt_id = his.admit(claim)
    answer = his.call("2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    assert answer["infcode"] == 0, answer["err_msg"]
    rows = answer["output"]["result"]
    assert [row["feedetl_sn"] for row in rows] == [
        f"F{item['line_no']:04d}" for item in claim["items"]
    ]
    for row in rows:
        split = (
            row["fulamt_ownpay_amt"] + row["overlmt_amt"] + row["preselfpay_amt"]
            + row["inscp_scp_amt"]
        )  # fmt: skip
        assert split == row["det_item_fee_sumamt"], row
        assert row["chrgitm_lv"] in ("01", "02", "03")
    # r1's lines break rules of section 14: their findings are in the envelope's warn_msg, in
    # Chinese, each naming its line.
    assert re.search(r"feedetl_sn F[0-9]{4}: R0[1-4] ", answer["warn_msg"]), answer["warn_msg"]
    # Before the discharge, the lines are checked as of the last fee's day (all on the day of
    # admission here), as the claim would be were the person discharged that day.
    as_of = {**claim, "discharge_date": claim["admission_date"]}
    preview = world.client.post("/v1/settlements/preview", json=as_of, headers=his.headers).json()
    for row, item in zip(rows, preview["items"], strict=True):
        assert row["inscp_scp_amt"] == Decimal(item["in_scope"])
        assert row["fulamt_ownpay_amt"] == Decimal(item["full_selfpay"]) + Decimal(
            item["refused_selfpay"]
        )


def test_a_refund_nets_into_its_line_and_cancelled_lines_leave_the_claim(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    lines = his.fee_lines(claim, mdtrt_id)
    his.ok("2301", {"feedetail": lines})
    # Two of line 1's eleven bed-days refunded; line 2 cancelled; then 0000 is not needed.
    refund = {**lines[0], "feedetl_sn": "R0001", "cnt": Decimal("-2"),
              "det_item_fee_sumamt": Decimal("-90.00"), "init_feedetl_sn": lines[0]["feedetl_sn"]}  # fmt: skip
    answer = his.call("2301", {"feedetail": [refund]})
    answered = answer["output"]["result"][0]
    assert answered["cnt"] == Decimal("-2")
    assert f"feedetl_sn R0001: 退费，冲减明细 {lines[0]['feedetl_sn']}" in answer["warn_msg"]
    too_much = {**refund, "feedetl_sn": "R0002", "cnt": Decimal("-10"),
                "det_item_fee_sumamt": Decimal("-450.00")}  # fmt: skip
    refused(his, envelope(his.hospital_id, "2301", {"feedetail": [too_much]}),
            "refunds more than line F0001 has left (9)")  # fmt: skip
    refused(
        his,
        envelope(his.hospital_id, "2302", {"data": [
            {"feedetl_sn": lines[0]["feedetl_sn"], "mdtrt_id": mdtrt_id,
             "psn_no": claim["person_id"]}]}),
        "its refund R0001 stands",
    )  # fmt: skip
    his.ok("2302", {"data": [{"feedetl_sn": lines[1]["feedetl_sn"], "mdtrt_id": mdtrt_id,
                              "psn_no": claim["person_id"]}]})  # fmt: skip
    his.discharge(claim, mdtrt_id)
    items = [
        {**claim["items"][0], "quantity": "9", "amount": "405.00"},
        *claim["items"][2:],
    ]
    total = sum(Decimal(item["amount"]) for item in items)
    output = his.ok("2304", his.settle_data(claim, mdtrt_id, medfee_sumamt=total))
    assert output["setlinfo"]["medfee_sumamt"] == total
    stored = world.client.get(
        f"/v1/settlements/{output['setlinfo']['setl_id']}", headers=his.headers
    ).json()
    assert [(item["line_no"], item["quantity"], item["amount"]) for item in stored["items"]] == [
        (1, "9", "405.00"),
        *((item["line_no"], item["quantity"], item["amount"]) for item in claim["items"][2:]),
    ]
    # A settled encounter takes no more lines until its settlement is cancelled.
    refused(his, envelope(his.hospital_id, "2301", {"feedetail": [{**lines[1],
            "feedetl_sn": "F0099"}]}), "is settled")  # fmt: skip


def test_cancelling_every_line_with_0000(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    his.ok("2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    his.ok("2302", {"data": [{"feedetl_sn": "0000", "mdtrt_id": mdtrt_id,
                              "psn_no": claim["person_id"]}]})  # fmt: skip
    his.discharge(claim, mdtrt_id)
    refused(
        his,
        envelope(his.hospital_id, "2303", his.settle_data(claim, mdtrt_id)),
        "is not the encounter's lines' total 0.00",
    )


# ---------------------------------------------------------------- 2305, 5203, 3201, 1101


def test_cancelling_restores_the_accumulators_exactly(world: World) -> None:
    his = his_of(world)
    person = world.persons["dibao"]
    admin = world.auth(world.keys.admin)
    url = f"/v1/persons/{person}/accumulators?year=2018"
    # A first stay settled, so that the second one starts from figures that are not zero.
    first = world.claim("e2")
    settle(his, first, his.stay(first))
    before = world.client.get(url, headers=admin).json()
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    setlinfo = settle(his, claim, mdtrt_id)["setlinfo"]
    assert world.client.get(url, headers=admin).json() != before
    reference = {"setl_id": setlinfo["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": person}
    cancelled = his.ok("2305", {"data": reference})
    assert world.client.get(url, headers=admin).json() == before
    reversal = cancelled["setlinfo"]
    assert reversal["medfee_sumamt"] == -setlinfo["medfee_sumamt"]
    assert reversal["fund_pay_sumamt"] == -setlinfo["fund_pay_sumamt"]
    assert reversal["refd_setl_id"] == setlinfo["setl_id"]
    assert sum(row["fund_payamt"] for row in cancelled["setldetail"]) == reversal["fund_pay_sumamt"]
    # 5203 answers the reversal now; a second 2305 answers the same reversal again.
    queried = his.ok("5203", {"data": reference})
    assert queried["setlinfo"]["fund_pay_sumamt"] == reversal["fund_pay_sumamt"]
    assert his.ok("2305", {"data": reference})["setlinfo"] == reversal | {
        "medins_setl_id": his.sent[-1]["msgid"]
    }
    # Settled again after the cancellation: the same figures as the first time.
    again = settle(his, claim, mdtrt_id)["setlinfo"]
    assert again["setl_id"] != setlinfo["setl_id"]
    assert again["fund_pay_sumamt"] == setlinfo["fund_pay_sumamt"]


def test_3201_balances_when_the_hospitals_figures_agree_and_not_when_a_fen_differs(
    world: World,
) -> None:
    his = his_of(world)
    settled = []
    for example in ("e1", "e2"):
        claim = world.claim(example)
        settled.append(settle(his, claim, his.stay(claim))["setlinfo"])
    zone = ZoneInfo(_settings(world).business_timezone)
    today = datetime.now(zone).date()
    total = sum(info["medfee_sumamt"] for info in settled)
    funds = sum(info["fund_pay_sumamt"] for info in settled)
    data = {
        "insutype": "390", "clr_type": "21", "setl_optins": "220000",
        "stmt_begndate": (today - timedelta(days=1)).isoformat(),
        "stmt_enddate": (today + timedelta(days=1)).isoformat(),
        "medfee_sumamt": total, "fund_pay_sumamt": funds, "acct_pay": Decimal("0.00"),
        "fixmedins_setl_cnt": 2,
    }  # fmt: skip
    agreed = his.ok("3201", {"data": data})["stmtinfo"]
    assert (agreed["stmt_rslt"], agreed["stmt_rslt_dscr"]) == ("0", "平")
    assert (agreed["medfee_sumamt"], agreed["fund_pay_sumamt"]) == (total, funds)
    off = his.ok("3201", {"data": {**data, "fund_pay_sumamt": funds + Decimal("0.01")}})
    assert off["stmtinfo"]["stmt_rslt"] == "1"
    assert (
        f"fund_pay_sumamt {funds + Decimal('0.01')} ≠ {funds}" in off["stmtinfo"]["stmt_rslt_dscr"]
    )
    counted = his.ok("3201", {"data": {**data, "fixmedins_setl_cnt": 3}})["stmtinfo"]
    assert counted["stmt_rslt"] == "1"


def test_1101_finds_a_person_by_identity_card_and_name_only(world: World) -> None:
    his = his_of(world)
    admin = world.auth(world.keys.admin)
    number = id_number(
        f"22010219700101{world.tag[:3].translate(str.maketrans('ABCDEF', '123456'))}"
    )
    person_id = f"P{world.tag}ID"
    put = world.client.put(
        f"/v1/persons/{person_id}",
        json={"name": "王五", "id_number": number, "birth_date": "1970-01-01",
              "gender": "male", "insured_region": "220000",
              "statuses": [{"group": "dibao", "valid_from": "2017-01-01", "valid_to": None}]},
        headers=admin,
    )  # fmt: skip
    assert put.status_code == 201, put.text
    query = {"mdtrt_cert_type": "02", "mdtrt_cert_no": number, "psn_name": "王五"}
    output = his.ok("1101", {"data": query})
    assert output["baseinfo"]["psn_no"] == person_id
    assert output["baseinfo"]["certno"] == "*" * 14 + number[-4:]
    assert output["baseinfo"]["gend"] == "1"
    assert output["idetinfo"][0]["psn_idet_type"] == "dibao"
    assert output["insuinfo"] == [
        {"insutype": "390", "psn_type": "dibao", "insuplc_admdvs": "220000",
         "cvlserv_flag": "0", "balc": Decimal("0.00")}
    ]  # fmt: skip
    answer = his.call("1101", {"data": {**query, "psn_name": "王六"}})
    assert answer["infcode"] == -1
    assert number not in answer["err_msg"]
    # The number alone is no query: the name is required, as the platform requires it.
    alone = his.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": number}})
    assert alone["infcode"] == -1
    assert alone["err_msg"].startswith("input.data.psn_name:"), alone["err_msg"]
    assert alone["output"] == {}


# ---------------------------------------------------------------- hospitals see their own only


def test_another_hospital_cannot_reach_a_stay_through_any_route(world: World) -> None:
    his = his_of(world)
    other = his_of(world, level=2)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    setlinfo = settle(his, claim, mdtrt_id)["setlinfo"]
    reference = {"setl_id": setlinfo["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]}
    refused(other, envelope(other.hospital_id, "5203", {"data": reference}), "no settlement")
    refused(other, envelope(other.hospital_id, "2305", {"data": reference}), "no settlement")
    refused(other, envelope(other.hospital_id, "2303", his.settle_data(claim, mdtrt_id)),
            f"no encounter {mdtrt_id} at hospital {other.hospital_id}")  # fmt: skip
    lines = his.fee_lines(claim, mdtrt_id)
    refused(other, envelope(other.hospital_id, "2301", {"feedetail": lines[:1]}), "no encounter")
    # Naming the hospital of the stay with another hospital's key is refused as well.
    refused(other, envelope(his.hospital_id, "5203", {"data": reference}), "fixmedins_code")
    for path in ("", "/fhir", "/statement"):
        url = f"/v1/settlements/{setlinfo['setl_id']}{path}"
        assert world.client.get(url, headers=other.headers).status_code == 403
        assert world.client.get(url, headers=his.headers).status_code == 200


def test_lines_do_not_change_while_a_settlement_reads_them(world: World) -> None:
    """2304 seals the lines it reads; a 2301 sent meanwhile is refused, not left out of the
    settlement silently; a 2304 the engine refuses unseals them at once."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    settings = _settings(world)
    engine = world.client.app.state.onestop.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:  # as 2304 leaves it between reading and settling
        connection.execute(
            update(ENCOUNTER).where(ENCOUNTER.c.mdtrt_id == mdtrt_id)
            .values(sealed_at=datetime.now(UTC))
        )  # fmt: skip
    line = {**his.fee_lines(claim, mdtrt_id)[0], "feedetl_sn": "F0100"}
    refused(his, envelope(his.hospital_id, "2301", {"feedetail": [line]}), "is being settled")
    # A 2304 the engine refuses (no tariff in force on the discharge day) unseals the lines.
    late = {**claim, "discharge_date": "2031-01-10"}
    with engine.begin() as connection:
        connection.execute(
            update(ENCOUNTER).where(ENCOUNTER.c.mdtrt_id == mdtrt_id)
            .values(endtime=datetime(2031, 1, 10, 2, tzinfo=UTC), sealed_at=None)
        )  # fmt: skip
    before = row_counts(settings)
    answer = his.call("2304", his.settle_data(late, mdtrt_id))
    assert answer["infcode"] == -1
    assert "no tariff" in answer["err_msg"]
    assert row_counts(settings) == before
    with engine.begin() as connection:
        sealed = connection.execute(
            select(ENCOUNTER.c.sealed_at).where(ENCOUNTER.c.mdtrt_id == mdtrt_id)
        ).scalar_one()
    assert sealed is None
    his.discharge(claim, mdtrt_id)
    his.ok("2301", {"feedetail": [line]})


def test_hostile_text_and_shapes_are_refused_by_name_never_a_500(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    line = {**his.fee_lines(claim, mdtrt_id)[0], "medins_list_codg": "HIS\x00-1"}
    refused(his, envelope(his.hospital_id, "2301", {"feedetail": [line]}),
            "input.feedetail[0].medins_list_codg")  # fmt: skip
    discharge = {"mdtrt_id": mdtrt_id, "psn_no": claim["person_id"],
                 "endtime": "2018-03-12 10:00:00", "dscg_way": "\x00"}  # fmt: skip
    refused(his, envelope(his.hospital_id, "2402", {"dscginfo": discharge,
            "diseinfo": [{"diag_code": "C34.1"}]}), "input.dscginfo.dscg_way")  # fmt: skip
    refused(his, envelope(his.hospital_id, "2402", {"dscginfo": []}), "input.dscginfo")
    body = envelope(his.hospital_id, "2401", {})
    body["input"] = ["not", "an", "object"]
    refused(his, body, "input:")
    statement = {
        "insutype": "390", "clr_type": "21", "stmt_begndate": "2018-03-31",
        "stmt_enddate": "2018-03-01", "medfee_sumamt": 0, "fund_pay_sumamt": 0,
        "acct_pay": 0, "fixmedins_setl_cnt": 0,
    }  # fmt: skip
    refused(his, envelope(his.hospital_id, "3201", {"data": statement}), "input.data.stmt_enddate")
    refused(his, envelope(his.hospital_id, "3201", {"data": {**statement, "medfee_sumamt": "1e3"}}),
            'input.data.medfee_sumamt: "1e3" is written with an exponent')  # fmt: skip


def test_a_stay_is_admitted_once_whatever_the_msgid(world: World) -> None:
    """A HIS that lost 2401's answer and sends it again under a new msgid is told the
    encounter it has (one encounter per hospital stay number, ipt_no)."""
    his = his_of(world)
    claim = world.claim("e2")
    first = his.ok("2401", admission_data(world, claim, diagnoses=["C34.1"]))["result"]["mdtrt_id"]
    refused(his, envelope(his.hospital_id, "2401", admission_data(world, claim, diagnoses=["C34.1"])),
            f"input.mdtrtinfo.ipt_no: stay ZY0001 is admitted already, as encounter {first}")  # fmt: skip


def test_one_message_changes_one_encounter(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    other = his.admit({**claim, "claim_id": "other"}, ipt_no="ZY-OTHER")
    lines = his.fee_lines(claim, mdtrt_id)
    stray = {**his.fee_lines(claim, other)[1], "feedetl_sn": "F0100"}
    refused(his, envelope(his.hospital_id, "2301", {"feedetail": [lines[0], stray]}),
            f"input.feedetail[1].mdtrt_id: one message changes one encounter ({mdtrt_id})")  # fmt: skip
