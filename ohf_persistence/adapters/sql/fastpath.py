"""The hot paths: statements compiled once by SQLAlchemy, run on the driver connection.

SQLAlchemy's per-execution work (connection checkout, cursor wrapping, result objects, the
asyncio adapter's extra thread hops on aiosqlite) costs several times the query itself for
one-row reads and one-statement writes. Here SQLAlchemy still writes the SQL (compiled once per
statement shape and cached) and its type processors still convert every bound value and result
column, so rows are exactly what the Core path returns; only the execution goes straight to
aiosqlite / asyncpg, on a few connections kept checked out of the engine's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import json.scanner
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement

from .types import UTCDateTime

Processor = Callable[[Any], Any] | None


class Compiled:
    """SQL text plus, per positional parameter, its name and bind processor."""

    __slots__ = ("defaults", "names", "processors", "sql")

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> None:
        # column_keys: INSERT/UPDATE take one parameter per named column, named like it.
        compiled: Any = statement.compile(
            dialect=dialect, column_keys=None if column_keys is None else list(column_keys)
        )
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        bind = compiled._bind_processors  # name -> processor (SQLAlchemy's own conversions)
        self.processors: tuple[Processor, ...] = tuple(bind.get(name) for name in self.names)
        # Values fixed in the statement itself (literals become parameters too).
        self.defaults: dict[str, Any] = dict(compiled.params)

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        out = []
        for name, processor in zip(self.names, self.processors, strict=True):
            value = values[name] if name in values else self.defaults[name]
            out.append(value if processor is None or value is None else processor(value))
        return out


class RowReader:
    """Driver rows -> entity field values, the same values SQLAlchemy's result processing gives,
    with the per-value work cut down (this runs for every row of every list query)."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        self.names = tuple(table.c.keys())
        self._converting: list[tuple[str, Callable[[Any], Any]]] = []
        for column in table.c:
            convert = _converter(column.type, dialect)
            if convert is not None:
                self._converting.append((column.name, convert))

    def values(self, row: Sequence[Any]) -> dict[str, Any]:
        values = dict(zip(self.names, row, strict=True))
        for name, convert in self._converting:
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        return values


_scan: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _json_text(text: str) -> Any:
    # Most stored dicts and lists are empty: skip the decoder for them.
    if text == "{}":
        return {}
    if text == "[]":
        return []
    value, end = _scan(text, 0)
    if end != len(text):  # trailing data: let the full decoder report or handle it
        return json.loads(text)
    return value


def _sqlite_when(text: str) -> datetime:
    # Stored as fixed-width naive UTC text (see types.UTCDateTime); the suffix makes the C
    # parser attach UTC itself.
    return datetime.fromisoformat(text + "+00:00")


def _aware_when(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _converter(kind: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    sqlite = dialect.name == "sqlite"
    impl = kind.dialect_impl(dialect)
    if isinstance(kind, UTCDateTime):
        return _sqlite_when if sqlite else _aware_when
    if isinstance(impl, JSON):
        # asyncpg's jsonb codec (installed by SQLAlchemy) already decodes.
        return _json_text if sqlite else None
    if isinstance(impl, Boolean):
        return bool if sqlite else None
    processor: Callable[[Any], Any] | None = kind._cached_result_processor(dialect, None)
    return processor


class Runner:
    """A small pool of driver connections held out of the engine's pool (created lazily)."""

    def __init__(self, engine: AsyncEngine, dialect: str, size: int) -> None:
        self._engine = engine
        self._sqlite = dialect == "sqlite"
        self._size = size
        self._held: list[AsyncConnection] = []
        self._idle: list[Any] = []
        # One slot per connection in use: checked before connecting, so concurrent callers
        # never open more than ``size`` (and a failed connect or a dropped connection frees
        # its slot instead of leaving waiters stuck).
        self._slots: asyncio.Semaphore | None = None

    async def _new(self) -> Any:
        conn = await self._engine.connect()
        self._held.append(conn)
        raw = await conn.get_raw_connection()
        return raw.driver_connection

    @contextlib.asynccontextmanager
    async def _driver(self) -> AsyncIterator[Any]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        async with self._slots:
            driver = await self._idle_driver() or await self._new()
            try:
                yield driver
            except BaseException:
                # The connection may be broken or mid-statement: drop it, a new one replaces it.
                await self._drop(driver)
                raise
            self._idle.append(driver)

    async def _idle_driver(self) -> Any:
        """An idle connection that is still open, or None. A server restart or a network cut
        closes every idle connection at once: they are dropped here, so the first call after
        the server is back opens a new connection instead of failing on a dead one."""
        while self._idle:
            driver = self._idle.pop()
            is_closed = getattr(driver, "is_closed", None)  # asyncpg; aiosqlite has no network
            if is_closed is None or not is_closed():
                return driver
            await self._drop(driver)
        return None

    async def _drop(self, driver: Any) -> None:
        for conn in self._held:
            raw = conn.sync_connection.connection if conn.sync_connection else None
            if raw is not None and raw.driver_connection is driver:
                self._held.remove(conn)
                with contextlib.suppress(Exception):  # already failing: keep the first error
                    await conn.invalidate()
                    await conn.close()
                return

    async def fetch(self, compiled: Compiled, values: Mapping[str, Any]) -> list[Any]:
        params = compiled.params(values)
        async with self._driver() as driver:
            if self._sqlite:
                return list(await driver.execute_fetchall(compiled.sql, params))
            return list(await driver.fetch(compiled.sql, *params))

    async def execute(self, compiled: Compiled, values: Mapping[str, Any]) -> int:
        """Run one statement in autocommit mode; the number of rows it changed."""
        params = compiled.params(values)
        async with self._driver() as driver:
            if self._sqlite:
                async with driver.execute(compiled.sql, params) as cursor:
                    return int(cursor.rowcount)
            status: str = await driver.execute(compiled.sql, *params)
            return int(status.rsplit(" ", 1)[-1])

    async def close(self) -> None:
        held, self._held = self._held, []
        self._idle.clear()
        for conn in held:
            await conn.close()
