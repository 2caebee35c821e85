"""POST /v1/nhsa, issue 19 sections 4 and 5: person data behind a credential, bad input refused
where it is sent, and the platform's corrections (2403, 2404, 2405), on both databases.

A psn_no alone opens no stay and tells nothing; fee lines are of the stay's days; diagnoses
are checked at admission by the engine's rule; an admission can be corrected (2403) or
cancelled (2404) and a discharge cancelled (2405), each idempotent by msgid, isolated by
hospital and refused for a settled or sealed encounter; 2302 leaves no line off round(cnt ×
pric); a stay of 0.00 is not settled; 3201 compares one clearing institution's net figures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from api.core.config import Settings
from api.db.tables import AUDIT, ENCOUNTER
from tests.api.routes.test_nhsa import cross_region_his, his_of, refused, settle
from tests.support.db import row_counts
from tests.support.nhsa import admission_data, envelope, exact
from tests.support.world import World, id_number

UNKNOWN = "input.mdtrtinfo.mdtrt_cert_no: no registered person has this psn_no and credential"


def _settings(world: World) -> Settings:
    settings: Settings = world.client.app.state.onestop.settings  # type: ignore[attr-defined]
    return settings


def _engine(world: World) -> Any:
    return world.client.app.state.onestop.engine  # type: ignore[attr-defined]


def admission(
    world: World, claim: dict[str, Any], *, ipt_no: str = "ZY-C-0001", **mdtrtinfo: Any
) -> dict[str, Any]:
    """The stays here are admitted for lung cancer alone (C34.1)."""
    return admission_data(world, claim, ipt_no=ipt_no, diagnoses=["C34.1"], **mdtrtinfo)


def ref(claim: dict[str, Any], mdtrt_id: str) -> dict[str, Any]:
    return {"data": {"mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]}}


def line(claim: dict[str, Any], mdtrt_id: str, sn: str, when: str, **changes: Any) -> Any:
    """A 2301 line of e2's bed days (S0001, 45.00 a day), one day, charged `when`."""
    return {
        "feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": claim["person_id"], "med_type": "21",
        "fee_ocur_time": when, "med_list_codg": "S0001", "medins_list_codg": "HIS-S0001",
        "det_item_fee_sumamt": Decimal("45.00"), "cnt": Decimal("1"), "pric": Decimal("45.00"),
        **changes,
    }  # fmt: skip


def discharge(claim: dict[str, Any], mdtrt_id: str, endtime: str) -> dict[str, Any]:
    return {
        "dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": claim["person_id"], "endtime": endtime,
                     "dise_codg": "C34.1", "oprn_oprt_code": "32.2901", "dscg_way": "1"},
        "diseinfo": [{"diag_code": "C34.1", "maindiag_flag": "1"}],
    }  # fmt: skip


def seal(world: World, mdtrt_id: str) -> None:
    """The encounter as a 2304 leaves it between reading its lines and settling them."""
    with _engine(world).begin() as connection:
        connection.execute(
            update(ENCOUNTER).where(ENCOUNTER.c.mdtrt_id == mdtrt_id)
            .values(sealed_at=datetime.now(UTC))
        )  # fmt: skip


def encounter_row(world: World, mdtrt_id: str) -> Any:
    with _engine(world).connect() as connection:
        return connection.execute(select(ENCOUNTER).where(ENCOUNTER.c.mdtrt_id == mdtrt_id)).first()


# ---------------------------------------------------------------- section 4: the credential


def test_a_psn_no_without_the_persons_id_number_opens_nothing_and_tells_nothing(
    world: World,
) -> None:
    """An unknown psn_no, a wrong ID number and a wrong insured region get one and the same
    text, naming no region and no person; a stranger at a hospital of another region (whose
    filing problem would name the person's insured region) gets it too."""
    his = his_of(world)
    claim = world.claim("e2")
    stranger = world.claim("e2", person_id=f"P{world.tag}NOBODY")
    world.id_numbers[stranger["person_id"]] = id_number("22010219600501999")
    someone_else = world.id_numbers[world.persons["none"]]
    wrong_card = admission(world, claim, mdtrt_cert_no=someone_else)
    texts = {
        refused(his, envelope(his.hospital_id, "2401", admission(world, stranger))),
        refused(his, envelope(his.hospital_id, "2401", wrong_card)),
        refused(his, envelope(his.hospital_id, "2401", admission(world, claim),
                              insuplc_admdvs="210000")),
    }  # fmt: skip
    far = cross_region_his(world)
    unfiled = world.claim("e2", hospital_id=far.hospital_id)
    texts.add(refused(far, envelope(far.hospital_id, "2401", admission(world, unfiled,
                                    mdtrt_cert_no=someone_else))))  # fmt: skip
    assert texts == {UNKNOWN}
    for told in ("220000", "not registered", stranger["person_id"], "filing"):
        assert told not in UNKNOWN
    # Without a credential at all, the message is refused by its own fields.
    bare = admission(world, claim)
    del bare["mdtrtinfo"]["mdtrt_cert_no"]
    refused(his, envelope(his.hospital_id, "2401", bare), "input.mdtrtinfo.mdtrt_cert_no")
    # The person's own ID card admits, and only then a problem may name their region.
    assert his.ok("2401", admission(world, claim))["result"]["psn_no"] == claim["person_id"]
    refused(far, envelope(far.hospital_id, "2401", admission(world, unfiled)),
            "the person is insured in 220000")  # fmt: skip


def test_an_id_number_ending_in_x_is_the_same_credential_written_in_lower_case(
    world: World,
) -> None:
    """The check character X is often typed (or read off a card reader) as `x`."""
    his = his_of(world)
    digits = world.tag[:4].translate(str.maketrans("ABCDEF", "123456"))
    number = next(
        each
        for each in (id_number(f"2201021971{digits}{n:03d}") for n in range(1000))
        if each.endswith("X")
    )
    person_id = f"P{world.tag}X"
    put = world.client.put(
        f"/v1/persons/{person_id}",
        json={"name": "王五", "id_number": number, "birth_date": "1971-01-01",
              "gender": "male", "insured_region": "220000", "statuses": []},
        headers=world.auth(world.keys.admin),
    )  # fmt: skip
    assert put.status_code == 201, put.text
    world.id_numbers[person_id] = number
    claim = world.claim("e1", person_id=person_id)
    almost = number[:-2] + ("1" if number[-2] != "1" else "2") + "x"
    refused(his, envelope(his.hospital_id, "2401", admission(world, claim, mdtrt_cert_no=almost)),
            UNKNOWN)  # fmt: skip
    lower = admission(world, claim, mdtrt_cert_no=number.lower())
    assert his.ok("2401", lower)["result"]["psn_no"] == person_id


# ---------------------------------------------------------------- section 5: bad input


def test_fee_lines_dated_outside_the_stays_days_are_refused(world: World) -> None:
    """The grace is the calendar day: a fee before the admission's hour on its day is the
    stay's; one of the day before, or of a day after the discharge's, is not."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.ok("2401", admission(world, claim))["result"]["mdtrt_id"]
    a_year_before = line(claim, mdtrt_id, "F0001", "2017-03-01 09:00:00")
    the_day_before = line(claim, mdtrt_id, "F0002", "2018-02-28 23:59:59")
    refused(
        his,
        envelope(his.hospital_id, "2301", {"feedetail": [a_year_before, the_day_before]}),
        "input.feedetail[0].fee_ocur_time: 2017-03-01 09:00:00 is before the day of admission "
        "2018-03-01",
        "input.feedetail[1].fee_ocur_time: 2018-02-28 23:59:59 is before the day of admission",
    )
    his.ok("2301", {"feedetail": [line(claim, mdtrt_id, "F0003", "2018-03-01 07:30:00")]})
    his.ok("2301", {"feedetail": [line(claim, mdtrt_id, "F0004", "2018-03-12 09:00:00")]})
    # A discharge before the day of a line uploaded is refused, naming the line.
    refused(
        his,
        envelope(his.hospital_id, "2402", discharge(claim, mdtrt_id, "2018-03-11 18:00:00")),
        "input.dscginfo.endtime: 2018-03-11 18:00:00 is before the day of lines F0004 "
        "(2018-03-12 09:00:00)",
    )
    his.ok("2402", discharge(claim, mdtrt_id, "2018-03-12 08:00:00"))
    # Discharged: a fee of the discharge's day is the stay's, one months later is not.
    his.ok("2301", {"feedetail": [line(claim, mdtrt_id, "F0005", "2018-03-12 20:00:00")]})
    months_after = line(claim, mdtrt_id, "F0006", "2018-06-12 09:00:00")
    refused(his, envelope(his.hospital_id, "2301", {"feedetail": [months_after]}),
            "input.feedetail[0].fee_ocur_time: 2018-06-12 09:00:00 is after the day of "
            "discharge 2018-03-12")  # fmt: skip


def test_a_diagnosis_the_engine_refuses_is_refused_at_admission(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    body = admission(world, claim)
    body["diseinfo"] = [
        {"diag_code": "肺癌", "maindiag_flag": "1"},
        {"diag_code": "c34.1"},
        {"diag_code": "C34.1"},
    ]
    refused(
        his,
        envelope(his.hospital_id, "2401", body),
        "input.diseinfo[0].diag_code: '肺癌' is not an ICD-10 code (like C34 or C34.1)",
        "input.diseinfo[1].diag_code: 'c34.1' is not an ICD-10 code",
    )
    mdtrt_id = his.ok("2401", admission(world, claim))["result"]["mdtrt_id"]
    change = {"adminfo": ref(claim, mdtrt_id)["data"], "diseinfo": [{"diag_code": "肺癌"}]}
    refused(his, envelope(his.hospital_id, "2403", change), "input.diseinfo[0].diag_code")
    wrong = discharge(claim, mdtrt_id, "2018-03-12 10:00:00")
    wrong["diseinfo"] = []
    wrong["dscginfo"]["dise_codg"] = "c34"
    refused(his, envelope(his.hospital_id, "2402", wrong), "input.dscginfo.dise_codg: 'c34'")


# ---------------------------------------------------------------- 2403 change the admission


def test_2403_corrects_a_mistyped_begntime_and_the_stay_settles_as_the_true_claim(
    world: World,
) -> None:
    """Admitted on the 10th by mistake (the stay began on the 1st): the bed days of the 1st
    are refused until 2403 corrects the admission; then the stay settles as the true claim."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.ok("2401", admission(world, claim, begntime="2018-03-10 08:00:00"))["result"][
        "mdtrt_id"
    ]
    lines = his.fee_lines(claim, mdtrt_id)  # all charged on the 1st
    refused(his, envelope(his.hospital_id, "2301", {"feedetail": lines}),
            "is before the day of admission 2018-03-10")  # fmt: skip
    change = {"adminfo": {**ref(claim, mdtrt_id)["data"], "begntime": "2018-03-01 08:00:00",
                          "adm_diag_dscr": "右肺上叶占位"}}  # fmt: skip
    first = his.post(envelope(his.hospital_id, "2403", change))
    assert exact(first)["infcode"] == 0, exact(first)["err_msg"]
    his.ok("2301", {"feedetail": lines})
    # Now a begntime after the lines' day is refused, naming them.
    late = {"adminfo": {**ref(claim, mdtrt_id)["data"], "begntime": "2018-03-02 00:00:00"}}
    refused(his, envelope(his.hospital_id, "2403", late),
            "input.adminfo.begntime: 2018-03-02 00:00:00 is after the day of lines F0001 "
            "(2018-03-01 09:00:00), F0002 (2018-03-01 09:00:00), F0003 (2018-03-01 09:00:00) "
            "and 5 more")  # fmt: skip
    his.discharge(claim, mdtrt_id)
    after_discharge = {"adminfo": {**ref(claim, mdtrt_id)["data"],
                                   "begntime": "2018-03-13 08:00:00"}}  # fmt: skip
    refused(his, envelope(his.hospital_id, "2403", after_discharge),
            "input.adminfo.begntime: 2018-03-13 08:00:00 is after the discharge")  # fmt: skip
    rediagnosed = {"adminfo": ref(claim, mdtrt_id)["data"], "diseinfo": [{"diag_code": "C34"}]}
    refused(his, envelope(his.hospital_id, "2403", rediagnosed),
            f"input.diseinfo: encounter {mdtrt_id} is discharged")  # fmt: skip
    presettled = his.ok("2303", his.settle_data(claim, mdtrt_id))["setlinfo"]
    assert presettled["begndate"] == "2018-03-01"
    preview = world.client.post("/v1/settlements/preview", json=claim, headers=his.headers)
    assert preview.status_code == 200, preview.text
    assert presettled["fund_pay_sumamt"] == Decimal(preview.json()["totals"]["fund_total"])
    with _engine(world).connect() as connection:
        audited = connection.execute(
            select(AUDIT.c.subject).where(AUDIT.c.action == "nhsa 2403")
        ).scalars()
        assert f"{mdtrt_id}: begntime, adm_diag_dscr changed" in list(audited)


def test_2403_corrects_a_cross_region_filing_and_refuses_what_is_not_a_change(
    world: World,
) -> None:
    his = cross_region_his(world)
    claim = world.claim("x1", hospital_id=his.hospital_id)
    mdtrt_id = his.ok("2401", admission(world, claim))["result"]["mdtrt_id"]
    assert encounter_row(world, mdtrt_id).filing == "referral"
    his.ok("2403", {"adminfo": {**ref(claim, mdtrt_id)["data"], "filing": "emergency"},
                    "diseinfo": [{"diag_code": "C34.1", "maindiag_flag": "1"},
                                 {"diag_code": "J18.9"}]})  # fmt: skip
    row = encounter_row(world, mdtrt_id)
    assert (row.filing, row.diagnoses) == ("emergency", '["C34.1","J18.9"]')
    nothing = {"adminfo": ref(claim, mdtrt_id)["data"], "diseinfo": []}
    refused(his, envelope(his.hospital_id, "2403", nothing),
            "input.adminfo: 2403 changes begntime, adm_diag_dscr, filing or diseinfo")  # fmt: skip
    home = his_of(world)
    local = world.claim("e2")
    local_id = home.ok("2401", admission(world, local))["result"]["mdtrt_id"]
    refused(home, envelope(home.hospital_id, "2403",
                           {"adminfo": {**ref(local, local_id)["data"], "filing": "referral"}}),
            f"input.adminfo.filing: encounter {local_id} is an in-region stay")  # fmt: skip


# ---------------------------------------------------------------- 2404 cancel the admission


def test_2404_cancels_an_admission_so_that_its_stay_is_admitted_again(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    settings = _settings(world)
    mdtrt_id = his.ok("2401", admission(world, claim))["result"]["mdtrt_id"]
    his.ok("2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    before = row_counts(settings)
    cancel = envelope(his.hospital_id, "2404", ref(claim, mdtrt_id))
    first = his.post(cancel)
    assert exact(first)["infcode"] == 0, exact(first)["err_msg"]
    after = row_counts(settings)
    assert after["encounter"] == before["encounter"] - 1
    assert after["encounter_line"] == before["encounter_line"] - len(claim["items"])
    assert after["audit"] == before["audit"] + 1
    # The same message again answers the first answer, and changes nothing.
    assert his.post(cancel).content == first.content
    assert row_counts(settings) == after
    # The encounter is gone for every message; its stay number may be admitted again.
    refused(his, envelope(his.hospital_id, "2301", {"feedetail": his.fee_lines(claim, mdtrt_id)}),
            f"mdtrt_id: no encounter {mdtrt_id}")  # fmt: skip
    refused(his, envelope(his.hospital_id, "2404", ref(claim, mdtrt_id)), "no encounter")
    again = his.ok("2401", admission(world, claim))["result"]["mdtrt_id"]
    assert again != mdtrt_id
    with _engine(world).connect() as connection:
        audited = connection.execute(
            select(AUDIT.c.subject).where(AUDIT.c.action == "nhsa 2404")
        ).scalar_one()
    assert audited == (
        f"{mdtrt_id} {claim['person_id']} stay ZY-C-0001: admission cancelled, "
        f"{len(claim['items'])} lines with it"
    )


def test_2404_refuses_a_settled_or_sealed_encounter_and_takes_one_cancelled_by_2305(
    world: World,
) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    seal(world, mdtrt_id)
    for infno in ("2403", "2404", "2405"):
        body = ref(claim, mdtrt_id)
        if infno == "2403":
            body = {"adminfo": {**body["data"], "adm_diag_dscr": "x"}}
        refused(his, envelope(his.hospital_id, infno, body), "is being settled (2304)")
    with _engine(world).begin() as connection:
        connection.execute(
            update(ENCOUNTER).where(ENCOUNTER.c.mdtrt_id == mdtrt_id).values(sealed_at=None)
        )
    setlinfo = settle(his, claim, mdtrt_id)["setlinfo"]
    for infno in ("2404", "2405"):
        refused(his, envelope(his.hospital_id, infno, ref(claim, mdtrt_id)),
                f"encounter {mdtrt_id} is settled ({setlinfo['setl_id']}); cancel the "
                "settlement (2305)")  # fmt: skip
    change = {"adminfo": {**ref(claim, mdtrt_id)["data"], "begntime": "2018-03-01 07:00:00"}}
    refused(his, envelope(his.hospital_id, "2403", change), "is settled")
    # Another hospital sees no such encounter.
    other = his_of(world, level=2)
    refused(other, envelope(other.hospital_id, "2404", ref(claim, mdtrt_id)),
            f"mdtrt_id: no encounter {mdtrt_id} at hospital {other.hospital_id}")  # fmt: skip
    his.ok("2305", {"data": {"setl_id": setlinfo["setl_id"], **ref(claim, mdtrt_id)["data"]}})
    his.ok("2404", ref(claim, mdtrt_id))
    # The reversed settlement stays in the ledger, as every reversal does.
    stored = world.client.get(f"/v1/settlements/{setlinfo['setl_id']}", headers=his.headers)
    assert stored.json()["status"] == "reversed"


# ---------------------------------------------------------------- 2405 cancel the discharge


def test_2405_cancels_a_discharge_so_that_the_stay_goes_on(world: World) -> None:
    his = his_of(world)
    other = his_of(world, level=2)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    refused(other, envelope(other.hospital_id, "2405", ref(claim, mdtrt_id)), "no encounter")
    cancel = envelope(his.hospital_id, "2405", ref(claim, mdtrt_id))
    first = his.post(cancel)
    assert exact(first)["infcode"] == 0, exact(first)["err_msg"]
    assert his.post(cancel).content == first.content
    row = encounter_row(world, mdtrt_id)
    assert (row.endtime, row.dscg_way, row.oprn_oprt_code) == (None, None, None)
    refused(his, envelope(his.hospital_id, "2405", ref(claim, mdtrt_id)),
            f"mdtrt_id: encounter {mdtrt_id} is not discharged")  # fmt: skip
    refused(his, envelope(his.hospital_id, "2303", his.settle_data(claim, mdtrt_id)),
            "is not discharged: send 2402 before 2303")  # fmt: skip
    # In hospital again: a fee after the old discharge's day is taken, and settled with it.
    later = line(claim, mdtrt_id, "F0100", "2018-03-14 09:00:00")
    his.ok("2301", {"feedetail": [later]})
    his.ok("2402", discharge(claim, mdtrt_id, "2018-03-14 10:00:00"))
    total = sum((Decimal(item["amount"]) for item in claim["items"]), Decimal("45.00"))
    output = his.ok("2304", his.settle_data(claim, mdtrt_id, medfee_sumamt=total))
    assert (output["setlinfo"]["medfee_sumamt"], output["setlinfo"]["enddate"]) == (
        total, "2018-03-14",
    )  # fmt: skip


# ---------------------------------------------------------------- 2302, 0.00, 3201


def test_cancelling_one_refund_that_would_leave_a_line_off_its_rounding_is_refused(
    world: World,
) -> None:
    """3 × 1.335 = 4.01; refunds of 1 (-1.34) and 1.5 (-2.00) each leave the line rounded as
    they are sent; cancelling the first alone would leave 1.5 × 1.335 billing 2.01, not
    2.00, after which the engine refuses the line at every 2301, 2303 and 2304."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.ok("2401", admission(world, claim))["result"]["mdtrt_id"]
    drug = {"med_list_codg": "A0002", "medins_list_codg": "HIS-A0002",
            "pric": Decimal("1.335")}  # fmt: skip
    charged = line(claim, mdtrt_id, "F0001", "2018-03-01 09:00:00", **drug,
                   cnt=Decimal("3"), det_item_fee_sumamt=Decimal("4.01"))  # fmt: skip
    first = {**charged, "feedetl_sn": "R0001", "cnt": Decimal("-1"),
             "det_item_fee_sumamt": Decimal("-1.34"), "init_feedetl_sn": "F0001"}  # fmt: skip
    second = {**first, "feedetl_sn": "R0002", "cnt": Decimal("-1.5"),
              "det_item_fee_sumamt": Decimal("-2.00")}  # fmt: skip
    bed = line(claim, mdtrt_id, "F0002", "2018-03-01 09:00:00")
    his.ok("2301", {"feedetail": [charged, bed]})
    his.ok("2301", {"feedetail": [first]})
    his.ok("2301", {"feedetail": [second]})
    rows = [{"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]}
            for sn in ("F0002", "R0001")]  # fmt: skip
    refused(
        his,
        envelope(his.hospital_id, "2302", {"data": rows}),
        "input.data[1].feedetl_sn: cancelling refund R0001 would leave line F0001 billing "
        "2.01 for 1.5 × 1.335, not round(cnt × pric) = 2.00",
    )
    # Cancelled with the other refund, the line is whole again.
    his.ok("2302", {"data": [*rows, {**rows[1], "feedetl_sn": "R0002"}]})
    his.ok("2402", discharge(claim, mdtrt_id, "2018-03-12 10:00:00"))
    his.ok("2303", his.settle_data(claim, mdtrt_id, medfee_sumamt=Decimal("4.01")))


def test_a_stay_whose_lines_total_0_00_is_not_settled(world: World) -> None:
    """Settled, it would count as an admission and cut the person's next deductible."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.ok("2401", admission(world, claim))["result"]["mdtrt_id"]
    free = line(claim, mdtrt_id, "F0001", "2018-03-01 09:00:00", pric=Decimal("0.00"),
                det_item_fee_sumamt=Decimal("0.00"))  # fmt: skip
    his.ok("2301", {"feedetail": [free]})
    his.ok("2402", discharge(claim, mdtrt_id, "2018-03-12 10:00:00"))
    for infno in ("2303", "2304"):
        refused(his, envelope(his.hospital_id, infno,
                              his.settle_data(claim, mdtrt_id, medfee_sumamt=Decimal("0.00"))),
                f"input.data.medfee_sumamt: encounter {mdtrt_id}'s lines total 0.00")  # fmt: skip
    his.ok("2404", ref(claim, mdtrt_id))


def test_3201_compares_one_clearing_institutions_net_figures_and_names_its_fields(
    world: World,
) -> None:
    """setl_optins is the insured region a settlement is cleared with (setlinfo's
    clr_optins): a hospital reconciling per institution compares that region's settlements;
    a settlement reversed inside the period counts for nothing (net, not settled)."""
    his = his_of(world)
    admin = world.auth(world.keys.admin)
    person_id = f"P{world.tag}LN"
    world.id_numbers[person_id] = id_number("21010219700101035")
    put = world.client.put(
        f"/v1/persons/{person_id}",
        json={"name": "辽宁人", "id_number": world.id_numbers[person_id],
              "birth_date": "1970-01-01", "gender": "male", "insured_region": "210000",
              "statuses": []},
        headers=admin,
    )  # fmt: skip
    assert put.status_code == 201, put.text
    home = world.claim("e1", person="none")
    visitor = world.claim("x1", person_id=person_id)
    reversed_ = world.claim("e1", person="none")
    settled = {
        "220000": settle(his, home, his.stay(home))["setlinfo"],
        "210000": settle(his, visitor, his.stay(visitor))["setlinfo"],
    }
    assert settled["210000"]["clr_optins"] == "210000"
    mdtrt_id = his.stay(reversed_)
    gone = settle(his, reversed_, mdtrt_id)["setlinfo"]
    his.ok("2305", {"data": {"setl_id": gone["setl_id"], **ref(reversed_, mdtrt_id)["data"]}})
    today = datetime.now(ZoneInfo(_settings(world).business_timezone)).date()

    def statement(region: str, *regions: str) -> dict[str, Any]:
        return {"data": {
            "insutype": "390", "clr_type": "21", "setl_optins": region,
            "stmt_begndate": (today - timedelta(days=1)).isoformat(),
            "stmt_enddate": (today + timedelta(days=1)).isoformat(),
            "medfee_sumamt": sum(settled[each]["medfee_sumamt"] for each in regions),
            "fund_pay_sumamt": sum(settled[each]["fund_pay_sumamt"] for each in regions),
            "acct_pay": Decimal("0.00"), "fixmedins_setl_cnt": len(regions),
        }}  # fmt: skip

    for region, regions in (("220000", ["220000"]), ("210000", ["210000"]),
                            ("", ["220000", "210000"])):  # fmt: skip
        agreed = his.ok("3201", statement(region, *regions))["stmtinfo"]
        assert (agreed["stmt_rslt"], agreed["stmt_rslt_dscr"]) == ("0", "平"), (region, agreed)
        assert agreed["setl_optins"] == region
    off = his.ok("3201", statement("210000", "220000"))["stmtinfo"]
    assert off["stmt_rslt"] == "1"
    # Its problems name the message's fields, never the REST query's.
    backwards = statement("220000", "220000")
    backwards["data"]["stmt_begndate"], backwards["data"]["stmt_enddate"] = (
        backwards["data"]["stmt_enddate"], backwards["data"]["stmt_begndate"],
    )  # fmt: skip
    told = refused(his, envelope(his.hospital_id, "3201", backwards),
                   "input.data.stmt_enddate: before stmt_begndate")  # fmt: skip
    ancient = statement("220000", "220000")
    ancient["data"]["stmt_begndate"] = "1800-01-01"
    told += refused(his, envelope(his.hospital_id, "3201", ancient),
                    "input.data.stmt_begndate: 1800-01-01 is outside")  # fmt: skip
    assert "date_from" not in told
    assert "date_to" not in told
    assert "query" not in told


def test_the_corrections_are_messages_of_the_interface(world: World) -> None:
    """2403, 2404 and 2405 are answered transactions, their answers kept by msgid: the same
    msgid with another body is refused."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.ok("2401", admission(world, claim))["result"]["mdtrt_id"]
    change = envelope(his.hospital_id, "2403", {"adminfo": {**ref(claim, mdtrt_id)["data"],
                                                             "adm_diag_dscr": "更正"}})  # fmt: skip
    assert exact(his.post(change))["infcode"] == 0
    reused = envelope(his.hospital_id, "2404", ref(claim, mdtrt_id), msgid=change["msgid"])
    refused(his, reused, f"msgid: {change['msgid']} was already used for another message")
    assert encounter_row(world, mdtrt_id).adm_diag_dscr == "更正"
