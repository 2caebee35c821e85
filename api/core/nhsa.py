"""The national platform's hospital interface (INTEROP.md): its messages and onestop's answers.

A message is an envelope (`infno`, `msgid`, `fixmedins_code`, …) around an `input` whose shape
the `infno` names. Each input is read by a pydantic model that ignores the many fields of the
platform's interface onestop has no use for (a HIS sends them all) and checks every field it
does use; all problems of a message are named at once, each by its place (`input.feedetail[2].
cnt`). Amounts are exact decimals read from the JSON numbers' own digits (api.core.exact_json):
at most 2 decimals for amounts, 4 for `cnt`, 6 for `pric`; a JSON string of digits is taken
too, as some platform clients send one. A number is bounded before any arithmetic: a numeral
with an exponent or over `exact_json.NUMERAL_CHARS_MAX` characters is refused by name, so is
text that `Decimal` would read but the platform does not write ("１", "1_0", " 1 "); counts are
whole numbers, never `true`. Times are `yyyy-MM-dd HH:mm:ss`, China Standard Time, as the
platform writes them, in `PLATFORM_YEARS`. Text holds no control, format (zero-width, bidi)
or line-separator character (`VISIBLE_PATTERN`).

The answers map an engine `Settlement` to the platform's `setlinfo` and `setldetail` (INTEROP.md,
"setlinfo and setldetail from a settlement"), every amount a JSON number with two decimals.
Public HIS code binds the answers to typed models (non-nullable C# decimals, Java `new
BigDecimal(text)`), so no field an answer carries is ever null or of another type: an uncapped
fund's limit is its base, an uncapped line's price cap its price (INTEROP.md, "Additions").
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
)

from api.core import exact_json
from api.core.contract import ID_PATTERN, IsoDate, mask_id_number
from settlement.engine import diagnosis_problem
from settlement.model import Filing, Fund, Gender, Group, ItemClass, ItemKind, age_on
from settlement.money import SCALE, format_fen
from settlement.result import Settlement
from settlement.tariff import CatalogItem

INFNOS: Final = (
    "1101", "2401", "2403", "2404", "2301", "2302", "2402", "2405", "2303", "2304", "2305",
    "5203", "3201",
)  # fmt: skip
"""The transactions onestop answers, in the order of a stay (its corrections after what
they correct)."""
WRITING: Final = frozenset({"2401", "2403", "2404", "2301", "2302", "2402", "2405", "2304", "2305"})
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


PLATFORM_YEARS: Final = range(1900, 2100)
"""The years a platform time may name. A stay is of a living person, and every time of these
years converts between the business zone and UTC (year 1 in UTC+8 is before datetime's
first moment: converting it raised OverflowError)."""
VISIBLE_PATTERN: Final = r"^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]*$"
"""Every text of the interface: no control character, no format character (zero-width space
U+200B, joiners, bidi marks and overrides U+202A–U+202E, U+2066–U+2069, the BOM U+FEFF, soft
hyphen, tags), no line or paragraph separator: two stay numbers that look the same are the
same. (A lone surrogate is no text at all: pydantic refuses it before the pattern.)"""
MESSAGE_VALUES_MAX: Final = 200_000
"""The most JSON values one message may hold: 7,000 fee lines of the platform's 28 fields, or
10,000 (2301's most) of 20 (HIS batches are far smaller). Each value parsed is a Python
object: a body of `1.5,` or `[],` repeated to the 5 MiB size limit would be over a million
(~150 MB); 200,000 of the dearest (a Decimal, ~110 bytes with its place) are ~22 MB."""
AMOUNT_LIMIT: Final = Decimal(10) ** 14
"""Every amount, count and price is below this in magnitude (the contract's 15 digits)."""


def _time_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            moment = datetime.strptime(value, TIME_FORMAT)
        except ValueError:
            pass
        else:
            if moment.year not in PLATFORM_YEARS:
                raise ValueError(f"is not in the years {PLATFORM_YEARS[0]} to {PLATFORM_YEARS[-1]}")
            return moment
    raise ValueError("should be a time written yyyy-MM-dd HH:mm:ss")


def _unread(value: exact_json.UnreadNumber) -> ValueError:
    return ValueError(value.reason)


def _shown(text: str) -> str:
    """A refused text as a message may quote it: itself when short and plain, else not."""
    plain = len(text) <= exact_json.NUMERAL_CHARS_MAX and text.isascii() and text.isprintable()
    return f'"{text}"' if plain else "the text"


def _decimal(value: Any) -> Decimal:
    """`value` as a Decimal of at most NUMERAL_CHARS_MAX digits, or ValueError naming why."""
    if isinstance(value, exact_json.UnreadNumber):
        raise _unread(value)
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError("should be a number")
    if isinstance(value, str):
        problem = exact_json.numeral_problem(value)
        if problem is not None:
            raise ValueError(f"{_shown(value)} {problem}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError("should be a finite number")
    return number


def _exact(decimals: int) -> Any:
    """A decimal of at most `decimals` decimals, checked in an order that never costs: its
    length first (`_decimal`), its range before any quantize (quantize of 1e30 to 4 decimals
    is an InvalidOperation). Returned with at most `decimals` places: `1.000000000` is `1.0000`,
    so what is stored and echoed is bounded whatever zeros were sent."""
    step = Decimal(1).scaleb(-decimals)

    def read(value: Any) -> Any:
        number = _decimal(value)
        if abs(number) >= AMOUNT_LIMIT:
            raise ValueError("is out of range")
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # a finite number's
        if exponent < -decimals:
            kept = number.quantize(step, rounding="ROUND_DOWN")
            if kept != number:
                raise ValueError(f"has more than {decimals} decimals")
            return kept
        if exponent > 0:
            return number.quantize(Decimal(1))
        return number

    return BeforeValidator(read)


def _whole(value: Any) -> Any:
    """A count: a JSON integer (or a string of its digits), never `true`, `1.0` nor "１"."""
    if isinstance(value, exact_json.UnreadNumber):
        raise _unread(value)
    if isinstance(value, str):
        problem = exact_json.numeral_problem(value)
        if problem is None and "." not in value:
            return int(value)
        raise ValueError(f"{_shown(value)} is not a whole number")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("should be a whole number")
    return value


PlatformTime = Annotated[datetime, BeforeValidator(_time_text)]
Amount = Annotated[Decimal, _exact(2)]
"""An amount: at most 2 decimals."""
Count = Annotated[Decimal, _exact(4)]
"""`cnt`: at most 4 decimals."""
Price = Annotated[Decimal, _exact(6)]
"""`pric`: at most 6 decimals."""
Code = Annotated[StrictStr, Field(min_length=1, max_length=30, pattern=ID_PATTERN)]
"""An id of the interface (psn_no, mdtrt_id, setl_id, feedetl_sn): onestop's id form."""
Text = Annotated[StrictStr, Field(max_length=200, pattern=VISIBLE_PATTERN)]
Diagnosis = Annotated[StrictStr, Field(min_length=1, max_length=16, pattern=VISIBLE_PATTERN)]


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


CertificateNo = Annotated[StrictStr, Field(min_length=1, max_length=18, pattern=VISIBLE_PATTERN)]
"""就诊凭证编号 of type 02: the person's resident ID number."""


class PersonQuery(_Input):
    mdtrt_cert_type: Literal["02"]
    """就诊凭证类型 02: the resident identity card (the only one onestop's registry holds)."""
    mdtrt_cert_no: CertificateNo
    psn_name: Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=VISIBLE_PATTERN)]
    """The person's name with the ID number, as the platform requires: a number alone tells a
    stranger nothing (the answer is the same for no person, several, and another name)."""


class In1101(_Input):
    data: PersonQuery


class Admission(_Input):
    psn_no: Code
    insutype: Literal["390"]
    begntime: PlatformTime
    mdtrt_cert_type: Literal["02"]
    mdtrt_cert_no: CertificateNo
    """The person's ID number, as the platform asks a credential at admission: a psn_no alone
    opens no stay, so it reveals nobody's data (INTEROP.md, "Additions")."""
    med_type: Literal["21"]
    ipt_no: Annotated[StrictStr, Field(min_length=1, max_length=30, pattern=VISIBLE_PATTERN)]
    adm_diag_dscr: Text = ""
    filing: Filing | None = None
    """onestop's own field: the 备案类别 of a cross-region stay (rules §12), which the platform
    reads from its filing registry and onestop has not got."""


class DiagnosisIn(_Input):
    diag_code: Diagnosis
    maindiag_flag: Literal["0", "1"] = "0"
    diag_srt_no: Annotated[int, BeforeValidator(_whole), Field(ge=0, le=999)] = 0

    @field_validator("diag_code")
    @classmethod
    def _settleable(cls, code: str) -> str:
        """Refused when it is sent, by the engine's own rule: a stay admitted with a diagnosis
        the claim would refuse took no line until its discharge named another."""
        wrong = diagnosis_problem(code)
        if wrong is not None:
            raise ValueError(wrong)
        return code


class In2401(_Input):
    mdtrtinfo: Admission
    diseinfo: Annotated[list[DiagnosisIn], Field(min_length=1, max_length=50)]


class FeeLine(_Input):
    feedetl_sn: Code
    mdtrt_id: Code
    psn_no: Code
    fee_ocur_time: PlatformTime
    med_list_codg: Annotated[StrictStr, Field(min_length=1, max_length=32, pattern=VISIBLE_PATTERN)]
    medins_list_codg: Annotated[StrictStr, Field(max_length=150, pattern=VISIBLE_PATTERN)] = ""
    det_item_fee_sumamt: Amount
    cnt: Count
    pric: Price
    init_feedetl_sn: Annotated[StrictStr, Field(max_length=30, pattern=VISIBLE_PATTERN)] = ""
    memo: Annotated[StrictStr, Field(max_length=500, pattern=VISIBLE_PATTERN)] = ""
    """备注: the HIS's own note of the line (often its own id of the fee), answered back in
    2301's `result[].memo`; 500 characters, the platform's length."""


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
    dise_codg: Annotated[StrictStr, Field(max_length=16, pattern=VISIBLE_PATTERN)] = ""
    oprn_oprt_code: Annotated[StrictStr, Field(max_length=30, pattern=VISIBLE_PATTERN)] = ""
    dscg_way: Annotated[StrictStr, Field(max_length=6, pattern=VISIBLE_PATTERN)] = ""


class AdmissionChange(_Input):
    """2403's `adminfo`: what of the admission changes; a field not sent stays as it is."""

    mdtrt_id: Code
    psn_no: Code
    begntime: PlatformTime | None = None
    adm_diag_dscr: Text | None = None
    filing: Filing | None = None
    """A cross-region stay's 备案类别, corrected (an in-region stay has none)."""


class In2403(_Input):
    adminfo: AdmissionChange
    diseinfo: Annotated[list[DiagnosisIn], Field(max_length=50)] = []
    """The admission's diagnoses, all of them, replacing those sent with 2401; none (absent or
    `[]`, as a HIS sending its whole admission record may), the diagnoses stay."""


class EncounterRef(_Input):
    mdtrt_id: Code
    psn_no: Code


class In2404(_Input):
    """2404 cancels an admission, 2405 a discharge: `data` names the encounter."""

    data: EncounterRef


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
    setl_optins: Annotated[StrictStr, Field(pattern=r"^([0-9]{6})?$")] = ""
    """清算经办机构: the insured region whose settlements are compared; empty, all of them."""
    stmt_begndate: IsoDate
    stmt_enddate: IsoDate
    medfee_sumamt: Amount
    fund_pay_sumamt: Amount
    acct_pay: Amount
    fixmedins_setl_cnt: Annotated[int, BeforeValidator(_whole), Field(ge=0)]


class In3201(_Input):
    data: Statement


INPUTS: Final[dict[str, type[_Input]]] = {
    "1101": In1101,
    "2401": In2401,
    "2403": In2403,
    "2404": In2404,
    "2301": In2301,
    "2302": In2302,
    "2402": In2402,
    "2405": In2404,
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
    """An amount in fen as a JSON number with two decimals: every amount of every answer is
    one, never null nor "" (clients read each with `new BigDecimal(text)` or into a
    non-nullable decimal)."""
    return exact_json.number(format_fen(fen))


def rate(ppm: int) -> orjson.Fragment:
    """A rate in millionths as a JSON number with 4 decimals (`selfpay_prop`,
    `pool_prop_selfpay`: the platform's 5,4)."""
    return exact_json.number(format(Decimal(ppm) / SCALE, ".4f"))


def count(cnt: Decimal) -> orjson.Fragment:
    """`cnt` as a JSON number with 4 decimals (the platform's 16,4); it has no more."""
    return exact_json.number(format(cnt.quantize(Decimal("0.0001")), "f"))


def price(pric: Decimal) -> orjson.Fragment:
    """`pric` or `pric_uplmt_amt` as a JSON number with 6 decimals (the platform's 16,6)."""
    return exact_json.number(format(pric.quantize(Decimal("0.000001")), "f"))


def platform_time(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def line_split(item: CatalogItem, figures: dict[str, int], pric: Decimal) -> dict[str, Any]:
    """A fee line's step-1 figures as 2301 answers them (`figures` in fen). `pric_uplmt_amt`
    is the catalog's price cap; a line whose item has none is capped by nothing but its own
    price, so it answers `pric` (the platform's field is required, a client's decimal too)."""
    ratio = item.selfpay_ratio_ppm
    proportion = {ItemClass.A: 0, ItemClass.B: ratio or 0, ItemClass.C: SCALE}[item.item_class]
    cap = item.unit_price_cap_micro
    return {
        "pric_uplmt_amt": price(pric if cap is None else Decimal(format_ppm_price(cap))),
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
            "cvlserv_flag": "0",
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
            # A settlement stored before onestop kept the rate has none: 0, never null.
            "pool_prop_selfpay": rate(basic.rate_ppm or 0),
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
    what it paid (negated for the reversal), its Chinese name and its explanation.

    `crt_payb_lmt_amt` (本次可支付限额金额, what the fund may pay this claim at most) is never
    null: a capped fund's cap left before this claim; a fund without an annual cap (critical
    illness, charity) is bounded by nothing but what it looked at, so it answers its base
    (`inscp_scp_amt`) — the most it could have paid of this claim."""
    sign = -1 if reversal else 1
    return [
        {
            "fund_pay_type": step.fund_code,
            "inscp_scp_amt": amount(step.base_fen),
            "crt_payb_lmt_amt": amount(
                step.base_fen if step.cap_remaining_fen is None else step.cap_remaining_fen
            ),
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
    inf_refmsgid: Annotated[str, Field(pattern=r"^[0-9]{30}$")]
    """The answer's id: the answering region's code (6), `yyyyMMddHHmmss`, a serial (10)."""
    refmsg_time: Annotated[str, Field(pattern=r"^[0-9]{17}$")]
    """When the message was received, `yyyyMMddHHmmssSSS` (the business zone's wall clock)."""
    respond_time: Annotated[str, Field(pattern=r"^[0-9]{17}$")]
    """When it was answered, `yyyyMMddHHmmssSSS`."""
    err_msg: str
    """Every problem of a refused message, `; `-separated; empty when answered."""
    warn_msg: str
    """Warnings of an answered message (2301: the rule findings and refund notes of its lines,
    each naming its `feedetl_sn`), `; `-separated; empty when there are none."""
    output: dict[str, Any]
