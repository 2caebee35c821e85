"""JSON whose numbers are exact decimals, both ways, for the interfaces that write money as JSON
numbers (the national platform's, FHIR's).

Reading: `loads` reads the body as UTF-8 and parses every non-integer number as a `Decimal`
from its own digits (never through a binary float) and refuses a key given twice in one object,
as the service's own bodies do (api.core.body). A numeral written with an exponent or longer
than `NUMERAL_CHARS_MAX` is not converted at all: it is kept as an `UnreadNumber`, so that a
number in a field nobody reads costs nothing (`1e999999` is nine bytes, and a million digits
once formatted) and a field that is read refuses it by name. Writing: a number is put in the
document as its own digits (`number`, an orjson fragment), and a `Decimal` anywhere in it is
written the same way, so that `24100.00` leaves as `24100.00`, not `24100.0`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import orjson

from api.core.body import DuplicateKeyError, no_duplicate_pairs

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
NUMERAL_CHARS_MAX: Final = 40
"""The longest numeral read as a number: an amount below 10^14 with 6 decimals and a sign is
22 characters; this leaves room for trailing zeros, never for a numeral that costs to read."""
PLAIN_NUMERAL: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
"""A JSON number without exponent, in ASCII digits: the only numeral text read as a number
(`Decimal` itself also takes "１", "1_0", " 1 ", "1e30", "NaN")."""


@dataclass(frozen=True, slots=True)
class UnreadNumber:
    """A numeral `loads` did not convert, and why (`reason`, said of the field that holds
    it). There are two, `WITH_EXPONENT` and `TOO_LONG`, shared: a body of a million of them
    costs a list of a million references, nothing per numeral."""

    reason: str


WITH_EXPONENT: Final = UnreadNumber("is written with an exponent")
TOO_LONG: Final = UnreadNumber(f"has more than {NUMERAL_CHARS_MAX} characters")
NOT_PLAIN: Final = "should be a number written with the digits 0-9 and a point, as 12.50"


def numeral_problem(text: str) -> str | None:
    """Why `text` is not read as a number (None: it is a plain numeral of a bounded length)."""
    if len(text) > NUMERAL_CHARS_MAX:
        return TOO_LONG.reason
    if PLAIN_NUMERAL.fullmatch(text):
        return None
    if PLAIN_NUMERAL.fullmatch(re.split("[eE]", text, maxsplit=1)[0]):
        return WITH_EXPONENT.reason
    return NOT_PLAIN


def _numeral(text: str, read: Callable[[str], Any]) -> Any:
    """A JSON numeral (always of JSON's grammar) as a number, or why it is not read."""
    if len(text) > NUMERAL_CHARS_MAX:
        return TOO_LONG
    if "e" in text or "E" in text:
        return WITH_EXPONENT
    return read(text)


class NotJson(ValueError):
    """The body is not one JSON document this module reads (the message says why)."""


def _no_constant(name: str) -> Any:
    raise NotJson(f"{name} is not a JSON number")


def loads(body: bytes, *, values_max: int | None = None) -> Any:
    """The JSON document with exact decimals; NotJson names what is wrong with it. With
    `values_max`, a body of more values than that is refused before it is parsed: each value
    parsed is a Python object of 50 to 110 bytes, so a body of `[]` or `1.5` repeated is
    twenty to forty times its size in memory. The values are counted by the body's commas
    (C speed; a comma in a string counts too, which only errs towards refusing)."""
    if values_max is not None and body.count(b",") >= values_max:
        raise NotJson(f"the body has more than {values_max:,} values")
    try:
        text = body.decode("utf-8-sig")  # RFC 8259: UTF-8; a byte order mark may be ignored
    except UnicodeDecodeError as error:
        raise NotJson(f"the body is not UTF-8 (byte {error.start})") from None
    try:
        return json.loads(
            text,
            parse_float=lambda numeral: _numeral(numeral, Decimal),
            parse_int=lambda numeral: _numeral(numeral, int),
            parse_constant=_no_constant,
            object_pairs_hook=no_duplicate_pairs,
        )
    except DuplicateKeyError as duplicate:
        raise NotJson(f"the key {duplicate.key!r} is given more than once in one object") from None
    except NotJson:
        raise
    except (ValueError, RecursionError) as error:
        raise NotJson(f"the body is not JSON: {error}") from None


def number(value: Decimal | str) -> orjson.Fragment:
    """`value` (a decimal, or its digits) as a JSON number written with exactly these digits."""
    text = value if isinstance(value, str) else format(value, "f")
    assert _NUMBER.fullmatch(text), text
    return orjson.Fragment(text.encode())


def dumps(document: Any) -> bytes:
    """The document as JSON, every `number` and every `Decimal` written with its own digits."""
    return orjson.dumps(document, default=_decimal)


def _decimal(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return number(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
