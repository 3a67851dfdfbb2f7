"""The raw-driver baseline: the workload's phases with plain SQL on aiosqlite / asyncpg.

It runs against its own table (``bench_raw_machines_<run>``: the machines table's columns,
types and indexes, copied from the SQL adapter's metadata) and works on plain dicts: rows go in
as dicts of Python values (JSON encoded and datetimes converted inside the timed region, as a
raw-driver user would have to), and come out as plain dicts with the JSON columns decoded
(asyncpg's jsonb codec set to ``json.loads``; ``json.loads`` per column on SQLite) and no other
conversion (SQLite timestamps stay text). Every write is one autocommitted statement with its
guard in it (``ON CONFLICT DO NOTHING``, ``WHERE version = ?``, ``WHERE status IN (...)``) and its
row count checked, the fastest way a careful application writes it; on SQLite the baseline may
live in a database file of its own (``own_file``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..domain import Machine, MachineStatus, utcnow
from ..domain.statuses import MACHINE_SOURCES
from .cpu import Meter, process_cpu
from .phases import NAMES, Outcome, Slice
from .workload import PAGE_SIZE, UPDATE_REASON, UPDATE_TARGET, Workload, public_ip

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


def store_tables() -> list[str]:
    """The store's own tables (templates, requests, machines)."""
    from ..adapters.sql.models import TABLES
    from ..domain.entities import ENTITY_TYPES

    return [TABLES[cls].name for cls in ENTITY_TYPES]


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

    async def meters(self) -> tuple[Meter, Meter, Callable[[], Awaitable[None]] | None]:
        """CPU meters of our side and of this baseline, and a refresh to call before each
        phase. Default: everything runs in this process (SQLite)."""
        return process_cpu, process_cpu, None

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def create(self) -> None: ...

    @abstractmethod
    async def drop(self) -> None: ...

    @abstractmethod
    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One multi-row INSERT of ``rows`` (one statement: its own transaction)."""

    @abstractmethod
    async def insert_one(self, row: Mapping[str, Any]) -> bool:
        """``INSERT … ON CONFLICT (key) DO NOTHING`` of one row, autocommitted; True when
        the row went in (the guard an insert of a new entity needs)."""

    @abstractmethod
    async def update_versioned(self, row: Mapping[str, Any], expected: int) -> bool:
        """``UPDATE … SET every column WHERE key = … AND version = expected``, autocommitted;
        True when one row changed."""

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

    async def tidy(self) -> None:
        """Make the store's tables (``store_tables()``, same database) start the run as tidy as
        the baseline's new table: nothing to do on SQLite, which frees deleted rows at once."""
        return None

    @abstractmethod
    async def delete_range(self, low: str, high: str) -> int:
        """Remove every row of a key range of the baseline table."""

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement on the raw connection; its row count."""


class RawPhases:
    """The same phases as ``phases.OurPhases`` on a raw driver, call for call."""

    def __init__(self, driver: RawDriver, w: Workload, save_chunk: int) -> None:
        self.driver = driver
        self.w = w
        self.save_chunk = save_chunk
        self.rows = plain_rows(w)
        self.bulk = self.rows[: len(w.bulk)]
        self.singles = self.rows[len(w.bulk) :]
        self.lookup_order = list(w.lookup_order)
        self.request_ids = [r.request_id for r in w.requests]
        self.statuses = [s.value for s in MachineStatus]
        self.chunks = list(w.instance_id_chunks())
        self.sources = sorted(s.value for s in MACHINE_SOURCES[UPDATE_TARGET])
        self._after: str | None = None  # page: the last key of the previous page

    async def save_many(self, start: int, stop: int) -> Outcome:
        outcome = Outcome(0, 0)
        chunk = self.save_chunk
        for call in range(start, stop):
            batch = self.bulk[call * chunk : (call + 1) * chunk]
            await self.driver.insert(batch)
            outcome.batches.append(len(batch))
            outcome.ops += len(batch)
        outcome.rows = outcome.ops
        return outcome

    async def save_new(self, start: int, stop: int) -> Outcome:
        insert, singles = self.driver.insert_one, self.singles
        for i in range(start, stop):
            row = singles[i]
            row["version"], row["updated_at"] = 1, utcnow()  # what save stamps
            if not await insert(row):
                raise RuntimeError(f"raw insert of {row['machine_id']} found the key taken")
        return Outcome(stop - start, stop - start)

    async def save_changed(self, start: int, stop: int) -> Outcome:
        update, rows = self.driver.update_versioned, self.rows
        for i in range(start, stop):
            row = rows[i]
            row["public_ip"] = public_ip(i)
            expected = row["version"]
            row["version"], row["updated_at"] = expected + 1, utcnow()
            if not await update(row, expected):
                raise RuntimeError(f"raw update of {row['machine_id']} found another version")
        return Outcome(stop - start, stop - start)

    async def get_by_id(self, start: int, stop: int) -> Outcome:
        found = 0
        get, keys = self.driver.get, self.lookup_order
        n = len(keys)
        for i in range(start, stop):
            if await get(keys[i % n]) is not None:
                found += 1
        return Outcome(stop - start, found)

    async def get_by_request_id(self, start: int, stop: int) -> Outcome:
        rows = 0
        select, ids = self.driver.select_eq, self.request_ids
        n = len(ids)
        for i in range(start, stop):
            rows += len(await select("request_id", ids[i % n]))
        return Outcome(stop - start, rows)

    async def get_by_status(self, start: int, stop: int) -> Outcome:
        rows = 0
        statuses = self.statuses
        n = len(statuses)
        for i in range(start, stop):
            rows += len(await self.driver.select_eq("status", statuses[i % n]))
        return Outcome(stop - start, rows)

    async def get_by_instance_ids(self, start: int, stop: int) -> Outcome:
        outcome = Outcome(stop - start, 0)
        chunks = self.chunks
        n = len(chunks)
        for i in range(start, stop):
            ids = chunks[i % n]
            by_key = {row["machine_id"]: row for row in await self.driver.select_keys(ids)}
            # The caller's order, like the port's get_by_instance_ids.
            outcome.rows += len([by_key[k] for k in ids if k in by_key])
            outcome.batches.append(len(ids))
        return outcome

    async def update_status(self, start: int, stop: int) -> Outcome:
        changed = 0
        update, rows, sources = self.driver.update_status, self.rows, self.sources
        target = UPDATE_TARGET.value
        for i in range(start, stop):
            if await update(rows[i]["machine_id"], target, UPDATE_REASON, sources, utcnow()):
                changed += 1
        return Outcome(stop - start, changed)

    async def page(self, start: int, stop: int) -> Outcome:
        """Keyset pages of the run's key range (one row more than a page tells whether
        another follows); after the last page it starts again, like ``OurPhases.page``."""
        low, high = self.w.key_range
        outcome = Outcome(stop - start, 0)
        for _ in range(start, stop):
            rows = await self.driver.page(low, high, self._after, PAGE_SIZE + 1)
            items = rows[:PAGE_SIZE]
            outcome.rows += len(items)
            self._after = items[-1]["machine_id"] if len(rows) > PAGE_SIZE else None
        return outcome

    async def delete(self, start: int, stop: int) -> Outcome:
        removed = 0
        remove, rows = self.driver.delete, self.rows
        for i in range(start, stop):
            if await remove(rows[i]["machine_id"]):
                removed += 1
        return Outcome(stop - start, removed)

    def by_name(self) -> dict[str, Slice]:
        return {name: getattr(self, name) for name in NAMES}


def open_driver(backend: str, url: str, table: str, *, own_file: bool = False) -> RawDriver:
    """The raw driver for a SQL store URL: the same database (on SQLite with ``own_file``, a
    file of its own next to the store's), its own table."""
    if backend == "sqlite":
        from .raw_sqlite import RawSqlite

        return RawSqlite(url, table, own_file)
    from .raw_postgres import RawPostgres

    return RawPostgres(url, table)
