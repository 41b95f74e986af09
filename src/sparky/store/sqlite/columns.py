"""How the SQLite store writes a record's columns and reads them back, by kind: exact numbers as
text, times as ISO 8601 UTC text, JSON as text, booleans as 0/1, dates as YYYY-MM-DD. The tables
that mirror the dashboard's (AI strategies, option trades, the validation log) each name their
columns of each kind once."""

from __future__ import annotations

import sqlite3
from dataclasses import MISSING, dataclass, fields
from datetime import date
from typing import Any, TypeVar

from sparky.store.base import decode_time, encode_time
from sparky.store.sqlite.codec import decode_decimal, decode_json, encode_decimal, encode_json

R = TypeVar("R")  # a dataclass: its fields are the columns


@dataclass(frozen=True)
class ColumnKinds:
    decimals: frozenset[str] = frozenset()
    times: frozenset[str] = frozenset()
    json: frozenset[str] = frozenset()
    bools: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()

    def encode(self, name: str, value: Any) -> Any:
        """The SQL parameter for column `name`."""
        if value is None:
            return None
        if name in self.decimals:
            return encode_decimal(value)
        if name in self.times:
            return encode_time(value)
        if name in self.json:
            return encode_json(value)
        if name in self.bools:
            return int(bool(value))
        if name in self.dates:
            return value.isoformat()
        return value

    def decode(self, name: str, value: Any) -> Any:
        """Column `name`'s stored value as the record holds it."""
        if value is None:
            return None
        if name in self.decimals:
            return decode_decimal(value)
        if name in self.times:
            return decode_time(value)
        if name in self.json:
            return decode_json(value)
        if name in self.bools:
            return bool(value)
        if name in self.dates:
            return date.fromisoformat(value)
        return value

    def record(self, cls: type[R], row: sqlite3.Row) -> R:
        """The `cls` record of a row selected with all its columns; a NULL column takes the field's
        default (a row another writer, the dashboard for one, left empty)."""
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = self.decode(f.name, row[f.name])
            if value is None and f.default_factory is not MISSING:
                value = f.default_factory()
            elif value is None and f.default is not MISSING:
                value = f.default
            values[f.name] = value
        return cls(**values)
