"""Limits on the work one alert body can cause, enforced while it is read.

Everything here runs on the event loop before authentication, so an anonymous sender must not be
able to make it slow. Nesting and the number of values are measured on the text before the JSON
parser (which recurses, and builds every value) sees it; number literals are checked before they
become `int` or `Decimal` (a 5,000-digit integer or a `1e999999999999` would otherwise cost seconds
or gigabytes in whatever converts them later); strings and keys are checked after parsing, which
is skipped when the JSON text shows none can be too long or hold a lone surrogate or NUL (the usual
alert).

A problem with one value (a number out of range, an over-long or invalid string, an object with
too many keys) is reported with the path of that value (`price`, `meta.note`, `legs[0]`), and the
value is left out (null in an array), so an authenticated sender's rejection can still be
recorded. A problem with the body as a whole (nesting, too many values) is reported as `body`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import accumulate, repeat
from typing import Any

from sparky.errors import BadRequest

#: objects and arrays nested inside each other (TradingView alerts are flat)
MAX_DEPTH = 32
#: values in the whole body, containers included
MAX_VALUES = 10_000
#: keys in one object, and fields in a form body
MAX_KEYS = 1_000
#: characters in one string (a whole TradingView message is at most about 40 KB)
MAX_STRING_CHARS = 65_536
#: characters in one number literal, sign, point and exponent included
MAX_NUMBER_CHARS = 100
#: numbers are refused beyond 1e100 in size, or below 1e-100 (0 is fine)
MAX_EXPONENT = 100

#: a string literal, possessive so that an unterminated one costs one pass, not one pass per quote
_STRING_LITERAL = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
#: the bytes JSON allows outside strings (once they are "0"), brackets aside; any other byte left
#: is one the parser stops at, so it counts for nothing
_NOT_BRACKETS = b" \t\n\r,:0123456789+-.eEtruefalsn"
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
#: what no stored row can hold: a lone surrogate (not Unicode at all; UTF-8 cannot encode it) and
#: NUL (PostgreSQL text and jsonb refuse it, so the audit row would fail)
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
#: the only way JSON text decoded from UTF-8 yields either: a \uD800-\uDFFF or \u0000 escape
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")
#: characters a field name is shown with escaped
_UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_FIELD_NAME_CHARS = 128
#: what a refused value becomes: its key is dropped from an object, null in an array
_LEFT_OUT = object()


@dataclass(frozen=True)
class Refused:
    """Stands in, in the parsed tree, for a value the limits refuse."""

    reason: str


@dataclass(frozen=True)
class Screened:
    """The body's fields with every refused value left out, and the first refusal (if any)."""

    fields: dict[str, Any]
    refusal: BadRequest | None = None


@dataclass(frozen=True)
class Shape:
    """What JSON text holds, counted outside string literals without parsing it."""

    #: at least the number of values: one more than the commas, plus one per object or array
    values: int
    #: how deep objects and arrays nest (beyond MAX_VALUES values: at least this deep)
    depth: int


def measure(text: str) -> Shape:
    """The shape of JSON text: a few passes at C speed, then at most 2 * MAX_VALUES + 1 steps."""
    skeleton = _STRING_LITERAL.sub("0", text)
    opening = skeleton.count("[") + skeleton.count("{")
    values = 1 + skeleton.count(",") + opening
    # past the first 2 * opening + 1 brackets the running depth can only be below zero
    brackets = skeleton.encode().translate(None, _NOT_BRACKETS)[: 2 * min(opening, MAX_VALUES) + 1]
    return Shape(values, max(accumulate(map(_NESTING.get, brackets, repeat(0))), default=0))


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"Body is not valid JSON: {name} is not a number JSON allows", field="body")


class _Reader:
    """The parser's hooks for one body: they refuse numbers and objects beyond the limits."""

    def __init__(self) -> None:
        self.refused = 0

    def refuse(self, reason: str) -> Refused:
        self.refused += 1
        return Refused(reason)

    def integer(self, literal: str) -> int | Refused:
        if len(literal) > MAX_NUMBER_CHARS:
            return self.refuse(f"number longer than {MAX_NUMBER_CHARS} characters")
        return int(literal)

    def decimal(self, literal: str) -> Decimal | Refused:
        if len(literal) > MAX_NUMBER_CHARS:
            return self.refuse(f"number longer than {MAX_NUMBER_CHARS} characters")
        try:
            number = Decimal(literal)
        except InvalidOperation:  # an exponent beyond what Decimal can hold at all
            number = None
        if number is None or abs(number.adjusted()) > MAX_EXPONENT:
            return self.refuse(f"number out of range: sizes from 1e-{MAX_EXPONENT} to 1e{MAX_EXPONENT} (and 0) "
                               "are accepted")
        return number

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any] | Refused:
        if len(pairs) > MAX_KEYS:
            return self.refuse(f"object with more than {MAX_KEYS} keys")
        return dict(pairs)


def loads(text: str) -> tuple[Any, int]:
    """Parse JSON text within the limits: the value, and how many values in it were refused.

    Numbers become `int` or `Decimal` (every digit kept); refused numbers and objects come back as
    `Refused` for `screen` to report. Raises `json.JSONDecodeError` for text that is not JSON, and
    `BadRequest` for nesting beyond `MAX_DEPTH` or more than `MAX_VALUES` values, both measured
    before parsing.
    """
    shape = measure(text)
    if shape.depth > MAX_DEPTH:
        raise BadRequest(f"Body nests objects or arrays deeper than {MAX_DEPTH} levels", field="body")
    if shape.values > MAX_VALUES:
        raise BadRequest(f"Body holds more than {MAX_VALUES} values", field="body")
    reader = _Reader()
    value = json.loads(text, parse_int=reader.integer, parse_float=reader.decimal,
                       parse_constant=_reject_constant, object_pairs_hook=reader.object)
    return value, reader.refused


def may_need_screening(json_text: str, refused: int) -> bool:
    """False when `screen` could find nothing in what `loads` read from `json_text`: no refused
    value, no string longer than the whole text, no escape that makes a character no row can hold."""
    return bool(refused) or len(json_text) > MAX_STRING_CHARS or _UNSTORABLE_ESCAPE.search(json_text) is not None


def _text_problem(text: str) -> str | None:
    if len(text) > MAX_STRING_CHARS:
        return f"text longer than {MAX_STRING_CHARS} characters"
    unstorable = _UNSTORABLE.search(text)
    if unstorable is None:
        return None
    if unstorable.group() == "\x00":
        return "text holds a NUL character (\\u0000), which cannot be stored"
    return f"text is not valid Unicode (lone surrogate {ascii(unstorable.group())[1:-1]})"


def _name(key: str) -> str:
    """A key as a field name that is safe to show and to encode: escaped and shortened."""
    shown = _UNSHOWABLE.sub(lambda char: ascii(char.group())[1:-1], key)
    return shown if len(shown) <= _FIELD_NAME_CHARS else shown[:_FIELD_NAME_CHARS] + "…"


class _Walk:
    def __init__(self) -> None:
        self.refusal: BadRequest | None = None

    def refuse(self, path: str, reason: str) -> None:
        if self.refusal is None:
            self.refusal = BadRequest(f"Invalid field '{path}': {reason}", field=path)

    def visit(self, value: Any, path: str) -> Any:
        if isinstance(value, Refused):
            self.refuse(path, value.reason)
            return _LEFT_OUT
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem is not None:
                self.refuse(path, problem)
                return _LEFT_OUT
            return value
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                inner = f"{path}.{_name(key)}" if path else _name(key)
                problem = _text_problem(key)
                if problem is not None:
                    self.refuse(inner, f"field name: {problem}")
                    continue
                item = self.visit(item, inner)
                if item is not _LEFT_OUT:
                    kept[key] = item
            return kept
        if isinstance(value, list):
            items = (self.visit(item, f"{path}[{index}]") for index, item in enumerate(value))
            return [None if item is _LEFT_OUT else item for item in items]
        return value


def screen(fields: dict[str, Any]) -> Screened:
    """Check every string and key of a parsed body, and report the values `loads` refused."""
    walk = _Walk()
    kept = walk.visit(fields, "")
    return Screened(kept, walk.refusal)
