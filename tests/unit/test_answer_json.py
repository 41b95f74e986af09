"""Answers as users read them: Decimals, times and nested values render to the same JSON bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from fastapi.responses import JSONResponse

from sparky.execution.outcome import jsonable


class Colour(StrEnum):
    RED = "red"


def test_decimals_times_and_nested_values_render_exactly() -> None:
    body = {
        "success": True, "action": "opened", "warning": None, "count": 3, "ratio": 0.5, "side": Colour.RED,
        "position": {"quantity": Decimal("0.003"), "entryPrice": Decimal("27000"), "size": Decimal("81.00"),
                     "stop": Decimal("26460.0"), "tiny": Decimal("1E-7"), "negative": Decimal("-2.35"),
                     "timestamp": datetime(2026, 12, 1, 14, 0, 5, 120, tzinfo=UTC)},
        "orders": [{"quantity": Decimal("1E+2")}, (Decimal("2.5"), "x")],
        "huge": Decimal("1E+200"), "not_a_number": Decimal("NaN"),
    }
    assert JSONResponse(jsonable(body)).body == (
        b'{"success":true,"action":"opened","warning":null,"count":3,"ratio":0.5,"side":"red",'
        b'"position":{"quantity":0.003,"entryPrice":27000,"size":81,"stop":26460,"tiny":1e-07,"negative":-2.35,'
        b'"timestamp":"2026-12-01T14:00:05.000120+00:00"},'
        b'"orders":[{"quantity":100},[2.5,"x"]],"huge":"1E+200","not_a_number":"NaN"}'
    )
