"""A compiled statement: SQL text once per shape, and each call's positional parameters.

``queries.py`` builds the statements; a ``Compiled`` holds SQLAlchemy's compilation of one
(text, parameter order, bind conversions) so a call only picks and converts its values
before ``driver.py`` runs it on the driver's own connection.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from .internals import Processor, bind_processors

Binder = Callable[[str, Any], Processor | None]


class Compiled:
    """SQL text plus, per positional parameter, its name and bind conversion."""

    __slots__ = ("_convert", "_defaults", "_get", "names", "sql")

    def __init__(
        self,
        statement: ClauseElement,
        dialect: Dialect,
        column_keys: Sequence[str] | None = None,
        binder: Binder | None = None,
    ) -> None:
        """``column_keys``: INSERT/UPDATE take one parameter per named column, named like it.
        ``binder(name, type)``: a faster conversion equal to SQLAlchemy's for that parameter
        (None: keep SQLAlchemy's)."""
        compiled: Any = statement.compile(
            dialect=dialect, column_keys=None if column_keys is None else list(column_keys)
        )
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        bind = bind_processors(compiled)
        # Values fixed in the statement itself (literals become parameters too), converted
        # here once; a JSON null literal stays JSON ``null``, not SQL NULL.
        self._defaults: dict[str, Any] = {}
        for name, value in compiled.params.items():
            if compiled.binds[name].required:
                continue  # a parameter each call supplies
            processor = bind.get(name)
            evaluate_none = getattr(compiled.binds[name].type, "should_evaluate_none", False)
            if processor is not None and (value is not None or evaluate_none):
                value = processor(value)
            self._defaults[name] = value
        convert: list[tuple[int, Processor]] = []
        for index, name in enumerate(self.names):
            if name in self._defaults:
                continue
            fast = None if binder is None else binder(name, compiled.binds[name].type)
            processor = fast or bind.get(name)
            if processor is not None:
                convert.append((index, processor))
        # Only the parameters that need a conversion are visited per call.
        self._convert = tuple(convert)
        names = self.names
        self._get: Callable[[Mapping[str, Any]], list[Any]] = (
            (lambda values: [values[names[0]]])
            if len(names) == 1
            else (lambda values: [])
            if not names
            else _getter(names)
        )

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional parameters for ``values`` (by name), converted."""
        if self._defaults:  # already converted: not in ``_convert``
            values = {**self._defaults, **values}
        out = self._get(values)
        for index, processor in self._convert:
            value = out[index]
            if value is not None:
                out[index] = processor(value)
        return out

    def rows(self, count: int) -> CompiledRows:
        """This single-row INSERT as one statement of ``count`` rows."""
        return CompiledRows(self, count)


def _getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], list[Any]]:
    pick = operator.itemgetter(*names)  # one C call for every parameter

    def get(values: Mapping[str, Any]) -> list[Any]:
        return list(pick(values))

    return get


class CompiledRows:
    """A multi-row ``INSERT ... VALUES (...), (...)`` made from a single-row one."""

    __slots__ = ("_one", "sql")

    def __init__(self, one: Compiled, count: int) -> None:
        head, _, group = one.sql.partition(" VALUES ")
        width = len(one.names)
        if "$1" in group:
            # Numbered parameters (asyncpg): each row its own numbers, and no ``::TYPE`` casts
            # (the target columns give the types; the casts only made a long statement longer
            # to send and to parse, and asyncpg does not cache statements this long).
            groups = [
                "(" + ", ".join(f"${row * width + j}" for j in range(1, width + 1)) + ")"
                for row in range(count)
            ]
        else:
            groups = [group] * count
        self.sql = f"{head} VALUES {', '.join(groups)}"
        self._one = one

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        params = self._one.params
        return [value for row in rows for value in params(row)]
