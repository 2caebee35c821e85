"""POST /v1/nhsa: behaviours the platform's mutation run found no test pinning
(docs/mutation.md, "The platform's survivors"), on both databases.

- Every refusal a HIS operator reads, word for word, all its problems joined: 2402 (no
  diagnoses, a discharge before the admission or before the day of lines, three lines named
  and the rest counted), 2301's refunds, 2302, 2403, 2405, 2303/2304, 2305/5203 and 1101.
- What a change stores: a discharge's way, operation and diagnoses, each change's
  `updated_at` and audit; 2302 deletes from its own encounter only.
- 2304 without the group-commit writer (`group_commit = false`); a reversal's reason and time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from api.core.nhsa import GROUP_NAMES
from api.core.problems import rejection_problem
from api.db.tables import AUDIT, ENCOUNTER_LINE, SETTLEMENT
from api.routes.settlements import get_writer
from api.services import nhsa
from settlement.model import Group
from settlement.rejection import Problem, ProblemCode, Rejection
from tests.api.routes.test_nhsa import cross_region_his, his_of, refused
from tests.api.routes.test_nhsa_corrections import (
    _engine,
    admission,
    discharge,
    encounter_row,
    line,
    ref,
)
from tests.support.nhsa import His, envelope
from tests.support.world import World, id_number


def audited(world: World, action: str) -> list[str]:
    """The subjects audited under `action`, every test's of the session."""
    with _engine(world).connect() as connection:
        rows = connection.execute(select(AUDIT.c.subject).where(AUDIT.c.action == action))
        return list(rows.scalars())


def lines_of(world: World, mdtrt_id: str) -> int:
    with _engine(world).connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(ENCOUNTER_LINE.c.mdtrt_id == mdtrt_id)
            ).scalar_one()
        )


def admitted(his: His, world: World, claim: dict[str, Any], ipt_no: str = "ZY-S-0001") -> str:
    return str(his.ok("2401", admission(world, claim, ipt_no=ipt_no))["result"]["mdtrt_id"])


def err_msg(his: His, infno: str, data: dict[str, Any]) -> str:
    """The whole err_msg of `his`'s message `infno` refused (nothing written, as `refused`
    checks)."""
    return refused(his, envelope(his.hospital_id, infno, data))


# ---------------------------------------------------------------- 2402 discharge


def test_a_discharge_without_diagnoses_before_its_admission_is_refused_in_these_words(
    world: World,
) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = admitted(his, world, claim)
    body = discharge(claim, mdtrt_id, "2018-03-01 07:59:59")
    body["dscginfo"]["dise_codg"] = ""
    body["diseinfo"] = []
    assert err_msg(his, "2402", body) == (
        "input.diseinfo: a discharge names its diagnoses (or dscginfo.dise_codg); "
        "input.dscginfo.endtime: 2018-03-01 07:59:59 is before the admission 2018-03-01 08:00:00"
    )


def test_a_discharge_at_the_admissions_moment_stores_its_way_diagnoses_and_audit(
    world: World,
) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = admitted(his, world, claim)
    admitted_row = encounter_row(world, mdtrt_id)
    body = discharge(claim, mdtrt_id, "2018-03-01 08:00:00")
    body["diseinfo"] = [{"diag_code": "J18.9", "maindiag_flag": "1"}, {"diag_code": "C34.1"}]
    his.ok("2402", body)
    row = encounter_row(world, mdtrt_id)
    assert (row.dscg_way, row.oprn_oprt_code, row.diagnoses) == (
        "1",
        "32.2901",
        '["J18.9","C34.1"]',
    )
    assert row.updated_at > admitted_row.updated_at
    assert mdtrt_id in audited(world, "nhsa 2402")


# ---------------------------------------------------------------- the lines a change names


def uploaded_late(his: His, world: World, claim: dict[str, Any], count: int) -> str:
    """An admission of 2018-03-01 08:00 with `count` bed days charged from 03-05 09:00 on, a
    day apart, uploaded latest first under feedetl_sn descending with time: neither upload
    order nor feedetl_sn order is the order of their times."""
    mdtrt_id = admitted(his, world, claim)
    rows = [
        line(claim, mdtrt_id, f"F{9 - day:04d}", f"2018-03-{5 + day:02d} 09:00:00")
        for day in reversed(range(count))
    ]
    his.ok("2301", {"feedetail": rows})
    return mdtrt_id


def test_a_discharge_before_three_lines_names_them_earliest_first_and_no_more(
    world: World,
) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = uploaded_late(his, world, claim, 3)
    early = discharge(claim, mdtrt_id, "2018-03-04 10:00:00")
    assert err_msg(his, "2402", early) == (
        "input.dscginfo.endtime: 2018-03-04 10:00:00 is before the day of lines "
        "F0009 (2018-03-05 09:00:00), F0008 (2018-03-06 09:00:00), F0007 (2018-03-07 09:00:00): "
        "cancel them (2302) or discharge later"
    )


def test_a_discharge_before_four_lines_names_three_and_counts_the_rest(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = uploaded_late(his, world, claim, 4)
    early = discharge(claim, mdtrt_id, "2018-03-04 10:00:00")
    assert err_msg(his, "2402", early) == (
        "input.dscginfo.endtime: 2018-03-04 10:00:00 is before the day of lines "
        "F0009 (2018-03-05 09:00:00), F0008 (2018-03-06 09:00:00), F0007 (2018-03-07 09:00:00) "
        "and 1 more: cancel them (2302) or discharge later"
    )


def test_an_admission_moved_to_the_day_of_its_first_line_is_taken(world: World) -> None:
    """A line of the admission's own calendar day is the stay's, even charged an hour before
    the new admission time."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = uploaded_late(his, world, claim, 1)
    his.ok("2403", {"adminfo": {**ref(claim, mdtrt_id)["data"], "begntime": "2018-03-05 10:00:00"}})
    assert f"{mdtrt_id}: begntime changed" in audited(world, "nhsa 2403")


# ---------------------------------------------------------------- 2302 cancel lines


def cancelling(claim: dict[str, Any], mdtrt_id: str, *sns: str) -> dict[str, Any]:
    return {
        "data": [
            {"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]} for sn in sns
        ]
    }


def test_2302_refusals_read_in_these_words(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = admitted(his, world, claim)
    other = admitted(his, world, claim, ipt_no="ZY-S-0002")
    charged = line(claim, mdtrt_id, "F0001", "2018-03-01 09:00:00", cnt=Decimal("2"),
                   det_item_fee_sumamt=Decimal("90.00"))  # fmt: skip
    refund = {**charged, "feedetl_sn": "R0001", "cnt": Decimal("-1"),
              "det_item_fee_sumamt": Decimal("-45.00"), "init_feedetl_sn": "F0001"}  # fmt: skip
    his.ok("2301", {"feedetail": [charged, refund]})
    two = cancelling(claim, mdtrt_id, "F0001")
    two["data"].append({**two["data"][0], "mdtrt_id": other})
    assert err_msg(his, "2302", two) == (
        f"input.data[1].mdtrt_id: one message changes one encounter ({mdtrt_id})"
    )
    unknown = cancelling(claim, mdtrt_id, "F0001", "F0404")
    assert err_msg(his, "2302", unknown) == (
        f"input.data[1].feedetl_sn: F0404 is no line of encounter {mdtrt_id}; "
        "feedetl_sn F0001: its refund R0001 stands; cancel the refund with it"
    )
    # Cancelled with its refund, the line goes (no rounding of it is left to check).
    his.ok("2302", cancelling(claim, mdtrt_id, "F0001", "R0001"))
    assert lines_of(world, mdtrt_id) == 0


def test_2302_cancels_the_line_of_its_own_encounter_only_and_audits_the_count(
    world: World,
) -> None:
    """Two stays of one hospital may both have a line F0001 (the HIS numbers lines per stay)."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = admitted(his, world, claim)
    other = admitted(his, world, claim, ipt_no="ZY-S-0002")
    for stay in (mdtrt_id, other):
        his.ok("2301", {"feedetail": [line(claim, stay, "F0001", "2018-03-01 09:00:00")]})
    his.ok("2302", cancelling(claim, mdtrt_id, "F0001"))
    assert (lines_of(world, mdtrt_id), lines_of(world, other)) == (0, 1)
    assert f"{mdtrt_id}: 1 lines cancelled" in audited(world, "nhsa 2302")


# ---------------------------------------------------------------- 2304 and 2305


def test_a_2304_without_the_group_commit_writer_settles_as_2303_previews_it(
    world: World,
) -> None:
    """`group_commit = false`: the 2304 settles on the request's own path (`settle_claim`)."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    previewed = his.ok("2303", his.settle_data(claim, mdtrt_id))["setlinfo"]
    overrides = world.client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[get_writer] = lambda: None
    try:
        settled = his.ok("2304", his.settle_data(claim, mdtrt_id))["setlinfo"]
    finally:
        del overrides[get_writer]
    for name in ("medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay", "hifp_pay"):
        assert settled[name] == previewed[name], name
    with _engine(world).connect() as connection:
        status = connection.execute(
            select(SETTLEMENT.c.status).where(SETTLEMENT.c.settlement_id == settled["setl_id"])
        ).scalar_one()
    assert status == "settled"


def test_a_2305_records_its_msgid_as_the_reversals_reason(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    setl_id = his.ok("2304", his.settle_data(claim, mdtrt_id))["setlinfo"]["setl_id"]
    body = envelope(his.hospital_id, "2305", {"data": {**ref(claim, mdtrt_id)["data"],
                                                       "setl_id": setl_id}})  # fmt: skip
    his.ok("2305", body["input"], msgid=body["msgid"])
    with _engine(world).connect() as connection:
        reason = connection.execute(
            select(SETTLEMENT.c.reversal_reason).where(SETTLEMENT.c.settlement_id == setl_id)
        ).scalar_one()
    assert reason == f"2305 msgid {body['msgid']}"


# ---------------------------------------------------------------- 1101


def test_1101_answers_a_person_of_no_group_today_with_an_empty_psn_type_and_refuses_a_wrong_name(
    world: World,
) -> None:
    his = his_of(world)
    number = id_number(
        f"22010219700101{world.tag[:3].translate(str.maketrans('ABCDEF', '123456'))}"
    )
    put = world.client.put(
        f"/v1/persons/P{world.tag}NOGROUP",
        json={"name": "赵六", "id_number": number, "birth_date": "1970-01-01",
              "gender": "male", "insured_region": "220000",
              "statuses": [{"group": "dibao", "valid_from": "2017-01-01",
                            "valid_to": "2017-12-31"}]},
        headers=world.auth(world.keys.admin),
    )  # fmt: skip
    assert put.status_code == 201, put.text
    query = {"mdtrt_cert_type": "02", "mdtrt_cert_no": number, "psn_name": "赵六"}
    output = his.ok("1101", {"data": query})
    assert [info["psn_type"] for info in output["insuinfo"]] == [""]
    assert output["baseinfo"]["psn_cert_type"] == "01"
    assert output["idetinfo"] == [
        {"psn_idet_type": "dibao", "psn_idet_type_name": GROUP_NAMES[Group.DIBAO],
         "begntime": "2017-01-01 00:00:00", "endtime": "2017-12-31 23:59:59"}
    ]  # fmt: skip
    assert err_msg(his, "1101", {"data": {**query, "psn_name": "赵七"}}) == (
        "input.data.mdtrt_cert_no: no registered person has this identity number and name"
    )


# ---------------------------------------------------------------- refusals, word for word


def test_2301_refusals_of_refunds_and_lines_read_in_these_words(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = admitted(his, world, claim)
    charged = line(claim, mdtrt_id, "F0001", "2018-03-01 09:00:00", cnt=Decimal("2"),
                   det_item_fee_sumamt=Decimal("90.00"))  # fmt: skip
    his.ok("2301", {"feedetail": [charged]})
    refund = {**charged, "feedetl_sn": "R0001", "cnt": Decimal("-1"),
              "det_item_fee_sumamt": Decimal("-45.00"), "init_feedetl_sn": "F0001"}  # fmt: skip
    rows = [
        {**refund, "init_feedetl_sn": "F0404"},
        {**refund, "feedetl_sn": "R0002", "pric": Decimal("44.00"),
         "det_item_fee_sumamt": Decimal("-44.00")},
        {**refund, "feedetl_sn": "R0003", "cnt": Decimal("-3"),
         "det_item_fee_sumamt": Decimal("-135.00")},
        {**refund, "feedetl_sn": "R0004", "cnt": Decimal("-1"),
         "det_item_fee_sumamt": Decimal("-45.01")},
        {**charged, "feedetl_sn": "F0002", "init_feedetl_sn": "F0001"},
        {**charged, "feedetl_sn": "F0003", "fee_ocur_time": "2018-02-28 23:59:59"},
        {**refund, "feedetl_sn": "R0005", "init_feedetl_sn": ""},
    ]  # fmt: skip
    assert err_msg(his, "2301", {"feedetail": rows}) == "; ".join(
        [
            "input.feedetail[0].init_feedetl_sn: a refund names the charged line it refunds; "
            "F0404 is no charged line of this encounter",
            "input.feedetail[1]: a refund is of line F0001's item S0001 at its price 45.00",
            "input.feedetail[1].det_item_fee_sumamt: line F0001 would bill 46.00 for "
            "1 × 45.00, not round(cnt × pric)",
            "input.feedetail[2].cnt: refunds more than line F0001 has left (2)",
            "input.feedetail[3].det_item_fee_sumamt: -45.01 is not cnt × pric = -1 × 45.00 = "
            "-45.00",
            "input.feedetail[3].det_item_fee_sumamt: line F0001 would bill 44.99 for "
            "1 × 45.00, not round(cnt × pric)",
            "input.feedetail[4].init_feedetl_sn: only a refund (negative cnt) names one",
            "input.feedetail[5].fee_ocur_time: 2018-02-28 23:59:59 is before the day of "
            "admission 2018-03-01",
            "input.feedetail[6].init_feedetl_sn: a refund names the charged line it refunds; "
            "(none) is no charged line of this encounter",
        ]
    )


def test_2403_refusals_read_in_these_words_and_a_taken_change_is_stamped(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = uploaded_late(his, world, claim, 1)
    his.ok("2402", discharge(claim, mdtrt_id, "2018-03-12 10:00:00"))
    change = {
        "adminfo": {**ref(claim, mdtrt_id)["data"], "begntime": "2018-03-13 08:00:00",
                    "filing": "emergency"},
        "diseinfo": [{"diag_code": "C34.1", "maindiag_flag": "1"}],
    }  # fmt: skip
    assert err_msg(his, "2403", change) == "; ".join(
        [
            "input.adminfo.begntime: 2018-03-13 08:00:00 is after the discharge "
            "2018-03-12 10:00:00",
            "input.adminfo.begntime: 2018-03-13 08:00:00 is after the day of lines "
            "F0009 (2018-03-05 09:00:00): cancel them (2302) or admit earlier",
            f"input.adminfo.filing: encounter {mdtrt_id} is an in-region stay: it has no filing",
            f"input.diseinfo: encounter {mdtrt_id} is discharged: its diagnoses are the "
            "discharge's (send 2402 again, or cancel the discharge with 2405 first)",
        ]
    )
    before = encounter_row(world, mdtrt_id)
    his.ok("2403", {"adminfo": {**ref(claim, mdtrt_id)["data"], "adm_diag_dscr": "肺癌"}})
    after = encounter_row(world, mdtrt_id)
    assert (after.adm_diag_dscr, after.begntime) == ("肺癌", before.begntime)
    assert after.updated_at > before.updated_at


def test_2405_reopens_a_stay_stamped_and_audited_and_refuses_an_open_one_in_these_words(
    world: World,
) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    before = encounter_row(world, mdtrt_id)
    his.ok("2405", ref(claim, mdtrt_id))
    after = encounter_row(world, mdtrt_id)
    assert (after.endtime, after.dscg_way, after.oprn_oprt_code) == (None, None, None)
    assert after.updated_at > before.updated_at
    assert mdtrt_id in audited(world, "nhsa 2405")
    assert err_msg(his, "2405", ref(claim, mdtrt_id)) == (
        f"mdtrt_id: encounter {mdtrt_id} is not discharged: no discharge to cancel"
    )


def test_settling_refusals_read_in_these_words(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    his.ok("2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    total = sum(Decimal(item["amount"]) for item in claim["items"])
    for infno in ("2303", "2304"):
        assert err_msg(his, infno, his.settle_data(claim, mdtrt_id)) == (
            f"mdtrt_id: encounter {mdtrt_id} is not discharged: send 2402 before {infno}"
        )
    his.discharge(claim, mdtrt_id)
    wrong = his.settle_data(claim, mdtrt_id, medfee_sumamt=Decimal("1.00"))
    for infno in ("2303", "2304"):
        assert err_msg(his, infno, wrong) == (
            f"input.data.medfee_sumamt: 1.00 is not the encounter's lines' total {total:.2f}"
        )
    setl_id = his.ok("2304", his.settle_data(claim, mdtrt_id))["setlinfo"]["setl_id"]
    stranger = {"data": {"setl_id": setl_id, "mdtrt_id": "MD-NOT-IT", "psn_no": "P-NOT-IT"}}
    for infno in ("2305", "5203"):
        assert err_msg(his, infno, stranger) == (
            f"mdtrt_id: settlement {setl_id} is not of encounter MD-NOT-IT; "
            f"psn_no: settlement {setl_id} is not person P-NOT-IT's"
        )


def test_a_reversals_answers_carry_the_reversals_time_not_the_settlements(world: World) -> None:
    """2305 and a later 5203 of the reversed settlement answer `setl_time` as the time of the
    reversal; a 5203 before it, the settlement's (moved here to a day long past, so the two
    cannot fall in one second)."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    setl_id = his.ok("2304", his.settle_data(claim, mdtrt_id))["setlinfo"]["setl_id"]
    row = SETTLEMENT.c.settlement_id == setl_id
    engine = _engine(world)
    with engine.begin() as connection:
        settled_at = connection.execute(select(SETTLEMENT.c.settled_at).where(row)).scalar_one()
        connection.execute(
            update(SETTLEMENT).where(row).values(settled_at=datetime(2018, 3, 12, 2, 0, tzinfo=UTC))
        )
    try:
        named = {"data": {**ref(claim, mdtrt_id)["data"], "setl_id": setl_id}}
        assert his.ok("5203", named)["setlinfo"]["setl_time"] == "2018-03-12 10:00:00"
        reversed_time = his.ok("2305", named)["setlinfo"]["setl_time"]
        assert not reversed_time.startswith("2018-")
        assert his.ok("5203", named)["setlinfo"]["setl_time"] == reversed_time
    finally:
        # Put the time back: the hourly totals the service kept are by the true hour, and the
        # ledger's test of the shared database proves them against the settlements.
        with engine.begin() as connection:
            connection.execute(update(SETTLEMENT).where(row).values(settled_at=settled_at))


def test_cancelling_two_refunds_of_one_line_names_the_line_once(world: World) -> None:
    """3 × 1.335 = 4.01, refunded 1 (-1.34), 0.5 (-0.67) and 1.5 (-2.00), each leaving the
    line rounded as sent. Cancelling the first two leaves 1.5 × 1.335 billing 2.01, not 2.00:
    one problem, named by the first refund cancelled, not once per refund of the line."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = admitted(his, world, claim)
    drug = {"med_list_codg": "A0002", "medins_list_codg": "HIS-A0002", "pric": Decimal("1.335")}
    charged = line(claim, mdtrt_id, "F0001", "2018-03-01 09:00:00", **drug,
                   cnt=Decimal("3"), det_item_fee_sumamt=Decimal("4.01"))  # fmt: skip
    bed = line(claim, mdtrt_id, "F0002", "2018-03-01 09:00:00")
    his.ok("2301", {"feedetail": [charged, bed]})
    for sn, cnt, amount in (("R0001", "-1", "-1.34"), ("R0002", "-0.5", "-0.67"),
                            ("R0003", "-1.5", "-2.00")):  # fmt: skip
        refund = {**charged, "feedetl_sn": sn, "cnt": Decimal(cnt),
                  "det_item_fee_sumamt": Decimal(amount), "init_feedetl_sn": "F0001"}  # fmt: skip
        his.ok("2301", {"feedetail": [refund]})
    body = cancelling(claim, mdtrt_id, "R0001", "R0002")
    assert err_msg(his, "2302", body) == (
        "input.data[0].feedetl_sn: cancelling refund R0001 would leave line F0001 billing 2.01 "
        "for 1.5 × 1.335, not round(cnt × pric) = 2.00; cancel its other refunds with it"
    )


def test_2403_of_nothing_is_refused_in_these_words_and_its_changes_are_audited_by_name(
    world: World,
) -> None:
    his = cross_region_his(world)
    claim = world.claim("x1", hospital_id=his.hospital_id)
    mdtrt_id = admitted(his, world, claim)
    nothing = {"adminfo": ref(claim, mdtrt_id)["data"], "diseinfo": []}
    assert err_msg(his, "2403", nothing) == (
        "input.adminfo: 2403 changes begntime, adm_diag_dscr, filing or diseinfo"
    )
    his.ok("2403", {"adminfo": {**ref(claim, mdtrt_id)["data"], "filing": "emergency"},
                    "diseinfo": [{"diag_code": "J18.9", "maindiag_flag": "1"}]})  # fmt: skip
    assert f"{mdtrt_id}: filing, diseinfo changed" in audited(world, "nhsa 2403")


def test_an_admission_moved_to_the_discharges_own_moment_is_taken(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = admitted(his, world, claim)
    his.ok("2402", discharge(claim, mdtrt_id, "2018-03-12 10:00:00"))
    moved = {**ref(claim, mdtrt_id)["data"], "begntime": "2018-03-12 10:00:00"}
    his.ok("2403", {"adminfo": moved})
    assert f"{mdtrt_id}: begntime changed" in audited(world, "nhsa 2403")


def test_a_stay_of_0_00_is_refused_in_these_words(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = admitted(his, world, claim)
    free = line(claim, mdtrt_id, "F0001", "2018-03-01 09:00:00", pric=Decimal("0.00"),
                det_item_fee_sumamt=Decimal("0.00"))  # fmt: skip
    his.ok("2301", {"feedetail": [free]})
    his.ok("2402", discharge(claim, mdtrt_id, "2018-03-12 10:00:00"))
    nothing = his.settle_data(claim, mdtrt_id, medfee_sumamt=Decimal("0.00"))
    assert err_msg(his, "2303", nothing) == (
        f"input.data.medfee_sumamt: encounter {mdtrt_id}'s lines total 0.00: a stay that bills "
        "nothing is not settled; cancel the admission (2404) instead"
    )


# ---------------------------------------------------------------- the engine's refusals, placed

# The interface checks a stay's lines itself before the engine sees them, so the engine has no
# line to refuse at 2303 or 2304 with the shipped tariffs (a code a later tariff dropped from
# its catalog would be one). Should it refuse one, the HIS must be told which of its lines, by
# feedetl_sn: the engine's refusal is put in its place here, as it would come back.
ENGINE_REFUSAL = Rejection(
    (
        Problem(ProblemCode.UNKNOWN_ITEM_CODE, ("items", 1, "item_code"), "not in the catalog"),
        Problem(ProblemCode.OUT_OF_RANGE, ("items", 0, "a", "b"), "deep"),
        Problem(ProblemCode.TOO_MANY_LINES, ("items", 0), "a line whole"),
        Problem(ProblemCode.OUT_OF_RANGE, ("items", 3), "no such line"),
        Problem(ProblemCode.NO_LINES, ("items",), "no index"),
        Problem(ProblemCode.NO_TARIFF, ("discharge_date",), "no tariff"),
    )
)
ENGINE_REFUSAL_TEXT = "; ".join(
    [
        "feedetl_sn F0002.item_code: not in the catalog",
        "feedetl_sn F0001.a.b: deep",
        "feedetl_sn F0001: a line whole",
        "items.3: no such line",
        "items: no index",
        "discharge_date: no tariff",
    ]
)


def three_lines(his: His, world: World) -> tuple[dict[str, Any], str]:
    """A discharged stay of three lines (F0001…F0003): the claim and its mdtrt_id."""
    claim = world.claim("e2")
    claim["items"] = claim["items"][:3]
    return claim, his.stay(claim)


def test_an_engine_refusal_at_2303_names_each_line_by_its_feedetl_sn(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    his = his_of(world)
    claim, mdtrt_id = three_lines(his, world)
    monkeypatch.setattr(nhsa, "preview_settlement", lambda *_: (ENGINE_REFUSAL, None))
    assert err_msg(his, "2303", his.settle_data(claim, mdtrt_id)) == ENGINE_REFUSAL_TEXT


def test_an_engine_refusal_at_2304_names_each_line_by_its_feedetl_sn(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the request's own path (without the group-commit writer): the service's 422, its
    problems placed in the body, said the platform's way."""
    his = his_of(world)
    claim, mdtrt_id = three_lines(his, world)

    def refuse(*_: Any) -> Any:
        raise rejection_problem(ENGINE_REFUSAL)

    monkeypatch.setattr(nhsa, "settle_claim", refuse)
    overrides = world.client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[get_writer] = lambda: None
    try:
        assert err_msg(his, "2304", his.settle_data(claim, mdtrt_id)) == ENGINE_REFUSAL_TEXT
    finally:
        del overrides[get_writer]
