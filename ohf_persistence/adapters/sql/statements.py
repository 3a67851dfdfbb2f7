"""Rows <-> entities and the SQL of every query, built from ``query.Condition`` lists.

Statements that do not depend on arguments are built once per table (SQLAlchemy then reuses
their compiled form from its cache); values are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, cast

from sqlalchemy import (
    ColumnElement,
    Delete,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ...domain.entities import ENUM_FIELDS
from ...ports import E
from ...query import Condition
from .models import TABLES

if TYPE_CHECKING:
    from .fast import FastStatements

# Bound parameters per statement stay well under SQLite's 32766 and asyncpg's 32767.
MAX_PARAMS = 30_000
KEY_CHUNK = 1_000  # keys per IN (...) list


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


class Codec(Generic[E]):
    """Everything about one entity's table: column order, row mapping, cached statements."""

    fast: FastStatements  # set by the store (needs the engine's dialect)

    def __init__(self, entity: type[E], dialect: str) -> None:
        self.entity = entity
        self.dialect = dialect
        self.table: Table = TABLES[entity]
        self.names = tuple(self.table.c.keys())
        self.key = self.table.c[entity.KEY]
        self.version = self.table.c.version
        self._enums: list[tuple[str, dict[str, StrEnum]]] = []
        for name, enum in ENUM_FIELDS.get(entity.ENTITY_TYPE, {}).items():
            members: list[StrEnum] = list(cast(type[StrEnum], enum))
            self._enums.append((name, {m.value: m for m in members}))
        self.select_all: Select[Any] = select(self.table)
        self.by_key = self.select_all.where(self.key == bindparam("k"))
        self.version_of = select(self.version).where(self.key == bindparam("k"))
        self.exists = select(literal(1)).where(self.key == bindparam("k"))
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.insert_new = insert(self.table).on_conflict_do_nothing(index_elements=[self.key])
        self.insert_new_returning = self.insert_new.returning(self.key)
        upsert = insert(self.table)
        self.upsert = upsert.on_conflict_do_update(
            index_elements=[self.key],
            set_={name: upsert.excluded[name] for name in self.names if name != entity.KEY},
        )
        # executemany-friendly: the SET clause comes from each parameter dict's column keys.
        self.update_versioned: Update = update(self.table).where(
            self.key == bindparam("b_key"), self.version == bindparam("b_expected")
        )
        self.delete_keys: Delete = delete(self.table).where(
            self.key.in_(bindparam("keys", expanding=True))
        )
        self.delete_one: Delete = delete(self.table).where(self.key == bindparam("k"))
        self.rows_per_insert = max(1, min(1_000, MAX_PARAMS // len(self.names)))

    # -- rows
    def entity_from_row(self, row: Sequence[Any]) -> E:
        """An entity from a row SQLAlchemy already converted."""
        return self.restore(dict(zip(self.names, row, strict=True)))

    def restore(self, values: dict[str, Any]) -> E:
        """``Entity.restore`` without its copy: ``values`` is fresh and becomes the entity's."""
        for name, lookup in self._enums:
            values[name] = lookup[values[name]]
        entity = object.__new__(self.entity)
        object.__setattr__(entity, "__dict__", values)
        return entity

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Bind parameters of a row from entity field values (enums as their strings)."""
        params = dict(values)
        for name, _lookup in self._enums:
            params[name] = _plain(params[name])
        return params

    def update_params(self, values: Mapping[str, Any], expected: int) -> dict[str, Any]:
        params = self.params(values)
        params["b_key"] = params[self.entity.KEY]
        params["b_expected"] = expected
        return params

    def versions_of(self, keys: Sequence[str], lock: bool) -> Select[Any]:
        statement = select(self.key, self.version).where(self.key.in_(keys))
        # Row locks keep the checked versions until the UPDATEs (SQLite holds the whole-database
        # write lock already: BEGIN IMMEDIATE).
        return statement.with_for_update() if lock else statement

    # -- filters
    def where(self, conditions: Iterable[Condition]) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        for cond in conditions:
            column = self.table.c[cond.field]
            value = cond.value
            if cond.op == "eq":
                clauses.append(column.is_(None) if value is None else column == _plain(value))
            elif cond.op == "in":
                clauses.append(column.in_([_plain(v) for v in value]))
            elif cond.op == "gt":
                clauses.append(column > value)
            elif cond.op == "gte":
                clauses.append(column >= value)
            elif cond.op == "lt":
                clauses.append(column < value)
            else:
                clauses.append(column <= value)
        return clauses

    def listing(
        self,
        conditions: Iterable[Condition],
        after: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Select[Any]:
        clauses = self.where(conditions)
        if after is not None:
            clauses.append(self.key > after)
        statement = self.select_all.where(*clauses).order_by(self.key)
        if limit is not None:
            statement = statement.limit(limit)
        if offset:
            statement = statement.offset(offset)
        return statement

    def counting(self, conditions: Iterable[Condition]) -> Select[Any]:
        return select(func.count()).select_from(self.table).where(*self.where(conditions))

    def keys_matching(self, conditions: Iterable[Condition], keys: Sequence[str]) -> Select[Any]:
        return select(self.key).where(*self.where(conditions), self.key.in_(keys))

    # -- find_by_attributes
    def attributes_match(self, wanted: Mapping[str, Any]) -> ColumnElement[bool]:
        """SQL for "every wanted key is present with a JSON-equal value".

        PostgreSQL is exact: ``@>`` lets the GIN index find candidates and ``->`` equality of
        jsonb values is JSON equality (numbers numerically, arrays ordered, objects exact).
        SQLite narrows by ``json_type`` and scalar ``json_extract``; the caller re-checks
        containers in Python with ``query.json_equal``.
        """
        column = self.table.c.attributes
        if not wanted:
            return true()
        if self.dialect == "postgresql":
            jsonb = postgresql.JSONB()
            clauses: list[ColumnElement[bool]] = [
                column.op("@>")(bindparam(None, wanted, type_=jsonb))
            ]
            for key, value in wanted.items():
                clauses.append(
                    column.op("->")(bindparam(None, key)) == bindparam(None, value, type_=jsonb)
                )
            return and_(*clauses)
        clauses = []
        for key, value in wanted.items():
            if '"' in key or "\\" in key:
                continue  # not expressible as a JSON path; checked in Python
            path: Any = bindparam(None, f'$."{key}"')
            kind = func.json_type(column, path)
            if value is None:
                clauses.append(kind == "null")
            elif isinstance(value, bool):
                clauses.append(kind == ("true" if value else "false"))
            elif isinstance(value, int | float):
                clauses.append(kind.in_(["integer", "real"]))
                clauses.append(func.json_extract(column, path) == value)
            elif isinstance(value, str):
                clauses.append(kind == "text")
                clauses.append(func.json_extract(column, path) == value)
            else:
                clauses.append(kind == ("array" if isinstance(value, list) else "object"))
        return and_(true(), *clauses)
