"""Column types that behave the same on SQLite and PostgreSQL.

- ``UTCDateTime``: TIMESTAMPTZ on PostgreSQL; on SQLite a fixed-width UTC text (so text order is
  time order) with the UTC zone re-attached on read. Naive values are taken as UTC.
- ``JSONValue``: JSON text on SQLite, JSONB on PostgreSQL (indexable with GIN, ``@>``).
- ``Key`` / ``Text``: compared and ordered by code point on both databases, as Python does:
  SQLite's BINARY collation already is; PostgreSQL gets ``COLLATE "C"``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, String, TypeDecorator
from sqlalchemy import Text as _Text

KEY_LENGTH = 255


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        elif value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        # SQLite stores text: drop the zone so every value has the same fixed-width format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)


class JSONValue(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL. A decorator rather than ``with_variant(JSONB())``
    so that defining the tables does not import the PostgreSQL dialect on a SQLite store."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def json_type() -> Any:
    return JSONValue()


def key_type() -> Any:
    # Generic String with a collation renders VARCHAR(255) COLLATE "C" on PostgreSQL.
    return String(KEY_LENGTH).with_variant(String(KEY_LENGTH, collation="C"), "postgresql")


def text_type() -> Any:
    return _Text().with_variant(_Text(collation="C"), "postgresql")


def status_type() -> Any:
    # Statuses are only compared for equality / IN, so no collation is needed.
    return String(32)


def pg_json_dumps(value: Any) -> str:
    """JSON text for JSONB that keeps floats floats.

    JSONB stores numbers as ``numeric``, which prints ``1e+20`` back as ``100000000000000000000``
    (an int to ``json.loads``). Integral floats that Python writes with an exponent are written
    as ``<digits>.0`` instead, which numeric keeps (scale 1) and prints back as a float.
    """
    text = json.dumps(value, separators=(",", ":"))
    return _dump(value) if "e+" in text else text


def _dump(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer() and "e" in repr(value):
        return f"{int(value)}.0"
    return json.dumps(value)
