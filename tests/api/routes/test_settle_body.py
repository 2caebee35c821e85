"""The settle route reads its claim in one step from the body's bytes (api.core.body, issue 10);
the preview route still takes it as FastAPI's body parameter, in two steps. For every bad body
the two must answer alike: the same status, the same problem, the same headers, and in the
same order against the API key check (a body that is not JSON is refused before the key is
looked at, a JSON body that is not a claim after it). Settle must write nothing for any of them.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.core.config import Settings
from api.core.contract import ClaimIn
from tests.support.db import row_counts
from tests.support.world import EXAMPLES, World, make_world

SETTLE = "/v1/settlements"
PREVIEW = "/v1/settlements/preview"
JSON = "application/json"
MIB = 1024 * 1024

Claim = dict[str, Any]
Body = Callable[[Claim], bytes]


def dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def raw(data: bytes) -> Body:
    return lambda _: data


def claim_with(**changes: Any) -> Body:
    return lambda claim: dumps({**claim, **changes})


def claim_without(*names: str) -> Body:
    return lambda claim: dumps({k: v for k, v in claim.items() if k not in names})


def line_with(**changes: Any) -> Body:
    return lambda claim: dumps({**claim, "items": [{**claim["items"][0], **changes}]})


def line_no_token(token: bytes) -> Body:
    """The first line's number written as a bare JSON token (NaN, 1e400, 5,000 digits)."""

    def build(claim: Claim) -> bytes:
        text = dumps({**claim, "items": [{**claim["items"][0], "line_no": 7}]})
        assert text.count(b'"line_no": 7') == 1
        return text.replace(b'"line_no": 7', b'"line_no": ' + token)

    return build


def in_claim_id(raw_text: bytes) -> Body:
    """Raw bytes written inside the claim id's JSON string, as sent (not escaped)."""

    def build(claim: Claim) -> bytes:
        text = dumps(claim)
        written = b'"claim_id": "' + claim["claim_id"].encode()
        return text.replace(written, written + raw_text, 1)

    return build


def encoded(codec: str, body: Body) -> Body:
    return lambda claim: body(claim).decode().encode(codec)


def with_bom(body: Body) -> Body:
    return lambda claim: codecs.BOM_UTF8 + body(claim)


def duplicate_key(name: str, first: Any, last: Any) -> Body:
    def build(claim: Claim) -> bytes:
        rest = {k: v for k, v in claim.items() if k != name}
        head = json.dumps({name: first})[:-1].encode()
        tail = json.dumps({name: last})[1:].encode()
        return head + b", " + dumps(rest)[1:-1] + b", " + tail

    return build


def nested(depth: int) -> Body:
    return lambda claim: dumps({**claim, "items": json.loads("[" * depth + "]" * depth)})


LINE_OF_WRONG_TYPES = {
    "line_no": "1",
    "item_code": 5,
    "quantity": 11,
    "unit_price": [],
    "amount": {},
}

# fmt: off
BAD_BODIES: list[tuple[str, Body]] = [
    # Not JSON at all: FastAPI refuses these while reading the body.
    ("malformed json",                  raw(b'{"claim_id": "ZY1", "items": [')),
    ("trailing garbage",                lambda claim: dumps(claim) + b" trailing"),
    ("trailing comma",                  lambda claim: dumps(claim)[:-1] + b",}"),
    ("trailing nul",                    lambda claim: dumps(claim) + b"\x00"),
    ("single quotes",                   raw(b"{'claim_id': 'ZY1'}")),
    ("a comment",                       lambda claim: b"/* claim */" + dumps(claim)),
    ("whitespace only",                 raw(b" \n\t ")),
    ("a nul byte",                      raw(b"\x00")),
    ("not utf-8 in a string",           in_claim_id(b"\xff\xfe")),
    ("not utf-8 at the start",          lambda claim: b"\xff" + dumps(claim)),
    ("latin-1 text",                    encoded("latin-1", claim_with(claim_id="Zürich"))),
    ("raw control character",           in_claim_id(b"\x01")),
    ("raw tab in a string",             in_claim_id(b"\t")),
    ("invalid escape",                  in_claim_id(b"\\x41")),
    ("leading zero",                    line_no_token(b"01")),
    ("plus sign",                       line_no_token(b"+1")),
    ("integer of 5,000 digits",         line_no_token(b"9" * 5000)),
    ("10,000 nested arrays",            raw(b"[" * 10_000 + b"]" * 10_000)),
    ("10,000 nested objects",           raw(b'{"a":' * 10_000 + b"1" + b"}" * 10_000)),
    # JSON, but not a claim.
    ("empty body",                      raw(b"")),
    ("json null",                       raw(b"null")),
    ("json array",                      raw(b"[]")),
    ("the claim in an array",           lambda claim: dumps([claim])),
    ("json string",                     raw(b'"ZY1"')),
    ("json number",                     raw(b"5")),
    ("json true",                       raw(b"true")),
    ("empty object",                    raw(b"{}")),
    ("missing field",                   claim_without("surgery")),
    ("missing fields",                  claim_without("claim_id", "items", "diagnoses")),
    ("unknown top-level field",         claim_with(selfpay_ratio="0.00")),
    ("unknown field on a line",         line_with(colour="red")),
    ("surgery as a string",             claim_with(surgery="true")),
    ("surgery as 1",                    claim_with(surgery=1)),
    ("diagnoses as a string",           claim_with(diagnoses="C34.1")),
    ("diagnoses as an object",          claim_with(diagnoses={"code": "C34.1"})),
    ("diagnoses of wrong types",        claim_with(diagnoses=[1, None, True, 1.5, ["C34.1"]])),
    ("items null",                      claim_with(items=None)),
    ("items as an object",              claim_with(items={"line_no": 1})),
    ("items of wrong types",            claim_with(items=[1, "x", [], None, True])),
    ("a line of wrong types",           claim_with(items=[LINE_OF_WRONG_TYPES])),
    ("items nested 300 deep",           nested(300)),
    ("claim id as a number",            claim_with(claim_id=20180312001)),
    ("claim id null",                   claim_with(claim_id=None)),
    ("claim id of 100,000 characters",  claim_with(claim_id="Z" * 100_000)),
    ("claim id with a lone surrogate",  in_claim_id(b"\\ud800")),
    ("claim id with an encoded surrogate", in_claim_id(b"\xed\xa0\x80")),
    ("amount as a json number",         line_with(amount=495.0)),
    ("quantity as a json integer",      line_with(quantity=11)),
    ("amount 1e400 as a string",        line_with(amount="1e400")),
    ("line number as a string",         line_with(line_no="1")),
    ("line number 1.0",                 line_no_token(b"1.0")),
    ("line number 1.5",                 line_no_token(b"1.5")),
    ("line number true",                line_no_token(b"true")),
    ("line number of 30 digits",        line_no_token(b"9" * 30)),
    ("line number 2**64",               line_no_token(b"18446744073709551616")),
    ("line number 1e400",               line_no_token(b"1e400")),
    ("line number -1e400",              line_no_token(b"-1e400")),
    ("line number NaN",                 line_no_token(b"NaN")),
    ("line number Infinity",            line_no_token(b"Infinity")),
    ("line number 0",                   line_no_token(b"0")),
    ("date written day first",          claim_with(discharge_date="12/03/2018")),
    ("date without leading zeros",      claim_with(admission_date="2018-3-1")),
    ("30 February",                     claim_with(admission_date="2018-02-30")),
    ("date with a time of day",         claim_with(admission_date="2018-03-01T10:30:00")),
    ("date as a number",                claim_with(admission_date=1e20)),
    ("date null",                       claim_with(discharge_date=None)),
    ("date as true",                    claim_with(discharge_date=True)),
    ("date as a list",                  claim_with(discharge_date=["2018-03-12"])),
    ("duplicate key, the last wrong",   duplicate_key("surgery", True, "yes")),
    ("duplicate key, the first wrong",  duplicate_key("diagnoses", "C34.1", ["C34.1", 5])),
    ("duplicate key, both right",       duplicate_key("surgery", False, True)),
    ("no diagnosis",                    claim_with(diagnoses=[])),
    ("51 diagnoses",                    claim_with(diagnoses=["C34.1"] * 51)),
    # A bad claim in an encoding only json.loads reads.
    ("utf-16 with a missing field",     encoded("utf-16", claim_without("surgery"))),
    ("utf-32 with a wrong type",        encoded("utf-32-le", claim_with(surgery="yes"))),
    ("byte order mark and a wrong date", with_bom(claim_with(admission_date="2018-02-30"))),
    # A claim well formed that the engine refuses.
    ("unknown item code",               line_with(item_code="<b>S0001</b>")),
    ("discharge before admission",      claim_with(admission_date="2018-03-12", discharge_date="2018-03-01")),
]

# Claims the old parse accepts though the one-step parse cannot read them: still settled.
ODD_GOOD_BODIES: list[tuple[str, Body]] = [
    ("utf-16 with a byte order mark",   encoded("utf-16", claim_with())),
    ("utf-16 little-endian",            encoded("utf-16-le", claim_with())),
    ("utf-32 big-endian",               encoded("utf-32-be", claim_with())),
    ("utf-8 byte order mark",           with_bom(claim_with())),
    ("escaped characters",              lambda claim: dumps(claim).replace(b'"surgery"', b'"surg\\u0065ry"')),
    ("whitespace around",               lambda claim: b" \r\n\t" + dumps(claim) + b"\n\n"),
]

# Media types: every bad body above is sent as application/json; these are sent as each
# media type below, to both routes.
MEDIA_TYPE_BODIES: list[tuple[str, Body]] = [
    ("a valid claim",                   claim_with()),
    ("malformed json",                  raw(b'{"claim_id": ')),
    ("not utf-8",                       raw(b'{"claim_id": "\xff"}')),
    ("a missing field",                 claim_without("surgery")),
    ("empty body",                      raw(b"")),
]
MEDIA_TYPES: list[str | None] = [
    None,
    "",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "application/json; charset=utf-8",
    "application/json;charset=latin-1",
    "APPLICATION/JSON",
    " application/json ",
    "application/problem+json",
    "application/vnd.onestop.claim+json; version=1",
    "application/json/x",
    "application",
    "json",
]

# Who posts: the claim's hospital, nobody, an unknown key, finance (no right to settle), and
# another hospital; each with these bodies.
CALLER_BODIES: list[tuple[str, Body]] = [
    ("a valid claim",                   claim_with()),
    ("malformed json",                  raw(b'{"claim_id": ')),
    ("not utf-8",                       in_claim_id(b"\xff")),
    ("10,000 nested arrays",            raw(b"[" * 10_000 + b"]" * 10_000)),
    ("integer of 5,000 digits",         line_no_token(b"9" * 5000)),
    ("json array",                      raw(b"[]")),
    ("a missing field",                 claim_without("surgery")),
    ("empty body",                      raw(b"")),
    ("unknown item code",               line_with(item_code="X9999")),
]
CALLERS = ["none", "unknown key", "finance", "other hospital", "malformed authorization"]
# fmt: on


@dataclass(frozen=True)
class Poster:
    world: World
    settings: Settings

    def headers(self, caller: str, content_type: str | None) -> dict[str, str]:
        world = self.world
        headers = {
            "hospital": world.hospital_headers(3),
            "other hospital": world.hospital_headers(2),
            "finance": world.auth(world.keys.finance),
            "unknown key": world.auth("osk_unknown_key"),
            "malformed authorization": {"Authorization": "Basic dXNlcjpwYXNz"},
            "none": {},
        }[caller]
        if content_type is not None:
            headers = {**headers, "Content-Type": content_type}
        return headers

    def answers(
        self, body: Body, caller: str = "hospital", content_type: str | None = JSON
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What preview and settle answer to the same bytes (a new claim id each time);
        asserts that settle wrote nothing unless it settled."""
        content = body(self.world.claim("e2"))
        headers = self.headers(caller, content_type)
        preview = self.world.client.post(PREVIEW, content=content, headers=headers)
        before = row_counts(self.settings)
        settle = self.world.client.post(SETTLE, content=content, headers=headers)
        if settle.status_code != 201:
            assert row_counts(self.settings) == before, "settle wrote for a refused body"
        return answer(preview, PREVIEW), answer(settle, SETTLE)


def answer(response: httpx.Response, path: str) -> dict[str, Any]:
    """The status, the headers a client reads and the problem, without the path it names."""
    assert response.status_code < 500, response.text[:2000]
    document = response.json()
    assert document.pop("instance", path) == path
    return {
        "status": response.status_code,
        "content-type": response.headers.get("content-type"),
        "www-authenticate": response.headers.get("www-authenticate"),
        "retry-after": response.headers.get("retry-after"),
        "body": document,
    }


@pytest.fixture(scope="module")
def poster(client: TestClient, settings: Settings) -> Poster:
    return Poster(make_world(client, settings), settings)


def _names(rows: list[tuple[str, Body]]) -> list[str]:
    return [name for name, _ in rows]


@pytest.mark.parametrize(("name", "body"), BAD_BODIES, ids=_names(BAD_BODIES))
def test_a_bad_body_is_answered_by_settle_as_by_preview(
    poster: Poster, name: str, body: Body
) -> None:
    preview, settle = poster.answers(body)
    assert settle == preview
    assert 400 <= settle["status"] < 500


@pytest.mark.parametrize("content_type", MEDIA_TYPES, ids=[repr(t) for t in MEDIA_TYPES])
@pytest.mark.parametrize(("name", "body"), MEDIA_TYPE_BODIES, ids=_names(MEDIA_TYPE_BODIES))
def test_a_body_of_any_media_type_is_answered_by_settle_as_by_preview(
    poster: Poster, name: str, body: Body, content_type: str | None
) -> None:
    preview, settle = poster.answers(body, content_type=content_type)
    if preview["status"] == 200:  # a valid claim sent as JSON: previewed, and settled
        assert settle["status"] == 201
        assert _totals(settle["body"]) == _totals(preview["body"])
        return
    assert settle == preview


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("name", "body"), CALLER_BODIES, ids=_names(CALLER_BODIES))
def test_the_key_is_checked_before_or_after_the_body_as_by_preview(
    poster: Poster, name: str, body: Body, caller: str
) -> None:
    preview, settle = poster.answers(body, caller=caller)
    assert settle == preview


@pytest.mark.parametrize("chunked", [False, True], ids=["declared length", "chunked"])
def test_an_oversized_body_is_refused_by_settle_as_by_preview(
    poster: Poster, settings: Settings, chunked: bool
) -> None:
    content = b'{"claim_id": "' + b"x" * (settings.body_bytes_max + 1) + b'"}'
    world = poster.world
    answers = []
    for path in (PREVIEW, SETTLE):
        sent: bytes | Iterator[bytes] = iter([content]) if chunked else content
        response = world.client.post(
            path, content=sent, headers={**world.hospital_headers(3), "Content-Type": JSON}
        )
        answers.append(answer(response, path))
    assert answers[0] == answers[1]
    assert answers[1]["status"] == 413


@pytest.mark.parametrize(("name", "body"), ODD_GOOD_BODIES, ids=_names(ODD_GOOD_BODIES))
def test_a_claim_only_the_two_step_parse_reads_is_still_settled(
    poster: Poster, name: str, body: Body
) -> None:
    preview, settle = poster.answers(body)
    assert preview["status"] == 200
    assert settle["status"] == 201
    assert _totals(settle["body"]) == _totals(preview["body"])


def _totals(document: dict[str, Any]) -> Any:
    return document["totals"]


EXAMPLE_CLAIMS = sorted(EXAMPLES.glob("*/claim.json"))


@pytest.mark.parametrize("path", EXAMPLE_CLAIMS, ids=[p.parent.name for p in EXAMPLE_CLAIMS])
def test_the_one_step_parse_reads_a_claim_as_the_two_steps_do(path: Any) -> None:
    """What the fast path relies on: every body it accepts, the two steps accept as the same
    claim (here the worked examples, written in several ways)."""
    claim = json.loads(path.read_text(encoding="utf-8"))
    writings = [
        json.dumps(claim).encode(),
        json.dumps(claim, indent=2, ensure_ascii=False).encode(),
        json.dumps(claim, separators=(",", ":")).encode(),
        json.dumps({**claim, "diagnoses": ["C\u0033\u0034.1"]}).encode(),
    ]
    for body in writings:
        one_step = ClaimIn.model_validate_json(body)
        two_steps = ClaimIn.model_validate(json.loads(body), from_attributes=True)
        assert one_step == two_steps
        assert one_step.model_dump() == two_steps.model_dump()


def test_a_body_the_two_steps_refuse_the_one_step_parse_refuses_too() -> None:
    """The other half: bodies json.loads cannot read are never accepted by the one step."""
    claim = json.loads((EXAMPLES / "e2" / "claim.json").read_text(encoding="utf-8"))
    for _, build in BAD_BODIES:
        data = build(claim)
        try:
            json.loads(data)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, too many digits, too deep
            with pytest.raises(ValidationError):
                ClaimIn.model_validate_json(data)
