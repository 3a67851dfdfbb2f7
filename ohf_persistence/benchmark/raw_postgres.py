"""The asyncpg baseline: one connection to the store's database, its own table."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .cpu import Backends, Meter, backends_visible, process_cpu, with_backends
from .raw_sql import RawDriver, Row, raw_table_ddl, store_tables

_JSON = frozenset({"security_group_ids", "tags", "metadata", "provider_data"})


def _json(value: Any) -> Any:
    return value  # the connection's jsonb codec encodes (see open)


def _same(value: Any) -> Any:
    return value


def asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "UPDATE 1" / "DELETE 0".
    return int(status.rsplit(" ", 1)[-1])


class RawPostgres(RawDriver):
    def __init__(self, url: str, table: str) -> None:
        super().__init__(table)
        self.dsn = asyncpg_dsn(url)
        self._conn: Any = None
        self._convert: list[tuple[str, Callable[[Any], Any]]] = [
            (n, _json if n in _JSON else _same) for n in self.names
        ]
        t, cols = table, ", ".join(self.names)
        self._insert_head = f"INSERT INTO {t} ({cols}) VALUES "
        self._get = f"SELECT {cols} FROM {t} WHERE machine_id = $1"
        self._eq = {
            c: f"SELECT {cols} FROM {t} WHERE {c} = $1 ORDER BY machine_id"
            for c in ("request_id", "status")
        }
        self._select = f"SELECT {cols} FROM {t} WHERE machine_id = ANY($1::varchar[])"
        self._page = (
            f"SELECT {cols} FROM {t} WHERE machine_id >= $1 AND machine_id < $2"
            " AND machine_id > $3 ORDER BY machine_id LIMIT $4"
        )
        self._update = (
            f"UPDATE {t} SET status = $1, status_reason = $2, version = version + 1,"
            " updated_at = $3 WHERE machine_id = $4 AND status = ANY($5::varchar[])"
        )
        self._delete = f"DELETE FROM {t} WHERE machine_id = $1"
        self._inserts: dict[int, str] = {}
        width = len(self.names)
        self._insert_one = (
            self._insert_head
            + "("
            + ", ".join(f"${c + 1}" for c in range(width))
            + ") ON CONFLICT (machine_id) DO NOTHING"
        )
        others = [n for n in self.names if n != "machine_id"]
        sets = ", ".join(f"{n} = ${i + 1}" for i, n in enumerate(others))
        self._update_versioned = (
            f"UPDATE {t} SET {sets} WHERE machine_id = ${len(others) + 1}"
            f" AND version = ${len(others) + 2}"
        )
        self._convert_others = [(n, fn) for n, fn in self._convert if n != "machine_id"]

    async def open(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self._conn = await asyncpg.connect(
            self.dsn, timeout=5.0, server_settings={"application_name": "ohf_persistence_bench"}
        )
        # What an application on raw asyncpg does so JSON columns arrive as dicts and lists.
        await self._conn.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    async def meters(self) -> tuple[Meter, Meter, Callable[[], Awaitable[None]] | None]:
        """Both sides' CPU includes their server backends (a server on this machine)."""
        port = int(await self._conn.fetchval("SELECT inet_server_port()") or 5432)
        backends = Backends(self._conn, port)
        await backends.refresh()
        if not backends_visible(backends.raw):
            return process_cpu, process_cpu, None  # a remote server: this process only
        return (
            with_backends(lambda: backends.ours),
            with_backends(lambda: backends.raw),
            backends.refresh,
        )

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def create(self) -> None:
        for statement in raw_table_ddl("postgresql", self.table):
            await self._conn.execute(statement)

    async def drop(self) -> None:
        await self._conn.execute(f"DROP TABLE IF EXISTS {self.table}")

    def _insert_sql(self, count: int) -> str:
        sql = self._inserts.get(count)
        if sql is None:
            width = len(self.names)
            groups = (
                "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")"
                for r in range(count)
            )
            sql = self._inserts[count] = self._insert_head + ", ".join(groups)
        return sql

    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        convert = self._convert
        params = [fn(row[name]) for row in rows for name, fn in convert]
        # A single statement is its own transaction.
        await self._conn.execute(self._insert_sql(len(rows)), *params)

    async def insert_one(self, row: Mapping[str, Any]) -> bool:
        params = [fn(row[name]) for name, fn in self._convert]
        return _count(await self._conn.execute(self._insert_one, *params)) == 1

    async def update_versioned(self, row: Mapping[str, Any], expected: int) -> bool:
        params = [fn(row[name]) for name, fn in self._convert_others]
        tag = await self._conn.execute(self._update_versioned, *params, row["machine_id"], expected)
        return _count(tag) == 1

    async def get(self, key: str) -> Row | None:
        record = await self._conn.fetchrow(self._get, key)
        return None if record is None else dict(record)

    async def select_eq(self, column: str, value: str) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(self._eq[column], value)]

    async def select_keys(self, keys: Sequence[str]) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(self._select, list(keys))]

    async def update_status(
        self, key: str, status: str, reason: str, sources: Sequence[str], now: datetime
    ) -> bool:
        tag = await self._conn.execute(self._update, status, reason, now, key, list(sources))
        return _count(tag) == 1

    async def page(self, low: str, high: str, after: str | None, limit: int) -> list[Row]:
        records = await self._conn.fetch(self._page, low, high, after or "", limit)
        return [dict(r) for r in records]

    async def delete(self, key: str) -> bool:
        return _count(await self._conn.execute(self._delete, key)) == 1

    async def tidy(self) -> None:
        # Earlier runs deleted their machines: their dead row versions stay in the store's
        # indexes until a vacuum, and every index scan of ours would step over them (a status
        # that earlier runs used heavily read 30x slower), while raw's table is new each run.
        for table in store_tables():
            await self._conn.execute(f"VACUUM {table}")

    async def delete_range(self, low: str, high: str) -> int:
        sql = f"DELETE FROM {self.table} WHERE machine_id >= $1 AND machine_id < $2"
        return _count(await self._conn.execute(sql, low, high))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement on the raw connection (the scaling run's range delete)."""
        return _count(await self._conn.execute(sql, *params))
