"""Rows <-> entities: driver rows into entities, entity field values into bind values.

A driver row gets exactly the values SQLAlchemy's result processing would give (UTC-aware
datetimes, decoded JSON, bools), with the per-value work cut down: this runs for every row of
every list query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, cast

from sqlalchemy import Boolean, Table
from sqlalchemy.engine import Dialect

from ...domain.entities import ENUM_FIELDS
from ...ports import E
from .internals import JSON_SCAN, json_dumps, result_processor
from .models import TABLES
from .types import JSONValue, UTCDateTime, pg_json_dumps


def plain(value: Any) -> Any:
    """A bind value from a field value (enums as their strings)."""
    # ``_value_``: the member's value without the ``value`` property's Python-level lookup.
    return value._value_ if isinstance(value, StrEnum) else value


class Codec(Generic[E]):
    """One entity type's row mapping."""

    def __init__(self, entity: type[E], dialect: Dialect) -> None:
        self.entity = entity
        self.table: Table = TABLES[entity]
        self.names = tuple(self.table.c.keys())
        self.key_name = entity.KEY
        self._enums: list[tuple[str, dict[str, StrEnum]]] = []
        for name, enum in ENUM_FIELDS.get(entity.ENTITY_TYPE, {}).items():
            members: list[StrEnum] = list(cast(type[StrEnum], enum))
            self._enums.append((name, {m.value: m for m in members}))
        self._sqlite = dialect.name == "sqlite"
        # Columns by how a stored value becomes a field value (JSON text, a timestamp, other).
        self._json: list[str] = []
        self._times: list[str] = []
        self._converting: list[tuple[str, Callable[[Any], Any]]] = []
        for column in self.table.c:
            if isinstance(column.type, JSONValue):
                self._json.append(column.name)
            elif isinstance(column.type, UTCDateTime):
                self._times.append(column.name)
            else:
                convert = _converter(column.type, dialect)
                if convert is not None:
                    self._converting.append((column.name, convert))

    def entity_of(self, row: Sequence[Any]) -> E:
        """An entity from a driver row (columns in table order): what SQLAlchemy's result
        processing gives, written out per kind of column instead of a function call per value
        (this runs for every column of every row read). SQLite timestamps are fixed-width
        naive UTC text (types.UTCDateTime): the suffix makes the C parser attach UTC itself;
        asyncpg decodes timestamptz in datetime.UTC, except +-infinity (naive min / max)."""
        values = dict(zip(self.names, row, strict=True))
        for name in self._json:  # stored as text on both databases (see queries.py)
            text = values[name]
            if text is None:
                continue
            if text == "{}":  # most stored dicts and lists are empty: no decoder for them
                values[name] = {}
            elif text == "[]":
                values[name] = []
            else:
                value, end = JSON_SCAN(text, 0)
                # Trailing data: the full decoder reports or handles it.
                values[name] = value if end == len(text) else json.loads(text)
        if self._sqlite:
            for name in self._times:
                text = values[name]
                if text is not None:
                    values[name] = datetime.fromisoformat(text + "+00:00")
        else:
            for name in self._times:
                value = values[name]
                if value is not None and value.tzinfo is not UTC:
                    values[name] = _utc(value)
        for name, convert in self._converting:
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        return self.restore(values)

    def entities(self, rows: Sequence[Sequence[Any]]) -> list[E]:
        entity_of = self.entity_of
        return [entity_of(row) for row in rows]

    def restore(self, values: dict[str, Any]) -> E:
        """``Entity.restore`` without its copy: ``values`` is fresh and becomes the entity's."""
        for name, lookup in self._enums:
            values[name] = lookup[values[name]]
        entity = object.__new__(self.entity)
        object.__setattr__(entity, "__dict__", values)
        return entity

    def update_params(self, values: Mapping[str, Any], expected: int) -> dict[str, Any]:
        """A row's parameters for ``queries.update_versioned`` / ``update_rows`` (the row as
        it is: ``binder`` converts enums, datetimes and JSON)."""
        return {**values, "b_key": values[self.key_name], "b_expected": expected}


def binder(dialect: Dialect) -> Callable[[str, Any], Callable[[Any], Any] | None]:
    """Faster bind conversions, equal to SQLAlchemy's (tests/test_sql_internals.py compares
    them): SQLAlchemy's chain for a UTC datetime on SQLite is two Python calls plus a format
    string per value, and these run for every column of every row written."""
    sqlite = dialect.name == "sqlite"
    dumps = _dump_sqlite if sqlite else _pg_json

    def fast(name: str, kind: Any) -> Callable[[Any], Any] | None:
        if name in _ENUM_COLUMNS:
            return plain  # entity rows carry the enum members themselves
        if isinstance(kind, UTCDateTime):
            return _sqlite_when_text if sqlite else _utc
        if isinstance(kind, JSONValue):
            return dumps
        return None

    return fast


_ENUM_COLUMNS = frozenset(name for fields in ENUM_FIELDS.values() for name in fields)


_dump_sqlite = json_dumps(", ", ": ")  # json.dumps's own separators: SQLAlchemy's JSON text
_dump_pg = json_dumps(",", ":")


def _pg_json(value: Any) -> str:
    text = _dump_pg(value)
    # pg_json_dumps's rewrite of exponent floats (rare): let it produce the whole text.
    return pg_json_dumps(value) if "e+" in text else text


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_when_text(value: datetime) -> str:
    # types.UTCDateTime's SQLite storage: fixed-width naive UTC text (naive values are UTC).
    if value.tzinfo is UTC:  # every validated field value: drop the "+00:00" suffix
        return value.isoformat(" ", "microseconds")[:-6]
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _converter(kind: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The conversion of a column that is neither JSON nor a timestamp (see entity_of)."""
    sqlite = dialect.name == "sqlite"
    impl = kind.dialect_impl(dialect)
    if isinstance(impl, Boolean):
        return bool if sqlite else None
    return result_processor(kind, dialect)
