"""POST /v1/nhsa: numbers and text the platform does not write, and the messages that were
answered with a 500 (issue 19, sections 1, 3 and 5), on both databases.

A number is read only when it is a plain numeral of a bounded length: an exponent, more than
`NUMERAL_CHARS_MAX` characters, or text `Decimal` reads but the platform does not write ("１",
"1_0", " 1 ") is refused by the field's name before any arithmetic, and a count is never
`true`. A field onestop ignores may hold anything: its message is answered as usual. The msgid
hash reads what onestop read, so the same values written another way are the same message.
Every refusal is infcode -1 naming the field, and writes nothing.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import pytest
from pydantic_core import SchemaValidator, ValidationError
from sqlalchemy import select

from api.core import exact_json
from api.core import nhsa as platform
from api.core.config import Settings
from api.db.engine import make_engine
from api.db.tables import ENCOUNTER_LINE
from loadtests.nhsa import dumps as json_body
from tests.support.db import row_counts
from tests.support.nhsa import His, envelope, exact
from tests.support.world import World

RAW = "\x00raw\x00"
"""Stands in a message for bytes JSON cannot write from Python (`1e999999`, a lone surrogate):
`with_raw` puts them in its place."""
EXPONENT = "is written with an exponent"
TOO_LONG = "has more than 40 characters"
NOT_PLAIN = "should be a number written with the digits 0-9 and a point, as 12.50"


def shown(raw: bytes) -> str:
    """A test id for the JSON `raw`: itself, or its start and length when long."""
    text = raw.decode(errors="replace")
    return text if len(text) <= 20 else f"{text[:12]}…({len(text)} chars)"


def his_of(world: World) -> His:
    return His(world, world.hospitals[3], world.hospital_headers(3))


def with_raw(body: dict[str, Any], raw: bytes) -> bytes:
    """The message as JSON with `raw` written wherever `RAW` is."""
    data = json_body(body)
    marker = json_body(RAW)
    assert marker in data
    return data.replace(marker, raw)


def answer_of(his: His, body: bytes) -> Any:
    response = his.post(body)
    assert response.status_code == 200, response.text
    return exact(response)


def refused(his: His, settings: Settings, body: bytes, *named: str) -> str:
    """Send a message that must be refused: infcode -1 naming each of `named`, nothing written."""
    before = row_counts(settings)
    answer = answer_of(his, body)
    assert answer["infcode"] == -1, answer
    for text in named:
        assert text in answer["err_msg"], (text, answer["err_msg"])
    assert row_counts(settings) == before, "a refused message wrote something"
    return str(answer["err_msg"])


def admitted(his: His) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """A claim, the encounter admitted for it, and its lines as 2301 sends them."""
    claim = his.world.claim("e2")
    mdtrt_id = his.admit(claim)
    return claim, mdtrt_id, his.fee_lines(claim, mdtrt_id)


def admission_input(his: His, claim: dict[str, Any]) -> dict[str, Any]:
    """A 2401 input for `claim` as the HIS sends it, under a new stay number (its last 2401,
    which `admitted` sent)."""
    sent = his.sent[-1]
    assert sent["infno"] == "2401"
    data: dict[str, Any] = sent["input"]
    return {**data, "mdtrtinfo": {**data["mdtrtinfo"], "ipt_no": f"ZY{secrets.token_hex(4)}"}}


# ---------------------------------------------------------------- numbers in fields read

NUMERALS = [
    # field of a fee line, the JSON written there, the problem named
    ("cnt", b"1e30", EXPONENT),
    ("cnt", b'"1e30"', f'"1e30" {EXPONENT}'),
    ("pric", b"1e309", EXPONENT),
    ("det_item_fee_sumamt", b"1e30", EXPONENT),
    ("det_item_fee_sumamt", b"1" * 4_000, TOO_LONG),
    ("pric", b'"' + b"1" * 4_000 + b'"', f"the text {TOO_LONG}"),
    ("cnt", b"1" * 30, "is out of range"),
    ("pric", b'"' + b"1" * 30 + b'"', "is out of range"),
    ("det_item_fee_sumamt", b"100000000000000.00", "is out of range"),
    ("cnt", b"0E-999999", EXPONENT),
    ("pric", b"0E-999999", EXPONENT),
    ("pric", b"45.0e0", EXPONENT),
    ("cnt", '"１１"'.encode(), f"the text {NOT_PLAIN}"),
    ("cnt", b'"1_1"', f'"1_1" {NOT_PLAIN}'),
    ("cnt", b'" 11 "', f'" 11 " {NOT_PLAIN}'),
    ("cnt", b'"+11"', f'"+11" {NOT_PLAIN}'),
    ("cnt", b'"011"', f'"011" {NOT_PLAIN}'),
    ("pric", b'"45.00\\n"', f"the text {NOT_PLAIN}"),
    ("pric", b'"NaN"', f'"NaN" {NOT_PLAIN}'),
    ("cnt", b"true", "should be a number"),
    ("cnt", b"11.00001", "has more than 4 decimals"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "raw", "problem"), NUMERALS, ids=[f"{f}={shown(r)}" for f, r, _ in NUMERALS]
)
def test_a_number_the_platform_does_not_write_is_refused_by_its_field_before_any_arithmetic(
    world: World, settings: Settings, field: str, raw: bytes, problem: str
) -> None:
    his = his_of(world)
    _claim, _mdtrt_id, lines = admitted(his)
    line = {**lines[0], field: RAW}
    body = with_raw(envelope(his.hospital_id, "2301", {"feedetail": [line]}), raw)
    refused(his, settings, body, f"input.feedetail[0].{field}: {problem}")


COUNTS = [
    # (infno, where the count is, the JSON written there, the problem named)
    ("2401", "diag_srt_no", b"true", "should be a whole number"),
    ("2401", "diag_srt_no", '"１"'.encode(), "the text is not a whole number"),
    ("2401", "diag_srt_no", b'"1_0"', '"1_0" is not a whole number'),
    ("2401", "diag_srt_no", b"1.5", "should be a whole number"),
    ("2401", "diag_srt_no", b"1" * 4_000, TOO_LONG),
    ("3201", "fixmedins_setl_cnt", b"true", "should be a whole number"),
    ("3201", "fixmedins_setl_cnt", b'" 1 "', '" 1 " is not a whole number'),
    ("3201", "fixmedins_setl_cnt", b"1e999999", EXPONENT),
]


@pytest.mark.parametrize(
    ("infno", "field", "raw", "problem"), COUNTS, ids=[f"{f}={shown(r)}" for _, f, r, _ in COUNTS]
)
def test_a_count_is_a_whole_number_never_true_nor_text_python_would_read(
    world: World, settings: Settings, infno: str, field: str, raw: bytes, problem: str
) -> None:
    his = his_of(world)
    claim, _mdtrt_id, _lines = admitted(his)
    if infno == "2401":
        data = admission_input(his, claim)
        data["diseinfo"] = [{**data["diseinfo"][0], "diag_srt_no": RAW}]
        place = "input.diseinfo[0].diag_srt_no"
    else:
        statement = {
            "insutype": "390", "clr_type": "21", "stmt_begndate": "2018-03-01",
            "stmt_enddate": "2018-03-31", "medfee_sumamt": 0, "fund_pay_sumamt": 0,
            "acct_pay": 0, "fixmedins_setl_cnt": RAW,
        }  # fmt: skip
        data, place = {"data": statement}, "input.data.fixmedins_setl_cnt"
    refused(his, settings, with_raw(envelope(his.hospital_id, infno, data), raw),
            f"{place}: {problem}")  # fmt: skip


def test_a_count_with_many_zero_decimals_is_stored_bounded_and_both_databases_answer_alike(
    world: World, settings: Settings
) -> None:
    """`1.000000000000000000000000` is 1 (4 decimals at most: only zeros beyond), and a price
    of 33 characters is 45: stored as `1.0000` and `45.000000`. The first is billed (its 24
    decimals broke the claim's pattern: a 500), the second refunded to zero in the same message
    (PostgreSQL's 32-character column overflowed where SQLite stored it: a 500 on one only)."""
    his = his_of(world)
    _claim, _mdtrt_id, lines = admitted(his)
    assert (lines[0]["cnt"], lines[0]["pric"]) == (Decimal(11), Decimal("45.00"))
    billed = {**lines[0], "cnt": RAW}
    long_price = "\x00price\x00"
    charged = {**lines[0], "feedetl_sn": "X0001", "cnt": Decimal(1), "pric": long_price,
               "det_item_fee_sumamt": Decimal("45.00")}  # fmt: skip
    refund = {**charged, "feedetl_sn": "X0002", "cnt": Decimal(-1), "init_feedetl_sn": "X0001",
              "det_item_fee_sumamt": Decimal("-45.00")}  # fmt: skip
    feedetail = [billed, charged, refund, *lines[1:]]
    body = with_raw(envelope(his.hospital_id, "2301", {"feedetail": feedetail}), b"11." + b"0" * 24)
    body = body.replace(json_body(long_price), b"45." + b"0" * 30)
    answer = answer_of(his, body)
    assert answer["infcode"] == 0, answer["err_msg"]
    engine = make_engine(settings)
    with engine.connect() as connection:
        stored = {
            row.feedetl_sn: (row.cnt, row.pric)
            for row in connection.execute(
                select(ENCOUNTER_LINE).where(ENCOUNTER_LINE.c.mdtrt_id == lines[0]["mdtrt_id"])
            )
        }
    engine.dispose()
    assert stored[lines[0]["feedetl_sn"]] == ("11.0000", "45.00")
    assert stored["X0001"] == ("1", "45.000000")
    assert stored["X0002"] == ("-1", "45.000000")
    assert all(len(cnt) <= 22 and len(pric) <= 22 for cnt, pric in stored.values())


# ---------------------------------------------------------------- fields onestop ignores

JUNK = [
    ("an integer above 2^64", str(2**64 + 1).encode()),
    ("an integer of 4,000 digits", b"9" * 4_000),
    ("an integer of 5,000 digits (above Python's int limit)", b"9" * 5_000),
    ("1e999999", b"1e999999"),
    ("1e1000000", b"1e1000000"),
    ("0E-999999", b"0E-999999"),
    ("a lone surrogate", b'"\\udfff"'),
    ("a lone surrogate as a key", b'{"\\udfff": "\\udfff"}'),
    ("all of them, many times",
     b"[" + b",".join([b"1e999999", b"9" * 5_000, b'"\\udfff"', str(2**70).encode()] * 200) + b"]"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "raw"), JUNK, ids=[name for name, _ in JUNK])
def test_a_field_onestop_ignores_may_hold_any_number_or_text_and_is_answered_as_usual(
    world: World, settings: Settings, name: str, raw: bytes
) -> None:
    """The msgid hash once wrote the raw input out: a 500 for each of these, and a megabyte
    for each 1e999999. It reads only what onestop read."""
    his = his_of(world)
    claim, _mdtrt_id, _lines = admitted(his)
    data = {**admission_input(his, claim), "junk": RAW}
    data["mdtrtinfo"] = {**data["mdtrtinfo"], "ignored_too": RAW}
    body = with_raw(envelope(his.hospital_id, "2401", data), raw)
    before = row_counts(settings)
    answer = answer_of(his, body)
    assert answer["infcode"] == 0, (name, answer["err_msg"])
    assert row_counts(settings)["encounter"] == before["encounter"] + 1
    assert answer_of(his, body) == answer  # the same msgid again: the same answer


# ---------------------------------------------------------------- text

INVISIBLE = {
    "a zero-width space": "\u200b",
    "a right-to-left override": "\u202e",
    "a byte order mark": "\ufeff",
    "a zero-width joiner": "\u200d",
    "a line separator": "\u2028",
    "a C1 control": "\x85",
}
TEXT_FIELDS = [
    # (infno, field as the problem names it)
    ("2401", "input.mdtrtinfo.ipt_no"),
    ("2401", "input.mdtrtinfo.adm_diag_dscr"),
    ("2301", "input.feedetail[0].medins_list_codg"),
    ("2301", "input.feedetail[0].med_list_codg"),
]


def text_message(his: His, infno: str, field: str, value: bytes) -> bytes:
    """A message of `infno` with `value` (JSON) written in `field`."""
    claim, _mdtrt_id, lines = admitted(his)
    name = field.rsplit(".", 1)[1]
    if infno == "2401":
        data = admission_input(his, claim)
        data["mdtrtinfo"] = {**data["mdtrtinfo"], name: RAW}
    else:
        data = {"feedetail": [{**lines[0], name: RAW}]}
    return with_raw(envelope(his.hospital_id, infno, data), value)


@pytest.mark.parametrize("kind", list(INVISIBLE))
@pytest.mark.parametrize(("infno", "field"), TEXT_FIELDS)
def test_zero_width_bidi_and_control_characters_are_refused_in_text_the_interface_keeps(
    world: World, settings: Settings, infno: str, field: str, kind: str
) -> None:
    """Two stays `ZY1` and `ZY1` + U+200B look the same and were two encounters."""
    his = his_of(world)
    value = json_body(f"ZY1{INVISIBLE[kind]}2")
    refused(his, settings, text_message(his, infno, field, value), f"{field}: String should match")


@pytest.mark.parametrize(("infno", "field"), TEXT_FIELDS)
def test_a_lone_surrogate_in_text_the_interface_keeps_is_refused_by_name(
    world: World, settings: Settings, infno: str, field: str
) -> None:
    """No UTF-8 writes it: a looser type would store it (PostgreSQL refuses it) or echo it
    (orjson refuses it), each a 500. Refused as before; in an ignored field it is no matter
    (the msgid hash wrote it out: a 500, see the ignored fields above)."""
    his = his_of(world)
    body = text_message(his, infno, field, b'"ZY1\\udfff"')
    refused(his, settings, body, f"{field}: Input should be a valid string")


def _str_schemas(schema: Any) -> list[dict[str, Any]]:
    """Every `str` schema inside a pydantic core schema."""
    if isinstance(schema, list):
        return [found for item in schema for found in _str_schemas(item)]
    if not isinstance(schema, dict):
        return []
    own = [schema] if schema.get("type") == "str" else []
    return own + [found for value in schema.values() for found in _str_schemas(value)]


def test_every_text_field_of_every_message_refuses_invisible_characters_and_surrogates() -> None:
    """Whatever field a message gains, its text is refused the same way (a pattern that
    omitted `VISIBLE_PATTERN` would take U+200B)."""
    schemas = [
        schema
        for model in set(platform.INPUTS.values())
        for schema in _str_schemas(model.__pydantic_core_schema__)
    ]
    assert len(schemas) >= 20
    for schema in schemas:
        validator = SchemaValidator(schema)
        sample = next(text for text in ("A1", "220000", "1") if _valid(validator, text))
        for character in [*INVISIBLE.values(), "\udfff"]:
            with pytest.raises(ValidationError):
                validator.validate_python(f"{sample[0]}{character}{sample[1:]}")


def _valid(validator: SchemaValidator, text: str) -> bool:
    try:
        validator.validate_python(text)
    except ValidationError:
        return False
    return True


# ---------------------------------------------------------------- times, catalog items

YEAR_ONE = "0001-01-01 00:00:00"


@pytest.mark.parametrize("moment", [YEAR_ONE, "1899-12-31 23:59:59", "2100-01-01 00:00:00"])
@pytest.mark.parametrize("field", ["begntime", "fee_ocur_time"])
def test_a_time_outside_the_platforms_years_is_refused_by_name(
    world: World, settings: Settings, field: str, moment: str
) -> None:
    """Year 1 in China Standard Time is before datetime's first moment in UTC: converting it
    raised OverflowError (a 500)."""
    his = his_of(world)
    claim, _mdtrt_id, lines = admitted(his)
    if field == "begntime":
        data = admission_input(his, claim)
        data["mdtrtinfo"] = {**data["mdtrtinfo"], "begntime": moment}
        body, place = envelope(his.hospital_id, "2401", data), "input.mdtrtinfo.begntime"
    else:
        body = envelope(his.hospital_id, "2301", {"feedetail": [{**lines[0], field: moment}]})
        place = "input.feedetail[0].fee_ocur_time"
    refused(his, settings, json_body(body), f"{place}: is not in the years 1900 to 2099")


@pytest.mark.parametrize("refunded", [True, False], ids=["refunded to zero", "billed"])
def test_an_unknown_item_code_is_refused_by_name_whether_or_not_a_refund_nets_it_to_zero(
    world: World, settings: Settings, refunded: bool
) -> None:
    """Refunded to zero in the same 2301, the line left the claim, so the engine never looked
    its code up; the line's answer did (a KeyError, a 500)."""
    his = his_of(world)
    _claim, _mdtrt_id, lines = admitted(his)
    unknown = {**lines[0], "feedetl_sn": "U0001", "med_list_codg": "ZZ9999"}
    refund = {**unknown, "feedetl_sn": "U0002", "cnt": -unknown["cnt"],
              "det_item_fee_sumamt": -unknown["det_item_fee_sumamt"], "init_feedetl_sn": "U0001"}  # fmt: skip
    feedetail = [*lines, unknown, *([refund] if refunded else [])]
    body = json_body(envelope(his.hospital_id, "2301", {"feedetail": feedetail}))
    named = (
        f"input.feedetail[{len(lines)}].med_list_codg: ZZ9999 is not in the catalog"
        if refunded
        else "feedetl_sn U0001.item_code"
    )
    refused(his, settings, body, named)


# ---------------------------------------------------------------- the same message, msgid

SPELLINGS = [
    # another spelling of the first line's cnt, pric and amount (11 × 45.00 = 495.00)
    {"cnt": "11", "pric": "45.00", "det_item_fee_sumamt": "495.00"},
    {"cnt": Decimal("11.0"), "pric": Decimal("45.0"), "det_item_fee_sumamt": Decimal("495")},
    {"cnt": "11.0000", "pric": "45.000000", "det_item_fee_sumamt": 495},
    {"cnt": 11, "pric": Decimal("45"), "det_item_fee_sumamt": "495.0", "med_type": "99"},
]


@pytest.mark.parametrize("spelling", SPELLINGS, ids=["strings", "decimals", "padded", "ignored"])
def test_a_resend_with_the_same_values_written_another_way_is_the_same_message(
    world: World, settings: Settings, spelling: dict[str, Any]
) -> None:
    """`10.0` for `10`, `"3.50"` for `3.50`, a field onestop ignores changed: the same message,
    answered byte for byte (they were refused as another message)."""
    his = his_of(world)
    _claim, _mdtrt_id, lines = admitted(his)
    assert (lines[0]["cnt"], lines[0]["pric"]) == (Decimal(11), Decimal("45.00"))
    first = envelope(his.hospital_id, "2301", {"feedetail": lines})
    answered = his.post(first)
    assert exact(answered)["infcode"] == 0, answered.text
    before = row_counts(settings)
    again = {**first, "input": {"feedetail": [{**lines[0], **spelling}, *lines[1:]]}}
    resent = his.post(again)
    assert resent.content == answered.content
    assert row_counts(settings) == before


def test_another_value_under_the_same_msgid_is_another_message(
    world: World, settings: Settings
) -> None:
    his = his_of(world)
    _claim, _mdtrt_id, lines = admitted(his)
    first = envelope(his.hospital_id, "2301", {"feedetail": lines})
    assert exact(his.post(first))["infcode"] == 0
    changed = {**lines[0], "cnt": Decimal("11.0001"), "det_item_fee_sumamt": Decimal("495.00")}
    again = {**first, "input": {"feedetail": [changed, *lines[1:]]}}
    refused(his, settings, json_body(again), f"msgid: {first['msgid']} was already used")


def test_a_msgid_used_for_one_transaction_is_refused_for_another_with_the_same_input(
    world: World, settings: Settings
) -> None:
    """2305 cancels a settlement under msgid M; a 2304 under M with the very same input (it
    holds all 2304 reads) must not be answered the 2305's answer: infno is part of the message."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    settled = his.ok("2304", his.settle_data(claim, mdtrt_id))
    data = his.settle_data(claim, mdtrt_id)
    data["data"]["setl_id"] = settled["setlinfo"]["setl_id"]
    cancel = envelope(his.hospital_id, "2305", data)
    assert exact(his.post(cancel))["infcode"] == 0
    resettle = envelope(his.hospital_id, "2304", data, msgid=cancel["msgid"])
    refused(his, settings, json_body(resettle),
            f"msgid: {cancel['msgid']} was already used for another message (infno 2305)")  # fmt: skip


def test_2404_and_2405_read_one_input_and_never_share_a_msgid(
    world: World, settings: Settings
) -> None:
    """2404 and 2405 read the same `data {mdtrt_id, psn_no}`: the msgid of one is no answer
    to the other (a hash of the input alone would make them one message)."""
    assert platform.INPUTS["2404"] is platform.INPUTS["2405"]
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.stay(claim)
    data = {"data": {"mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]}}
    sent = envelope(his.hospital_id, "2405", data)
    assert exact(his.post(sent))["infcode"] == 0
    other = envelope(his.hospital_id, "2404", data, msgid=sent["msgid"])
    refused(his, settings, json_body(other), f"msgid: {sent['msgid']} was already used")


# ---------------------------------------------------------------- the body's encoding


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", '"gbk"', "utf-16"])
def test_a_body_its_sender_says_is_not_utf8_is_refused_415(
    world: World, settings: Settings, charset: str
) -> None:
    his = his_of(world)
    claim, _mdtrt_id, _lines = admitted(his)
    body = json_body(envelope(his.hospital_id, "2401", admission_input(his, claim)))
    before = row_counts(settings)
    response = world.client.post(
        "/v1/nhsa", content=body,
        headers={**his.headers, "Content-Type": f"application/json; charset={charset}"},
    )  # fmt: skip
    assert response.status_code == 415, response.text
    assert response.json()["errors"][0]["loc"] == ["header", "content-type"]
    assert row_counts(settings) == before


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_a_body_said_to_be_utf8_is_read(world: World, charset: str) -> None:
    his = his_of(world)
    claim, _mdtrt_id, _lines = admitted(his)
    body = json_body(envelope(his.hospital_id, "2401", admission_input(his, claim)))
    response = world.client.post(
        "/v1/nhsa", content=body,
        headers={**his.headers, "Content-Type": f"application/json;charset={charset}"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert exact(response)["infcode"] == 0


def test_a_body_that_is_not_utf8_is_refused(world: World, settings: Settings) -> None:
    his = his_of(world)
    claim, _mdtrt_id, _lines = admitted(his)
    data = admission_input(his, claim)
    data["mdtrtinfo"] = {**data["mdtrtinfo"], "adm_diag_dscr": RAW}
    latin1 = with_raw(
        envelope(his.hospital_id, "2401", data), '"Pneumonie aiguë"'.encode("latin-1")
    )
    refused(his, settings, latin1, "the body is not UTF-8")
    utf16 = json_body(envelope(his.hospital_id, "2401", admission_input(his, claim)))
    refused(his, settings, utf16.decode().encode("utf-16"), "the body is not")


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_bare_nan_or_infinity_is_no_json_number_and_the_body_is_refused(
    world: World, settings: Settings, constant: bytes
) -> None:
    """Python's JSON reader takes these words as numbers; JSON has none of them."""
    his = his_of(world)
    _claim, _mdtrt_id, lines = admitted(his)
    body = with_raw(
        envelope(his.hospital_id, "2301", {"feedetail": [lines[0] | {"pric": RAW}]}), constant
    )
    refused(his, settings, body, f"{constant.decode().lstrip('-')} is not a JSON number")


def test_an_exact_decimal_is_written_with_its_digits_and_nothing_else_is_json() -> None:
    assert exact_json.dumps({"amount": Decimal("45.10"), "count": Decimal("11")}) == (
        b'{"amount":45.10,"count":11}'
    )
    with pytest.raises(TypeError) as raised:
        exact_json.dumps({"what": object()})
    assert str(raised.value.__cause__) == "object is not JSON"
