"""The raw-driver baseline: the workload's phases with plain SQL on aiosqlite / asyncpg.

It runs against its own table (``bench_raw_machines_<run>``: the machines table's columns,
types and indexes, copied from the SQL adapter's metadata) and works on plain dicts: rows go in
as dicts of Python values (JSON encoded and datetimes converted inside the timed region, as a
raw-driver user would have to), and come out as plain dicts with the JSON columns decoded
(asyncpg's jsonb codec set to ``json.loads``; ``json.loads`` per column on SQLite) and no other
conversion (SQLite timestamps stay text).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..domain import Machine
from ..domain.statuses import MACHINE_SOURCES
from .phases import TICK, Outcome, Tick
from .workload import PAGE_SIZE, UPDATE_REASON, UPDATE_TARGET, Workload

Row = dict[str, Any]


def raw_table_ddl(dialect: str, name: str) -> list[str]:
    """CREATE TABLE / CREATE INDEX statements for a copy of the machines table."""
    from sqlalchemy import Index, MetaData
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from ..adapters.sql.models import TABLES

    source = TABLES[Machine]
    copy = source.to_metadata(MetaData(), name=name)
    # Index and constraint names are global per schema: give the copy its own.
    copy.indexes = set()
    copy.primary_key.name = None
    for index in sorted(source.indexes, key=lambda ix: str(ix.name)):
        columns = [column.name for column in index.columns]
        Index(f"ix_{name}_{'_'.join(columns)}", *(copy.c[c] for c in columns))
    compiled_for: Any = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()  # type: ignore[no-untyped-call]
    statements = [str(CreateTable(copy).compile(dialect=compiled_for)).strip()]
    for index in sorted(copy.indexes, key=lambda ix: str(ix.name)):
        statements.append(str(CreateIndex(index).compile(dialect=compiled_for)))
    return statements


def column_names() -> tuple[str, ...]:
    from ..adapters.sql.models import TABLES

    return tuple(TABLES[Machine].c.keys())


def plain_rows(w: Workload) -> list[Row]:
    """The workload's machines as the dicts a raw-driver user starts from (untimed)."""
    rows = []
    for machine in w.machines:
        row = machine.to_dict()
        row["status"] = machine.status.value
        row["version"] = 1
        rows.append(row)
    return rows


class RawDriver(ABC):
    """One raw connection and the SQL of every phase on the baseline table."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.names = column_names()

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def create(self) -> None: ...

    @abstractmethod
    async def drop(self) -> None: ...

    @abstractmethod
    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One transaction: one multi-row INSERT of ``rows``."""

    @abstractmethod
    async def get(self, key: str) -> Row | None: ...

    @abstractmethod
    async def select_eq(self, column: str, value: str) -> list[Row]:
        """Rows with ``column = value`` in key order."""

    @abstractmethod
    async def select_keys(self, keys: Sequence[str]) -> list[Row]: ...

    @abstractmethod
    async def update_status(
        self, key: str, status: str, reason: str, sources: Sequence[str], now: datetime
    ) -> bool: ...

    @abstractmethod
    async def page(self, low: str, high: str, after: str | None, limit: int) -> list[Row]: ...

    @abstractmethod
    async def delete(self, key: str) -> bool: ...

    @abstractmethod
    async def delete_range(self, low: str, high: str) -> int:
        """Remove every row of a key range of the baseline table."""

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement on the raw connection; its row count."""


class RawPhases:
    """The same phases as ``phases.py`` on a raw driver."""

    def __init__(self, driver: RawDriver, w: Workload, save_chunk: int) -> None:
        self.driver = driver
        self.w = w
        self.save_chunk = save_chunk
        self.rows = plain_rows(w)

    async def save_many(self, tick: Tick) -> Outcome:
        for start in range(0, len(self.rows), self.save_chunk):
            batch = self.rows[start : start + self.save_chunk]
            await self.driver.insert(batch)
            tick(len(batch))
        return Outcome(len(self.rows), len(self.rows))

    async def get_by_id(self, tick: Tick) -> Outcome:
        found = 0
        for n, key in enumerate(self.w.lookup_order, 1):
            if await self.driver.get(key) is not None:
                found += 1
            if n % TICK == 0:
                tick(TICK)
        return Outcome(len(self.w.lookup_order), found)

    async def get_by_request_id(self, tick: Tick) -> Outcome:
        rows = 0
        for n, request in enumerate(self.w.requests, 1):
            rows += len(await self.driver.select_eq("request_id", request.request_id))
            if n % TICK == 0:
                tick(TICK)
        return Outcome(len(self.w.requests), rows)

    async def get_by_status(self, tick: Tick) -> Outcome:
        from ..domain import MachineStatus

        rows = 0
        for status in MachineStatus:
            rows += len(await self.driver.select_eq("status", status.value))
            tick(1)
        return Outcome(len(MachineStatus), rows)

    async def get_by_instance_ids(self, tick: Tick) -> Outcome:
        outcome = Outcome(0, 0)
        for ids in self.w.instance_id_chunks():
            by_key = {row["machine_id"]: row for row in await self.driver.select_keys(ids)}
            # The caller's order, like the port's get_by_instance_ids.
            outcome.rows += len([by_key[k] for k in ids if k in by_key])
            outcome.ops += 1
            tick(1)
        return outcome

    async def update_status(self, tick: Tick) -> Outcome:
        from ..domain import utcnow

        sources = sorted(s.value for s in MACHINE_SOURCES[UPDATE_TARGET])
        changed = 0
        target = UPDATE_TARGET.value
        for n, row in enumerate(self.rows, 1):
            key = row["machine_id"]
            if await self.driver.update_status(key, target, UPDATE_REASON, sources, utcnow()):
                changed += 1
            if n % TICK == 0:
                tick(TICK)
        return Outcome(len(self.rows), changed)

    async def page(self, tick: Tick) -> Outcome:
        low, high = self.w.key_range
        outcome = Outcome(0, 0)
        after: str | None = None
        while True:
            rows = await self.driver.page(low, high, after, PAGE_SIZE + 1)
            items = rows[:PAGE_SIZE]
            outcome.ops += 1
            outcome.rows += len(items)
            tick(1)
            if len(rows) <= PAGE_SIZE:
                return outcome
            after = items[-1]["machine_id"]

    async def delete(self, tick: Tick) -> Outcome:
        removed = 0
        for n, row in enumerate(self.rows, 1):
            if await self.driver.delete(row["machine_id"]):
                removed += 1
            if n % TICK == 0:
                tick(TICK)
        return Outcome(len(self.rows), removed)

    def by_name(self) -> dict[str, Callable[[Tick], Awaitable[Outcome]]]:
        return {
            "save_many": self.save_many,
            "get_by_id": self.get_by_id,
            "get_by_request_id": self.get_by_request_id,
            "get_by_status": self.get_by_status,
            "get_by_instance_ids": self.get_by_instance_ids,
            "update_status": self.update_status,
            "page": self.page,
            "delete": self.delete,
        }


def open_driver(backend: str, url: str, table: str) -> RawDriver:
    """The raw driver for a SQL store URL (same database, its own table)."""
    if backend == "sqlite":
        from .raw_sqlite import RawSqlite

        return RawSqlite(url, table)
    from .raw_postgres import RawPostgres

    return RawPostgres(url, table)
