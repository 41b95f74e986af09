"""The bounded body reader: each limit at its edge, paths that name the field, refused values left out."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from sparky.errors import BadRequest
from sparky.execution.outcome import jsonable
from sparky.signals.bounds import (
    MAX_DEPTH,
    MAX_KEYS,
    MAX_NUMBER_CHARS,
    MAX_STRING_CHARS,
    MAX_VALUES,
    measure,
)
from sparky.signals.intake import parse_body, read_body

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def refusal(raw: str | bytes, content_type: str = JSON) -> BadRequest:
    body = read_body(raw.encode() if isinstance(raw, str) else raw, content_type)
    assert body.refusal is not None
    return body.refusal


def structural(raw: str | bytes, content_type: str = JSON) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        read_body(raw.encode() if isinstance(raw, str) else raw, content_type)
    assert caught.value.field == "body"
    return caught.value


@pytest.mark.parametrize(("text", "depth"), [
    ('{"a": 1}', 1),
    ('{"a": [[{"b": []}]]}', 5),
    ('{"a": "[[[{{{", "b": "\\"[[[", "c": ["]]]"]}', 2),
    ('"[[[[', 0),  # an unterminated string hides what follows, as it does from the parser
    ("[" * 50 + "]" * 50, 50),
])
def test_nesting_is_counted_outside_strings(text: str, depth: int) -> None:
    assert measure(text).depth == depth


@pytest.mark.parametrize(("text", "values"), [
    ('{"a": [1, 2], "b": "x,y,[{"}', 5),
    ('{"a": {"b": {"c": [true, null, "]"]}}}', 7),
    ("1", 1),
])
def test_values_are_counted_outside_strings(text: str, values: int) -> None:
    assert measure(text).values == values


def test_a_long_body_is_measured_without_walking_all_of_it() -> None:
    assert measure("[" * 1_000_000).depth == 2 * MAX_VALUES + 1  # all it looked at
    assert measure("[]" * 1_000_000).depth == 1


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused_before_parsing() -> None:
    inner = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert parse_body(f'{{"a": {inner}}}'.encode(), JSON)["a"] == eval(inner)
    error = structural(f'{{"a": [{inner}]}}')
    assert f"deeper than {MAX_DEPTH} levels" in error.message
    assert "deeper than" in structural("[" * 100_000).message  # would be a RecursionError in json.loads
    assert "deeper than" in structural("[" * 100_000 + "]" * 100_000).message


def test_number_literals_up_to_the_limit_are_read_and_longer_ones_refused() -> None:
    assert parse_body(('{"n": ' + "9" * MAX_NUMBER_CHARS + "}").encode(), JSON)["n"] == 10**MAX_NUMBER_CHARS - 1
    assert parse_body(('{"n": 0.' + "1" * (MAX_NUMBER_CHARS - 2) + "}").encode(), JSON)["n"] == D(
        "0." + "1" * (MAX_NUMBER_CHARS - 2))
    for literal in ("9" * (MAX_NUMBER_CHARS + 1), "-" + "9" * MAX_NUMBER_CHARS, "1." + "0" * MAX_NUMBER_CHARS):
        error = refusal(f'{{"n": {literal}}}')
        assert error.field == "n" and "longer than 100 characters" in error.message


@pytest.mark.parametrize("literal", ["1e100", "9.99e100", "-1e100", "1e-100", "0", "0.0", "0e100", "1E+2"])
def test_numbers_within_1e_minus_100_and_1e100_are_decimals(literal: str) -> None:
    assert parse_body(f'{{"n": {literal}}}'.encode(), JSON)["n"] == D(literal)


@pytest.mark.parametrize("literal", ["1e101", "-1e101", "1e-101", "0e101", "0e-999999999", "1e999999999999",
                                     "1e400000", "1e99999999999999999999999999", "1e308"])
def test_numbers_with_huge_exponents_are_refused_before_anything_converts_them(literal: str) -> None:
    error = refusal(f'{{"price": {literal}}}')
    assert error.field == "price" and "number out of range" in error.message


def test_strings_up_to_the_limit_are_read_and_longer_ones_refused() -> None:
    assert len(parse_body(f'{{"s": "{"x" * MAX_STRING_CHARS}"}}'.encode(), JSON)["s"]) == MAX_STRING_CHARS
    error = refusal(f'{{"s": "{"x" * (MAX_STRING_CHARS + 1)}"}}')
    assert error.field == "s" and "longer than 65536 characters" in error.message


def test_lone_surrogates_are_refused_and_pairs_are_text() -> None:
    assert parse_body(b'{"s": "\\ud83d\\ude00"}', JSON)["s"] == "\U0001F600"
    for escape in ("\\ud800", "x\\udfffy", "\\ude00\\ud83d", "\\uD800", "\\uDBFF"):
        error = refusal(f'{{"s": "{escape}"}}')
        assert error.field == "s" and "not valid Unicode" in error.message


def test_nul_is_refused_because_no_store_can_hold_it() -> None:
    error = refusal('{"note": "a\\u0000b"}')
    assert error.field == "note" and "NUL character" in error.message
    assert refusal("action=buy&note=a%00b", FORM).field == "note"
    assert read_body(b'{"a\\u0000": 1}', JSON).refusal.field == "a\\x00"  # shown escaped


def test_an_escaped_backslash_before_ud800_is_plain_text() -> None:
    raw = b'{"a": "\\\\ud800", "b": [1, {"c": "\\u00e9\\"x"}]}'  # an escaped backslash, then "ud800"
    assert parse_body(raw, JSON) == {"a": "\\ud800", "b": [1, {"c": '\u00e9"x'}]}


def test_a_bad_key_is_named_escaped_and_dropped() -> None:
    body = read_body(b'{"\\ud800": 1, "ok": 2}', JSON)
    assert body.fields == {"ok": 2}
    assert body.refusal.field == "\\ud800" and "field name" in body.refusal.message
    long_key = "k" * (MAX_STRING_CHARS + 1)
    assert len(refusal(f'{{"{long_key}": 1}}').field) == 129  # shown shortened


def test_keys_per_object_up_to_the_limit() -> None:
    def obj(n: int) -> str:
        return "{" + ", ".join(f'"k{i}": 0' for i in range(n)) + "}"

    assert len(parse_body(f'{{"meta": {obj(MAX_KEYS)}}}'.encode(), JSON)["meta"]) == MAX_KEYS
    error = refusal(f'{{"meta": {obj(MAX_KEYS + 1)}}}')
    assert error.field == "meta" and "more than 1000 keys" in error.message
    assert "more than 1000 fields" in structural(obj(MAX_KEYS + 1)).message


def test_values_in_the_whole_body_up_to_the_limit() -> None:
    def body(n: int) -> str:  # the object itself and its list are two of the values
        return '{"bars": [' + ", ".join(["0"] * (n - 2)) + "]}"

    assert len(parse_body(body(MAX_VALUES).encode(), JSON)["bars"]) == MAX_VALUES - 2
    assert "more than 10000 values" in structural(body(MAX_VALUES + 1)).message


def test_the_first_refusal_is_reported_with_its_path_and_every_refused_value_is_left_out() -> None:
    body = read_body(b'{"a": 1, "meta": {"legs": [1, 1e999, "\\ud800"], "b": 1e999}, "c": 1e999}', JSON)
    assert body.refusal.field == "meta.legs[1]"
    assert body.refusal.message.startswith("Invalid field 'meta.legs[1]': number out of range")
    assert body.fields == {"a": 1, "meta": {"legs": [1, None, None]}}
    with pytest.raises(BadRequest) as caught:
        parse_body(b'{"a": 1, "c": 1e999}', JSON)
    assert caught.value.field == "c"


def test_form_bodies_get_the_same_bounds() -> None:
    fields = "&".join(f"k{i}=0" for i in range(MAX_KEYS))
    assert len(parse_body(fields.encode(), FORM)) == MAX_KEYS
    assert "more than 1000 fields" in structural(fields + "&one=more", FORM).message
    error = refusal("action=buy&note=" + "x" * (MAX_STRING_CHARS + 1), FORM)
    assert error.field == "note" and "longer than 65536" in error.message


def test_json_constants_are_still_refused() -> None:
    assert "not a number JSON allows" in structural('{"price": NaN}').message


@pytest.mark.parametrize(("value", "expected"), [
    (D("1e400000"), "1E+400000"),
    (D("-1e-400000"), "-1E-400000"),
    (D("NaN"), "NaN"),
    (D("1e100"), 10**100),
    (D("27000.5"), 27000.5),
])
def test_jsonable_never_expands_a_huge_decimal(value: D, expected) -> None:
    assert jsonable({"v": value}) == {"v": expected}
