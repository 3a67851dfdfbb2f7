"""Per-table statements of the fast path, compiled once per statement shape.

A shape is what changes the SQL text (which filters, which operators, how many IN values,
whether a limit applies); the values themselves are always parameters, so a handful of
compiled statements serve every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, false, func, literal, select, update
from sqlalchemy.engine import Dialect

from ...query import Condition
from .fastpath import Compiled, RowReader
from .statements import Codec, _plain

Shape = tuple[Any, ...]


class FastStatements:
    def __init__(self, codec: Codec[Any], dialect: Dialect) -> None:
        self.codec = codec
        self.dialect = dialect
        self.rows = RowReader(codec.table, dialect)
        self._cache: dict[Shape, Compiled] = {}
        names = codec.names
        self.by_key = Compiled(codec.by_key, dialect)
        self.version_of = Compiled(codec.version_of, dialect)
        self.exists = Compiled(codec.exists, dialect)
        self.delete_one = Compiled(codec.delete_one, dialect)
        self.insert_new = Compiled(codec.insert_new, dialect, names)
        self.update_versioned = Compiled(codec.update_versioned, dialect, names)

    def entity(self, row: Sequence[Any]) -> Any:  # the codec's entity type
        return self.codec.restore(self.rows.values(row))

    def _compiled(self, shape: Shape, build: Any) -> Compiled:
        compiled = self._cache.get(shape)
        if compiled is None:
            compiled = self._cache[shape] = Compiled(build(), self.dialect)
        return compiled

    @staticmethod
    def _shape(conditions: Sequence[Condition], values: dict[str, Any]) -> Shape:
        """The SQL-shaping part of the conditions; their values go into ``values``."""
        shape: list[Any] = []
        for index, cond in enumerate(conditions):
            name = f"p{index}"
            if cond.op == "in":
                for j, item in enumerate(cond.value):
                    values[f"{name}_{j}"] = _plain(item)
                shape.append((cond.field, "in", len(cond.value)))
            elif cond.op == "eq" and cond.value is None:
                shape.append((cond.field, "null"))
            else:
                values[name] = _plain(cond.value)
                shape.append((cond.field, cond.op))
        return tuple(shape)

    def _clauses(self, shape: Shape) -> list[ColumnElement[bool]]:
        """The WHERE clauses of a shape (built only when its statement is first compiled)."""
        clauses: list[ColumnElement[bool]] = []
        table = self.codec.table
        for index, (field, op, *size) in enumerate(shape):
            column = table.c[field]
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

    def listing(
        self,
        conditions: Sequence[Condition],
        after: str | None,
        limit: int | None,
        offset: int,
    ) -> tuple[Compiled, dict[str, Any]]:
        values: dict[str, Any] = {}
        shape = self._shape(conditions, values)
        codec = self.codec
        if after is not None:
            values["after"] = after
        if limit is not None:
            values["lim"] = limit
        if offset:
            values["off"] = offset

        def build() -> Any:
            clauses = self._clauses(shape)
            if after is not None:
                clauses.append(codec.key > bindparam("after", type_=codec.key.type))
            statement = codec.select_all.where(*clauses).order_by(codec.key)
            if limit is not None:
                statement = statement.limit(bindparam("lim", type_=Integer))
            if offset:
                statement = statement.offset(bindparam("off", type_=Integer))
            return statement

        key = ("list", shape, after is not None, limit is not None, bool(offset))
        return self._compiled(key, build), values

    def counting(self, conditions: Sequence[Condition]) -> tuple[Compiled, dict[str, Any]]:
        values: dict[str, Any] = {}
        shape = self._shape(conditions, values)
        table = self.codec.table

        def build() -> Any:
            return select(func.count()).select_from(table).where(*self._clauses(shape))

        return self._compiled(("count", shape), build), values

    def by_keys(self, keys: Sequence[str]) -> tuple[Compiled, dict[str, Any]]:
        codec = self.codec
        names = self._key_names(len(keys))

        def build() -> Any:
            params = [bindparam(n, type_=codec.key.type) for n in names]
            return codec.select_all.where(codec.key.in_(params))

        return self._compiled(("keys", len(keys)), build), dict(zip(names, keys, strict=True))

    @staticmethod
    def _key_names(count: int) -> list[str]:
        return [f"k{i}" for i in range(count)]

    def set_status(
        self, sources: Sequence[str], note_field: str | None
    ) -> tuple[Compiled, list[str]]:
        """``UPDATE ... SET status, [note], version + 1, updated_at WHERE key AND status IN``."""
        codec = self.codec
        names = [f"s{i}" for i in range(len(sources))]

        def build() -> Any:
            table = codec.table
            values: dict[str, Any] = {
                "status": bindparam("b_status", type_=table.c.status.type),
                "version": codec.version + literal(1),
                "updated_at": bindparam("b_now", type_=table.c.updated_at.type),
            }
            if note_field is not None:
                values[note_field] = bindparam("b_note", type_=table.c[note_field].type)
            allowed = [bindparam(n, type_=table.c.status.type) for n in names]
            return (
                update(table)
                .where(codec.key == bindparam("b_key", type_=codec.key.type))
                .where(table.c.status.in_(allowed))
                .values(values)
            )

        return self._compiled(("status", len(sources), note_field), build), names


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
