"""The SQL of every statement, built from ``query.Condition`` lists and compiled once per shape.

A shape is what changes the SQL text (which filters, which operators, how many IN values,
whether a limit applies); values are always bound parameters, so a handful of compiled
statements serve every call. This is the only place that turns conditions into SQL.

Guarded single-row writes run with ``Connection.execute``, which reports the rows changed (the
driver's row count: asyncpg's status line, sqlite3's ``cursor.rowcount``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any, Generic

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Dialect

from ...domain.statuses import status_sources
from ...ports import E
from ...query import Condition
from .codec import binder, plain
from .compiled import Compiled, CompiledRows
from .models import TABLES
from .types import JSONValue

Shape = tuple[Any, ...]
Bound = tuple[Compiled, dict[str, Any]]

# Bound parameters per statement stay well under SQLite's 32766 and asyncpg's 32767.
MAX_PARAMS = 30_000
KEY_CHUNK = 1_000  # keys per IN (...) list


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Queries(Generic[E]):
    """Every statement on one entity's table."""

    def __init__(self, entity: type[E], dialect: Dialect) -> None:
        self.entity = entity
        self.dialect = dialect
        self.sqlite = dialect.name == "sqlite"
        self.table = table = TABLES[entity]
        self.names = tuple(table.c.keys())
        self.key = key = table.c[entity.KEY]
        self.version = table.c.version
        self.select_all: Select[Any] = select(*(self._read(column) for column in table.c))
        self._cache: dict[Shape, Compiled] = {}
        self._binder = binder(dialect)
        self._row_inserts: dict[int, CompiledRows] = {}
        self._status_statements: dict[tuple[Any, str | None], Bound] = {}
        self.rows_per_insert = max(1, min(1_000, MAX_PARAMS // len(table.c)))
        # An UPDATE sets every column but the key (its WHERE names the key).
        self._changeable = tuple(n for n in self.names if n != entity.KEY)
        self._k = bindparam("k", type_=key.type)
        self._versioned = (key == bindparam("b_key", type_=key.type)) & (
            self.version == bindparam("b_expected", type_=Integer)
        )

    def _read(self, column: Any) -> Any:
        # PostgreSQL JSON columns are read as their text, which codec.py decodes with json's C
        # scanner: json.loads (the driver's decoder) costs several times that per value.
        if self.sqlite or not isinstance(column.type, JSONValue):
            return column
        return cast(column, Text).label(column.name)

    # Fixed statements, each compiled on first use (a short process compiles only its own).
    @cached_property
    def by_key(self) -> Compiled:
        return self._compile(self.select_all.where(self.key == self._k))

    @cached_property
    def version_of(self) -> Compiled:
        return self._compile(select(self.version).where(self.key == self._k))

    @cached_property
    def exists(self) -> Compiled:
        return self._compile(select(literal(1)).where(self.key == self._k))

    # Guarded single-row writes (Connection.execute: the row count decides).
    @cached_property
    def insert_new(self) -> Compiled:
        statement = self._insert().on_conflict_do_nothing(index_elements=[self.key])
        return self._compile(statement, self.names)

    @cached_property
    def update_versioned(self) -> Compiled:
        statement = update(self.table).where(self._versioned)
        return self._compile(statement, self._changeable)

    @cached_property
    def delete_one(self) -> Compiled:
        return self._compile(delete(self.table).where(self.key == self._k))

    @cached_property
    def delete_versioned(self) -> Compiled:
        return self._compile(delete(self.table).where(self._versioned))

    # Batches inside a transaction (checked beforehand).
    @cached_property
    def insert_rows(self) -> Compiled:
        return self._compile(self._insert(), self.names)

    @cached_property
    def update_rows(self) -> Compiled:
        return self._compile(update(self.table).where(self._versioned), self._changeable)

    @cached_property
    def upsert_rows(self) -> Compiled:
        upsert = self._insert()
        upsert = upsert.on_conflict_do_update(
            index_elements=[self.key],
            set_={n: upsert.excluded[n] for n in self.names if n != self.entity.KEY},
        )
        return self._compile(upsert, self.names)

    def _insert(self) -> Any:
        # The dialect's own INSERT (ON CONFLICT); only the store's dialect is imported.
        if self.sqlite:
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(self.table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(self.table)

    def _compile(self, statement: Any, column_keys: Sequence[str] | None = None) -> Compiled:
        return Compiled(statement, self.dialect, column_keys, self._binder)

    def insert_many(self, count: int) -> CompiledRows:
        """A plain multi-row INSERT of ``count`` rows (at most ``rows_per_insert``)."""
        compiled = self._row_inserts.get(count)
        if compiled is None:
            compiled = self._row_inserts[count] = self.insert_rows.rows(count)
        return compiled

    def _cached(self, shape: Shape, build: Any) -> Compiled:
        compiled = self._cache.get(shape)
        if compiled is None:
            compiled = self._cache[shape] = self._compile(build())
        return compiled

    # -- conditions
    @staticmethod
    def _shape(conditions: Sequence[Condition], values: dict[str, Any]) -> Shape:
        """The SQL-shaping part of the conditions; their values go into ``values``."""
        shape: list[Any] = []
        for index, cond in enumerate(conditions):
            name = f"p{index}"
            if cond.op == "in":
                for j, item in enumerate(cond.value):
                    values[f"{name}_{j}"] = plain(item)
                shape.append((cond.field, "in", len(cond.value)))
            elif cond.op == "eq" and cond.value is None:
                shape.append((cond.field, "null"))
            else:
                values[name] = plain(cond.value)
                shape.append((cond.field, cond.op))
        return tuple(shape)

    def _where(self, shape: Shape) -> list[ColumnElement[bool]]:
        """The WHERE clauses of a shape (built only when its statement is first compiled)."""
        clauses: list[ColumnElement[bool]] = []
        for index, (field, op, *size) in enumerate(shape):
            column = self.table.c[field]
            name = f"p{index}"
            if op == "in" and not size[0]:
                clauses.append(false())  # IN () matches nothing
            elif op == "in":
                params = [bindparam(f"{name}_{j}", type_=column.type) for j in range(size[0])]
                clauses.append(column.in_(params))
            elif op == "null":
                clauses.append(column.is_(None))
            else:
                clauses.append(_compare(column, op, bindparam(name, type_=column.type)))
        return clauses

    def _select(
        self, shape: Shape, after: bool, limit: bool, offset: bool, keys: int = 0
    ) -> Select[Any]:
        clauses = self._where(shape)
        if keys:
            clauses.append(self._key_in(keys))
        if after:
            clauses.append(self.key > bindparam("after", type_=self.key.type))
        statement = self.select_all.where(*clauses).order_by(self.key)
        if limit:
            statement = statement.limit(bindparam("lim", type_=Integer))
        if offset:
            statement = statement.offset(bindparam("off", type_=Integer))
        return statement

    def listing(
        self,
        conditions: Sequence[Condition],
        after: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Bound:
        """Rows matching ``conditions``, key > ``after``, in key order, paged."""
        values: dict[str, Any] = {}
        shape = self._shape(conditions, values)
        if after is not None:
            values["after"] = after
        if limit is not None:
            values["lim"] = limit
        if offset:
            values["off"] = offset
        flags = (after is not None, limit is not None, bool(offset))
        compiled = self._cached(("list", shape, *flags), lambda: self._select(shape, *flags))
        return compiled, values

    def statement(
        self, conditions: Sequence[Condition], after: str | None = None, limit: int | None = None
    ) -> Select[Any]:
        """The SQLAlchemy statement ``listing`` compiles, its values bound (EXPLAIN tests)."""
        values: dict[str, Any] = {}
        shape = self._shape(conditions, values)
        if after is not None:
            values["after"] = after
        if limit is not None:
            values["lim"] = limit
        return self._select(shape, after is not None, limit is not None, False).params(values)

    def counting(self, conditions: Sequence[Condition]) -> Bound:
        values: dict[str, Any] = {}
        shape = self._shape(conditions, values)

        def build() -> Any:
            return select(func.count()).select_from(self.table).where(*self._where(shape))

        return self._cached(("count", shape), build), values

    def _key_in(self, count: int) -> ColumnElement[bool]:
        """``key IN (:k0, ...)`` on SQLite; ``key = ANY(:keys)`` on PostgreSQL: one array
        parameter instead of up to KEY_CHUNK (less to encode, bind and plan; one statement
        for every count)."""
        if self.sqlite:
            return self.key.in_([bindparam(f"k{i}", type_=self.key.type) for i in range(count)])
        from sqlalchemy.dialects.postgresql import ARRAY

        return self.key == any_(bindparam("keys", type_=ARRAY(String())))

    def _keys_shape(self, count: int) -> int:
        return count if self.sqlite else 0

    def _key_values(self, keys: Sequence[str]) -> dict[str, Any]:
        if self.sqlite:
            return {f"k{i}": key for i, key in enumerate(keys)}
        return {"keys": list(keys)}

    def by_keys(self, keys: Sequence[str]) -> Bound:
        """Rows with these keys (at most KEY_CHUNK), in no particular order."""

        def build() -> Any:
            return self.select_all.where(self._key_in(len(keys)))

        shape = ("keys", self._keys_shape(len(keys)))
        return self._cached(shape, build), self._key_values(keys)

    def keys_matching(self, conditions: Sequence[Condition], keys: Sequence[str]) -> Bound:
        """The keys among ``keys`` whose rows match ``conditions``."""
        values = self._key_values(keys)
        shape = self._shape(conditions, values)

        def build() -> Any:
            clauses = [*self._where(shape), self._key_in(len(keys))]
            return select(self.key).where(*clauses)

        return self._cached(("matching", shape, self._keys_shape(len(keys))), build), values

    def versions_of(self, keys: Sequence[str], lock: bool) -> Bound:
        """``(key, version)`` of the stored rows among ``keys``; ``lock``: FOR UPDATE, so the
        checked versions hold until the writes (SQLite's BEGIN IMMEDIATE already locks)."""

        def build() -> Any:
            statement = select(self.key, self.version).where(self._key_in(len(keys)))
            return statement.with_for_update() if lock else statement

        shape = ("versions", self._keys_shape(len(keys)), lock)
        return self._cached(shape, build), self._key_values(keys)

    def delete_keys(self, keys: Sequence[str]) -> Bound:
        def build() -> Any:
            return delete(self.table).where(self._key_in(len(keys)))

        shape = ("delete", self._keys_shape(len(keys)))
        return self._cached(shape, build), self._key_values(keys)

    def set_status(self, target: Any, note_field: str | None) -> Bound:
        """``UPDATE ... SET status, [note], version + 1, updated_at WHERE key AND status IN``:
        the transition rule is part of the guard. Returns the statement and its parameters
        fixed by ``target`` (cached per target: every call with it gets the same pair)."""
        cached = self._status_statements.get((target, note_field))
        if cached is None:
            allowed = sorted(plain(s) for s in status_sources(target))
            fixed = {f"s{i}": value for i, value in enumerate(allowed)}
            fixed["b_status"] = plain(target)
            names = [f"s{i}" for i in range(len(allowed))]

            def build() -> Any:
                table = self.table
                values: dict[str, Any] = {
                    "status": bindparam("b_status", type_=table.c.status.type),
                    # Inline, not a parameter: nothing to merge into every call's values.
                    "version": self.version + literal_column("1"),
                    "updated_at": bindparam("b_now", type_=table.c.updated_at.type),
                }
                if note_field is not None:
                    values[note_field] = bindparam("b_note", type_=table.c[note_field].type)
                allowed = [bindparam(n, type_=table.c.status.type) for n in names]
                statement = (
                    update(table)
                    .where(self.key == bindparam("b_key", type_=self.key.type))
                    .where(table.c.status.in_(allowed))
                    .values(values)
                )
                return statement

            # Targets with as many sources share one statement.
            compiled = self._cached(("status", len(names), note_field), build)
            cached = self._status_statements[(target, note_field)] = (compiled, fixed)
        return cached

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
        if not self.sqlite:
            from sqlalchemy.dialects.postgresql import JSONB

            jsonb = JSONB()
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
                clauses.append(or_(kind == "integer", kind == "real"))
                clauses.append(func.json_extract(column, path) == value)
            elif isinstance(value, str):
                clauses.append(kind == "text")
                clauses.append(func.json_extract(column, path) == value)
            else:
                clauses.append(kind == ("array" if isinstance(value, list) else "object"))
        return and_(true(), *clauses)

    def with_attributes(self, wanted: Mapping[str, Any]) -> Bound:
        """Templates narrowed by ``attributes_match`` in key order (values are literals of the
        statement: each call compiles, find_by_attributes is rare)."""
        statement = self.select_all.where(self.attributes_match(wanted)).order_by(self.key)
        return self._compile(statement), {}


def _compare(column: Any, op: str, param: Any) -> ColumnElement[bool]:
    if op == "eq":
        return column == param  # type: ignore[no-any-return]
    if op == "gt":
        return column > param  # type: ignore[no-any-return]
    if op == "gte":
        return column >= param  # type: ignore[no-any-return]
    if op == "lt":
        return column < param  # type: ignore[no-any-return]
    return column <= param  # type: ignore[no-any-return]
