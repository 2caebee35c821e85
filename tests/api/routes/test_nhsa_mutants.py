"""POST /v1/nhsa: behaviours no test pinned, found by putting plausible bugs into the code one at
a time (issue 19 §7), on both databases. Each test below fails with its bug put back:

- the msgid body hash without `infno`: a 2404 under a 2405's msgid, with the same `input`,
  answered the 2405's answer instead of being refused;
- 3201 against the period's settled figures instead of its net ones (no test reversed a
  settlement inside the period);
- the main diagnosis (`maindiag_flag` "1") not taken as the claim's primary when the HIS lists
  it after another diagnosis (every other test sends it first).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from api.core import nhsa as platform
from api.core.config import Settings
from settlement.engine import settle
from settlement.model import Accumulators, Group
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.support.db import row_counts
from tests.support.nhsa import His, envelope, exact
from tests.support.world import World
from tests.worked_examples import example_claim
from tests.worked_examples import person as engine_person


def his_of(world: World) -> His:
    return His(world, world.hospitals[3], world.hospital_headers(3))


def settings_of(world: World) -> Settings:
    settings: Settings = world.client.app.state.onestop.settings  # type: ignore[attr-defined]
    return settings


def settled(his: His, claim: dict[str, Any], mdtrt_id: str) -> dict[str, Any]:
    """2304 of a discharged stay: its setlinfo."""
    return dict(his.ok("2304", his.settle_data(claim, mdtrt_id))["setlinfo"])


def reference(setlinfo: dict[str, Any], mdtrt_id: str, psn_no: str) -> dict[str, Any]:
    return {"data": {"setl_id": setlinfo["setl_id"], "mdtrt_id": mdtrt_id, "psn_no": psn_no}}


# ---------------------------------------------------------------- msgid: the transaction counts


def test_a_2404_under_a_2405s_msgid_with_the_same_input_is_refused_and_cancels_nothing(
    world: World,
) -> None:
    """2405 (cancel a discharge) and 2404 (cancel an admission) read the same `input`, the
    encounter's `mdtrt_id` and `psn_no`: only `infno` tells them apart. A HIS that reuses the
    2405's msgid for the 2404 must be refused as sending another message, not answered the
    2405's answer (which it would take for the admission's cancellation, the stay still open)."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    data = {"data": {"mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]}}
    reopening = envelope(his.hospital_id, "2405", data)
    reopened = his.post(reopening)
    assert exact(reopened)["infcode"] == 0, exact(reopened)["err_msg"]
    cancelling = envelope(his.hospital_id, "2404", data, msgid=reopening["msgid"])
    settings = settings_of(world)
    before = row_counts(settings)
    response = his.post(cancelling)
    assert response.status_code == 200, response.text
    answer = exact(response)
    assert answer["infcode"] == -1, answer
    assert answer["output"] == {}
    assert (
        f"msgid: {reopening['msgid']} was already used for another message (infno 2405)"
        in answer["err_msg"]
    )
    assert row_counts(settings) == before
    # The 2405 again under its msgid answers its first answer; the 2404 under a msgid of its
    # own cancels the admission.
    assert his.post(reopening).content == reopened.content
    his.ok("2404", data)
    assert row_counts(settings)["encounter"] == before["encounter"] - 1


# ---------------------------------------------------------------- 3201: net of reversals


def statement(infos: list[dict[str, Any]], count: int, zone: ZoneInfo) -> dict[str, Any]:
    """3201's data for a period of yesterday to tomorrow stating `infos`' sums and `count`."""
    today = datetime.now(zone).date()
    return {
        "data": {
            "insutype": "390", "clr_type": "21", "setl_optins": "220000",
            "stmt_begndate": (today - timedelta(days=1)).isoformat(),
            "stmt_enddate": (today + timedelta(days=1)).isoformat(),
            "medfee_sumamt": sum((info["medfee_sumamt"] for info in infos), Decimal("0.00")),
            "fund_pay_sumamt": sum((info["fund_pay_sumamt"] for info in infos), Decimal("0.00")),
            "acct_pay": Decimal("0.00"),
            "fixmedins_setl_cnt": count,
        }
    }  # fmt: skip


def test_3201_balances_against_the_net_of_a_settlement_reversed_inside_the_period(
    world: World,
) -> None:
    """Two stays settled and one of them cancelled (2305) in the same period: the hospital's
    net figures (one settlement, the other's amounts) balance; the settled figures (two
    settlements, both amounts), which differ from the net ones, do not."""
    his = his_of(world)
    zone = ZoneInfo(settings_of(world).business_timezone)
    kept_claim, cancelled_claim = world.claim("e2"), world.claim("e1", person="none")
    kept = settled(his, kept_claim, his.stay(kept_claim))
    cancelled_id = his.stay(cancelled_claim)
    cancelled = settled(his, cancelled_claim, cancelled_id)
    his.ok("2305", reference(cancelled, cancelled_id, cancelled_claim["person_id"]))
    assert cancelled["medfee_sumamt"] != 0
    assert cancelled["fund_pay_sumamt"] != 0

    net = his.ok("3201", statement([kept], 1, zone))["stmtinfo"]
    assert (net["stmt_rslt"], net["stmt_rslt_dscr"]) == ("0", "平")
    assert (net["medfee_sumamt"], net["fund_pay_sumamt"], net["fixmedins_setl_cnt"]) == (
        kept["medfee_sumamt"], kept["fund_pay_sumamt"], 1,
    )  # fmt: skip

    gross = his.ok("3201", statement([kept, cancelled], 2, zone))["stmtinfo"]
    assert gross["stmt_rslt"] == "1"
    total = kept["medfee_sumamt"] + cancelled["medfee_sumamt"]
    funds = kept["fund_pay_sumamt"] + cancelled["fund_pay_sumamt"]
    assert gross["stmt_rslt_dscr"] == (
        f"不平：medfee_sumamt {total} ≠ {kept['medfee_sumamt']}；"
        f"fund_pay_sumamt {funds} ≠ {kept['fund_pay_sumamt']}；fixmedins_setl_cnt 2 ≠ 1"
    )


# ---------------------------------------------------------------- the main diagnosis


def discharge_naming(his: His, claim: dict[str, Any], mdtrt_id: str, diseinfo: list[Any]) -> None:
    his.ok(
        "2402",
        {
            "dscginfo": {
                "mdtrt_id": mdtrt_id, "psn_no": claim["person_id"],
                "endtime": f"{claim['discharge_date']} 10:00:00", "dise_codg": "I10",
                "oprn_oprt_code": "32.2901", "dscg_way": "1",
            },
            "diseinfo": diseinfo,
        },
    )  # fmt: skip


def preview(his: His, claim: dict[str, Any], diagnoses: list[str]) -> dict[str, Any]:
    response = his.world.client.post(
        "/v1/settlements/preview", json={**claim, "diagnoses": diagnoses}, headers=his.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_main_diagnosis_is_the_claims_primary_wherever_the_his_lists_it(world: World) -> None:
    """E2 (dibao, lung cancer operated on: charity pays the rest in scope), discharged with
    hypertension listed first (`diag_srt_no` 1) and C34.1 second, flagged the main diagnosis:
    the claim's primary is C34.1, so charity pays, as for the claim naming C34.1 first. Were
    the order sent taken instead, I10 would be primary and charity would pay nothing."""
    his = his_of(world)
    claim = world.claim("e2")
    as_sent = preview(his, claim, ["C34.1", "I10"])
    hypertension_first = preview(his, claim, ["I10", "C34.1"])
    assert as_sent["charity_disease"] is not None
    assert hypertension_first["charity_disease"] is None
    assert as_sent["totals"]["fund_total"] != hypertension_first["totals"]["fund_total"]

    mdtrt_id = his.admit(claim)
    his.ok("2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    diseinfo = [
        {"diag_type": "1", "maindiag_flag": "0", "diag_srt_no": 1, "diag_code": "I10",
         "diag_name": "高血压"},
        {"diag_type": "1", "maindiag_flag": "1", "diag_srt_no": 2, "diag_code": "C34.1",
         "diag_name": "肺癌"},
    ]  # fmt: skip
    discharge_naming(his, claim, mdtrt_id, diseinfo)
    presettled = his.ok("2303", his.settle_data(claim, mdtrt_id))["setlinfo"]
    setlinfo = settled(his, claim, mdtrt_id)
    stored = world.client.get(f"/v1/settlements/{setlinfo['setl_id']}", headers=his.headers)
    assert stored.json()["charity_disease"] == as_sent["charity_disease"]
    for info in (presettled, setlinfo):
        assert info["fund_pay_sumamt"] == Decimal(as_sent["totals"]["fund_total"])
        assert info["psn_cash_pay"] == Decimal(as_sent["totals"]["patient_pay"])


# ---------------------------------------------------------------- what setlinfo and setldetail say


def test_a_stay_with_refused_self_pay_answers_it_inside_the_full_self_pay(world: World) -> None:
    """R1 (a man billed a cervical test, a geriatric assessment at 59, too many bed days and
    staplers): 3330.00 refused by the rule checks is the patient's, reported with full self-pay
    (`fulamt_ownpay_amt`); the envelope's fixed codes and the basic rate are as INTEROP.md
    says, and each fund's `setl_proc_info` is its Chinese explanation, steps joined by "；"."""
    his = his_of(world)
    claim = world.claim("r1", person="male")
    setlinfo = settled(his, claim, his.stay(claim))
    stored = world.client.get(f"/v1/settlements/{setlinfo['setl_id']}", headers=his.headers)
    bill = stored.json()
    totals = {name: Decimal(value) for name, value in bill["totals"].items()}
    assert totals["refused_selfpay"] == Decimal("3330.00")
    assert setlinfo["fulamt_ownpay_amt"] == totals["full_selfpay"] + totals["refused_selfpay"]
    assert (setlinfo["psn_cert_type"], setlinfo["cvlserv_flag"]) == ("01", "0")
    assert setlinfo["pool_prop_selfpay"] == Decimal("0.6000")  # level 3, no group
    answer = his.ok("5203", reference(setlinfo, setlinfo["mdtrt_id"], claim["person_id"]))
    (basic,) = [row for row in answer["setldetail"] if row["fund_pay_type"] == "390100"]
    (step,) = [fund for fund in bill["funds"] if fund["fund_code"] == "390100"]
    steps = basic["setl_proc_info"].split("；")
    assert len(steps) == len(step["explanation"])
    assert steps[0] == "3级医院：起付线 900.00，报销比例 0.60"


def test_a_basic_step_without_its_rate_answers_pool_prop_selfpay_as_0(book: TariffBook) -> None:
    """A settlement stored before migration 0007 has no basic-insurance rate (None), and a
    cross-region reduction larger than the rate leaves 0: either way 0.0000, never 0.0001."""
    person = SimpleNamespace(
        birth_date=date(1960, 5, 1), name="张三", id_number="220102196005011234", gender="male"
    )
    dibao = engine_person(Group.DIBAO, valid_from=date(2017, 1, 1))
    e2 = settle(example_claim(), dibao, 3, Accumulators(year=2018), book)
    assert isinstance(e2, Settlement)
    for missing in (None, 0):
        basic = dataclasses.replace(e2.funds[0], rate_ppm=missing)
        info = platform.setlinfo(
            dataclasses.replace(e2, funds=(basic, *e2.funds[1:])),
            person,
            setl_id=None,
            setl_time=datetime(2018, 3, 12, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
            msgid="M1",
        )
        assert orjson.dumps(info["pool_prop_selfpay"]) == b"0.0000"
