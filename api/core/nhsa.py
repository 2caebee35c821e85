"""The national platform's hospital interface (INTEROP.md): its messages and onestop's answers.

A message is an envelope (`infno`, `msgid`, `fixmedins_code`, …) around an `input` whose shape
the `infno` names. Each input is read by a pydantic model that ignores the many fields of the
platform's interface onestop has no use for (a HIS sends them all) and checks every field it
does use; all problems of a message are named at once, each by its place (`input.feedetail[2].
cnt`). Amounts are exact decimals read from the JSON numbers' own digits (api.core.exact_json):
at most 2 decimals for amounts, 4 for `cnt`, 6 for `pric`; a JSON string of digits is taken
too, as some platform clients send one. Times are `yyyy-MM-dd HH:mm:ss`, China Standard Time,
as the platform writes them.

The answers map an engine `Settlement` to the platform's `setlinfo` and `setldetail` (INTEROP.md,
"setlinfo and setldetail from a settlement"), every amount a JSON number with two decimals.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError

from api.core import exact_json
from api.core.contract import ID_PATTERN, LINE_TEXT_PATTERN, IsoDate, mask_id_number
from settlement.model import Filing, Fund, Gender, Group, ItemClass, ItemKind, age_on
from settlement.money import SCALE, format_fen
from settlement.result import Settlement
from settlement.tariff import CatalogItem

INFNOS: Final = ("1101", "2401", "2301", "2302", "2402", "2303", "2304", "2305", "5203", "3201")
"""The transactions onestop answers, in the order of a stay."""
WRITING: Final = frozenset({"2401", "2301", "2302", "2402", "2304", "2305"})
"""The transactions that change something: their answers are kept by `msgid`."""
INSUTYPE: Final = "390"
"""城乡居民基本医疗保险: the only insurance type onestop settles."""
MED_TYPE: Final = "21"
"""普通住院: inpatient care, the only medical type onestop settles."""
CLR_TYPE: Final = "21"
"""清算类别 住院."""
CLR_WAY: Final = "1"
"""清算方式 按项目 (item by item)."""
TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
GENDER_CODES: Final = {Gender.MALE: "1", Gender.FEMALE: "2", Gender.UNKNOWN: "9"}
"""性别 as the platform codes it (GB/T 2261.1: 1 male, 2 female, 9 not stated)."""
CLASS_LEVELS: Final = {ItemClass.A: "01", ItemClass.B: "02", ItemClass.C: "03"}
"""收费项目等级 chrgitm_lv: 01 甲类, 02 乙类, 03 丙类 (自费)."""
KIND_TYPES: Final = {ItemKind.DRUG: "09", ItemKind.MATERIAL: "08", ItemKind.SERVICE: "14"}
"""医疗收费项目类别 med_chrgitm_type: 09 西药费, 08 卫生材料费; a service's own category (bed,
examination, surgery…) is not in onestop's catalog, so it is answered as 14 其他费."""
GROUP_NAMES: Final = {
    Group.DESTITUTE: "特困供养人员",
    Group.DIBAO: "低保对象",
    Group.REGISTERED_POOR: "建档立卡贫困人口",
}
FUND_NAMES: Final = {
    Fund.BASIC_INSURANCE: "城乡居民基本医疗保险基金",
    Fund.CRITICAL_ILLNESS: "城乡居民大病医疗保险资金",
    Fund.MEDICAL_ASSISTANCE: "医疗救助基金",
    Fund.CHARITY: "慈善救助",
    Fund.HEALTH_FUND: "健康扶贫基金",
}
"""fund_pay_type_name of each fund's setldetail row."""
ZERO_FIELDS: Final = (
    "cvlserv_pay", "hifes_pay", "hifob_pay", "hosp_part_amt", "acct_pay", "acct_mulaid_pay",
    "balc",
)  # fmt: skip
"""setlinfo's funds that a resident's inpatient stay here never draws on: always 0."""


# ---------------------------------------------------------------- reading messages


def _time_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.strptime(value, TIME_FORMAT)
        except ValueError:
            pass
    raise ValueError("should be a time written yyyy-MM-dd HH:mm:ss")


def _exact(decimals: int) -> Any:
    def read(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise ValueError("should be a number")
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise ValueError("should be a number") from None
        if not number.is_finite():
            raise ValueError("should be a finite number")
        if number != number.quantize(Decimal(1).scaleb(-decimals), rounding="ROUND_DOWN"):
            raise ValueError(f"has more than {decimals} decimals")
        if abs(number) >= Decimal(10) ** 14:
            raise ValueError("is out of range")
        return number

    return BeforeValidator(read)


PlatformTime = Annotated[datetime, BeforeValidator(_time_text)]
Amount = Annotated[Decimal, _exact(2)]
"""An amount: at most 2 decimals."""
Count = Annotated[Decimal, _exact(4)]
"""`cnt`: at most 4 decimals."""
Price = Annotated[Decimal, _exact(6)]
"""`pric`: at most 6 decimals."""
Code = Annotated[StrictStr, Field(min_length=1, max_length=30, pattern=ID_PATTERN)]
"""An id of the interface (psn_no, mdtrt_id, setl_id, feedetl_sn): onestop's id form."""
Text = Annotated[StrictStr, Field(max_length=200, pattern=LINE_TEXT_PATTERN)]
Diagnosis = Annotated[StrictStr, Field(min_length=1, max_length=16, pattern=LINE_TEXT_PATTERN)]


class _Input(BaseModel):
    """Fields onestop does not read are ignored, as the platform's clients send them all."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(_Input):
    infno: Annotated[StrictStr, Field(pattern=r"^[0-9]{4}$")]
    msgid: Annotated[StrictStr, Field(pattern=r"^[0-9A-Za-z]{1,30}$")]
    fixmedins_code: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    mdtrtarea_admvs: Annotated[StrictStr, Field(pattern=r"^([0-9]{6})?$")] = ""
    insuplc_admdvs: Annotated[StrictStr, Field(pattern=r"^([0-9]{6})?$")] = ""
    input: dict[str, Any]


class PersonQuery(_Input):
    mdtrt_cert_type: Literal["02"]
    """就诊凭证类型 02: the resident identity card (the only one onestop's registry holds)."""
    mdtrt_cert_no: Annotated[
        StrictStr, Field(min_length=1, max_length=18, pattern=LINE_TEXT_PATTERN)
    ]
    psn_name: Text = ""


class In1101(_Input):
    data: PersonQuery


class Admission(_Input):
    psn_no: Code
    insutype: Literal["390"]
    begntime: PlatformTime
    med_type: Literal["21"]
    ipt_no: Annotated[StrictStr, Field(min_length=1, max_length=30, pattern=LINE_TEXT_PATTERN)]
    adm_diag_dscr: Text = ""
    filing: Filing | None = None
    """onestop's own field: the 备案类别 of a cross-region stay (rules §12), which the platform
    reads from its filing registry and onestop has not got."""


class DiagnosisIn(_Input):
    diag_code: Diagnosis
    maindiag_flag: Literal["0", "1"] = "0"
    diag_srt_no: Annotated[int, Field(ge=0, le=999)] = 0


class In2401(_Input):
    mdtrtinfo: Admission
    diseinfo: Annotated[list[DiagnosisIn], Field(min_length=1, max_length=50)]


class FeeLine(_Input):
    feedetl_sn: Code
    mdtrt_id: Code
    psn_no: Code
    fee_ocur_time: PlatformTime
    med_list_codg: Annotated[
        StrictStr, Field(min_length=1, max_length=32, pattern=LINE_TEXT_PATTERN)
    ]
    medins_list_codg: Annotated[StrictStr, Field(max_length=150, pattern=LINE_TEXT_PATTERN)] = ""
    det_item_fee_sumamt: Amount
    cnt: Count
    pric: Price
    init_feedetl_sn: Annotated[StrictStr, Field(max_length=30, pattern=LINE_TEXT_PATTERN)] = ""


class In2301(_Input):
    feedetail: Annotated[list[FeeLine], Field(min_length=1, max_length=10_000)]


class FeeCancel(_Input):
    feedetl_sn: Code
    mdtrt_id: Code
    psn_no: Code


class In2302(_Input):
    data: Annotated[list[FeeCancel], Field(min_length=1, max_length=10_000)]


class Discharge(_Input):
    mdtrt_id: Code
    psn_no: Code
    endtime: PlatformTime
    dise_codg: Annotated[StrictStr, Field(max_length=16, pattern=LINE_TEXT_PATTERN)] = ""
    oprn_oprt_code: Annotated[StrictStr, Field(max_length=30, pattern=LINE_TEXT_PATTERN)] = ""
    dscg_way: Annotated[StrictStr, Field(max_length=6, pattern=LINE_TEXT_PATTERN)] = ""


class In2402(_Input):
    dscginfo: Discharge
    diseinfo: Annotated[list[DiagnosisIn], Field(max_length=50)] = []


class SettleData(_Input):
    psn_no: Code
    mdtrt_id: Code
    medfee_sumamt: Amount
    insutype: Literal["390"] = "390"
    mid_setl_flag: Literal["0"] = "0"
    """中途结算 is not offered: a stay is settled once, at discharge."""
    acct_used_flag: Literal["0"] = "0"
    """A resident has no personal account (个人账户) to draw on."""


class In2303(_Input):
    data: SettleData


class SettlementRef(_Input):
    setl_id: Code
    mdtrt_id: Code
    psn_no: Code


class In2305(_Input):
    data: SettlementRef


class Statement(_Input):
    insutype: Literal["390"]
    clr_type: Literal["21"]
    setl_optins: Annotated[StrictStr, Field(max_length=6, pattern=LINE_TEXT_PATTERN)] = ""
    stmt_begndate: IsoDate
    stmt_enddate: IsoDate
    medfee_sumamt: Amount
    fund_pay_sumamt: Amount
    acct_pay: Amount
    fixmedins_setl_cnt: Annotated[int, Field(ge=0)]


class In3201(_Input):
    data: Statement


INPUTS: Final[dict[str, type[_Input]]] = {
    "1101": In1101,
    "2401": In2401,
    "2301": In2301,
    "2302": In2302,
    "2402": In2402,
    "2303": In2303,
    "2304": In2303,
    "2305": In2305,
    "5203": In2305,
    "3201": In3201,
}


def problems_of(error: ValidationError, prefix: str) -> list[str]:
    """Each problem of a validation error as `place: message`."""
    found = []
    for problem in error.errors(include_url=False):
        place = prefix
        for part in problem["loc"]:
            place += f"[{part}]" if isinstance(part, int) else f".{part}"
        message = problem["msg"].removeprefix("Value error, ")
        found.append(f"{place.lstrip('.')}: {message}")
    return found


# ---------------------------------------------------------------- answering


def amount(fen: int) -> orjson.Fragment:
    """An amount in fen as a JSON number with two decimals."""
    return exact_json.number(format_fen(fen))


def rate(ppm: int | None) -> orjson.Fragment | None:
    """A rate in millionths as a JSON number with 4 decimals (`pool_prop_selfpay`)."""
    if ppm is None:
        return None
    return exact_json.number(format(Decimal(ppm) / SCALE, ".4f"))


def platform_time(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def line_split(item: CatalogItem, figures: dict[str, int]) -> dict[str, Any]:
    """A fee line's step-1 figures as 2301 answers them (`figures` in fen)."""
    ratio = item.selfpay_ratio_ppm
    proportion = {ItemClass.A: 0, ItemClass.B: ratio or 0, ItemClass.C: SCALE}[item.item_class]
    cap = item.unit_price_cap_micro
    return {
        "pric_uplmt_amt": None if cap is None else exact_json.number(format_ppm_price(cap)),
        "selfpay_prop": rate(proportion),
        "fulamt_ownpay_amt": amount(figures["full_selfpay"] + figures["refused_selfpay"]),
        "overlmt_amt": amount(figures["over_cap_selfpay"]),
        "preselfpay_amt": amount(figures["first_selfpay"]),
        "inscp_scp_amt": amount(figures["in_scope"]),
        "chrgitm_lv": CLASS_LEVELS[item.item_class],
        "med_chrgitm_type": KIND_TYPES[item.kind],
    }


def format_ppm_price(micro: int) -> str:
    """A unit price in millionths of a yuan, as its exact decimal (6 decimals)."""
    return format(Decimal(micro).scaleb(-6), "f")


def setlinfo(
    settlement: Settlement,
    person: Any,
    *,
    setl_id: str | None,
    setl_time: datetime,
    msgid: str,
    reversal: bool = False,
) -> dict[str, Any]:
    """The platform's `setlinfo` of a settlement (negated for its reversal); `person` is the
    registry's row, `setl_time` the settlement's (or reversal's) time in China Standard Time."""
    sign = -1 if reversal else 1
    totals = settlement.totals
    basic = settlement.funds[0]
    assert basic.fund is Fund.BASIC_INSURANCE
    birth: date = person.birth_date
    info: dict[str, Any] = {}
    if setl_id is not None:
        info["setl_id"] = setl_id
    info.update(
        {
            "mdtrt_id": settlement.claim_id,
            "psn_no": settlement.person_id,
            "psn_name": person.name,
            "psn_cert_type": "01",
            "certno": mask_id_number(person.id_number),
            "gend": GENDER_CODES[Gender(person.gender)],
            "brdy": birth.isoformat(),
            "age": exact_json.number(str(age_on(birth, settlement.admission_date))),
            "insutype": INSUTYPE,
            "psn_type": "" if settlement.group is None else settlement.group.value,
            "setl_time": platform_time(setl_time),
            "med_type": MED_TYPE,
            "begndate": settlement.admission_date.isoformat(),
            "enddate": settlement.discharge_date.isoformat(),
            "insuplc_admdvs": settlement.insured_region,
            "mdtrtarea_admvs": settlement.treatment_region,
            "medfee_sumamt": amount(sign * totals.total_fen),
            "fulamt_ownpay_amt": amount(
                sign * (totals.full_selfpay_fen + totals.refused_selfpay_fen)
            ),
            "overlmt_selfpay": amount(sign * totals.over_cap_selfpay_fen),
            "preselfpay_amt": amount(sign * totals.first_selfpay_fen),
            "inscp_scp_amt": amount(sign * totals.in_scope_fen),
            "act_pay_dedc": amount(sign * totals.deductible_applied_fen),
            "hifp_pay": amount(sign * totals.basic_insurance_fen),
            "pool_prop_selfpay": rate(basic.rate_ppm),
            "hifmi_pay": amount(sign * totals.critical_illness_fen),
            "maf_pay": amount(sign * totals.medical_assistance_fen),
            "oth_pay": amount(sign * (totals.charity_fen + totals.health_fund_fen)),
            **{name: amount(0) for name in ZERO_FIELDS},
            "fund_pay_sumamt": amount(sign * totals.fund_total_fen),
            "psn_part_amt": amount(sign * totals.patient_pay_fen),
            "psn_cash_pay": amount(sign * totals.patient_pay_fen),
            "clr_type": CLR_TYPE,
            "clr_way": CLR_WAY,
            "clr_optins": settlement.insured_region,
            "medins_setl_id": msgid,
        }
    )
    if reversal:
        info["refd_setl_id"] = setl_id
    return info


def setldetail(settlement: Settlement, *, reversal: bool = False) -> list[dict[str, Any]]:
    """One row per fund that paid: its code, the base it saw, the cap left before this claim,
    what it paid (negated for the reversal), its Chinese name and its explanation."""
    sign = -1 if reversal else 1
    return [
        {
            "fund_pay_type": step.fund_code,
            "inscp_scp_amt": amount(step.base_fen),
            "crt_payb_lmt_amt": None
            if step.cap_remaining_fen is None
            else amount(step.cap_remaining_fen),
            "fund_payamt": amount(sign * step.paid_fen),
            "fund_pay_type_name": FUND_NAMES[step.fund],
            "setl_proc_info": "；".join(step.explanation_zh),
        }
        for step in settlement.funds
        if step.paid_fen
    ]


# ---------------------------------------------------------------- the served OpenAPI document


class AnswerOut(BaseModel):
    """The platform's answer envelope (HTTP 200 for every answered message)."""

    infcode: Literal[0, -1]
    inf_refmsgid: str
    refmsg_time: str
    respond_time: str
    err_msg: str
    """Every problem of a refused message, `; `-separated; empty when answered."""
    output: dict[str, Any]
