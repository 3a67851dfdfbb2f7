"""The aiosqlite baseline: one connection to the store's database file, its own table."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from .raw_sql import RawDriver, Row, raw_table_ddl

_JSON = frozenset({"security_group_ids", "tags", "metadata", "provider_data"})
_WHEN = frozenset(
    {"launch_time", "provisioning_started_at", "termination_time", "created_at", "updated_at"}
)


def _json(value: Any) -> str:
    return json.dumps(value)


def _when(value: datetime | None) -> str | None:
    # The adapter's storage format: naive UTC text with microseconds (fixed width).
    return None if value is None else value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _same(value: Any) -> Any:
    return value


def _remove_database(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(path + suffix).unlink(missing_ok=True)


def sqlite_path(url: str) -> str:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return path if path and path != ":memory:" else ":memory:"


class RawSqlite(RawDriver):
    """``own_file``: the table lives in a database file of its own next to the store's (removed
    on close), so each side's WAL checkpoints are paid by that side's own writes."""

    def __init__(self, url: str, table: str, own_file: bool = False) -> None:
        super().__init__(table)
        self.path = sqlite_path(url)
        self.own_file = own_file and self.path != ":memory:"
        if self.own_file:
            self.path = str(Path(self.path).with_name(f"{table}.db"))
        self._conn: aiosqlite.Connection | None = None
        self._convert: list[tuple[str, Callable[[Any], Any]]] = [
            (n, _json if n in _JSON else _when if n in _WHEN else _same) for n in self.names
        ]
        t, cols = table, ", ".join(self.names)
        self._row = f"({', '.join('?' for _ in self.names)})"
        self._insert_head = f"INSERT INTO {t} ({cols}) VALUES "
        self._get = f"SELECT {cols} FROM {t} WHERE machine_id = ?"
        self._eq = {
            c: f"SELECT {cols} FROM {t} WHERE {c} = ? ORDER BY machine_id"
            for c in ("request_id", "status")
        }
        self._select = f"SELECT {cols} FROM {t} WHERE machine_id IN "
        self._page = (
            f"SELECT {cols} FROM {t} WHERE machine_id >= ? AND machine_id < ? AND machine_id > ?"
            " ORDER BY machine_id LIMIT ?"
        )
        self._update = (
            f"UPDATE {t} SET status = ?, status_reason = ?, version = version + 1,"
            " updated_at = ? WHERE machine_id = ? AND status IN "
        )
        self._delete = f"DELETE FROM {t} WHERE machine_id = ?"
        self._insert_one = f"{self._insert_head}{self._row} ON CONFLICT (machine_id) DO NOTHING"
        others = [n for n in self.names if n != "machine_id"]
        self._update_versioned = (
            f"UPDATE {t} SET {', '.join(f'{n} = ?' for n in others)}"
            " WHERE machine_id = ? AND version = ?"
        )
        self._convert_others = [(n, fn) for n, fn in self._convert if n != "machine_id"]

    @property
    def conn(self) -> aiosqlite.Connection:
        assert self._conn is not None, "open() first"
        return self._conn

    async def open(self) -> None:
        # Autocommit (isolation_level=None): every statement commits on its own. Same pragmas
        # as the adapter's connections. Writes read ``cursor.rowcount`` straight after execute:
        # one thread hop per statement, as a careful aiosqlite user writes it.
        self._conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=5.0)
        if self.path != ":memory:":
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self._conn.execute("PRAGMA busy_timeout=5000")

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self.own_file:
            _remove_database(self.path)

    async def create(self) -> None:
        for statement in raw_table_ddl("sqlite", self.table):
            await self.conn.execute(statement)

    async def drop(self) -> None:
        await self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")

    def _dicts(self, rows: Any) -> list[Row]:
        # JSON columns decoded, as an application needs them; timestamps stay text.
        names, loads = self.names, json.loads
        out = []
        for row in rows:
            values = dict(zip(names, row, strict=True))
            for name in _JSON:
                values[name] = loads(values[name])
            out.append(values)
        return out

    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        convert = self._convert
        params = [fn(row[name]) for row in rows for name, fn in convert]
        # One statement in autocommit mode is its own transaction (all rows or none).
        await self.conn.execute(self._insert_head + ", ".join([self._row] * len(rows)), params)

    async def insert_one(self, row: Mapping[str, Any]) -> bool:
        params = [fn(row[name]) for name, fn in self._convert]
        # One thread hop: the cursor's rowcount is read without another call (no close()).
        cursor = await self.conn.execute(self._insert_one, params)
        return bool(cursor.rowcount == 1)

    async def update_versioned(self, row: Mapping[str, Any], expected: int) -> bool:
        params = [fn(row[name]) for name, fn in self._convert_others]
        params += [row["machine_id"], expected]
        cursor = await self.conn.execute(self._update_versioned, params)
        return bool(cursor.rowcount == 1)

    async def get(self, key: str) -> Row | None:
        rows = await self.conn.execute_fetchall(self._get, (key,))
        return self._dicts(rows)[0] if rows else None

    async def select_eq(self, column: str, value: str) -> list[Row]:
        return self._dicts(await self.conn.execute_fetchall(self._eq[column], (value,)))

    async def select_keys(self, keys: Sequence[str]) -> list[Row]:
        sql = self._select + "(" + ", ".join("?" * len(keys)) + ")"
        return self._dicts(await self.conn.execute_fetchall(sql, list(keys)))

    async def update_status(
        self, key: str, status: str, reason: str, sources: Sequence[str], now: datetime
    ) -> bool:
        sql = self._update + "(" + ", ".join("?" * len(sources)) + ")"
        cursor = await self.conn.execute(sql, (status, reason, _when(now), key, *sources))
        return bool(cursor.rowcount == 1)

    async def page(self, low: str, high: str, after: str | None, limit: int) -> list[Row]:
        rows = await self.conn.execute_fetchall(self._page, (low, high, after or "", limit))
        return self._dicts(rows)

    async def delete(self, key: str) -> bool:
        cursor = await self.conn.execute(self._delete, (key,))
        return bool(cursor.rowcount == 1)

    async def delete_range(self, low: str, high: str) -> int:
        sql = f"DELETE FROM {self.table} WHERE machine_id >= ? AND machine_id < ?"
        async with self.conn.execute(sql, (low, high)) as cur:
            return int(cur.rowcount)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement on the raw connection (the scaling run's range delete)."""
        async with self.conn.execute(sql, params) as cur:
            return int(cur.rowcount)
