"""Engines and connections: SQLite pragmas and transaction control, PostgreSQL timeouts.

Reads run on autocommit connections (one statement, its own snapshot); writes run only at
commit, in one short transaction (``BEGIN IMMEDIATE`` on SQLite, so writers queue on the busy
timeout instead of failing later with a stale WAL snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Executable, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ...config import ConfigError, StoreConfig, mask_url
from .errors import ErrorTranslator
from .fastpath import Compiled, Runner
from .types import pg_json_dumps

CONNECT_TIMEOUT = 5.0  # seconds: refused / unreachable servers fail fast (BackendUnavailable)
BUSY_TIMEOUT_MS = 5000  # SQLite writers wait this long for the write lock
_READ = "ohf_read"
FAST_CONNECTIONS = 4  # driver connections the fast path keeps out of the pool


def is_memory_sqlite(url: str) -> bool:
    return url.startswith("sqlite") and (":memory:" in url or url.rstrip("/").endswith(":///"))


def create_engine(config: StoreConfig) -> AsyncEngine:
    if config.backend == "sqlite":
        kwargs: dict[str, Any] = {}
        if is_memory_sqlite(config.url):
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            kwargs = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}}
        engine = create_async_engine(config.url, **kwargs)
        _sqlite_events(engine, memory=is_memory_sqlite(config.url))
        return engine
    engine = create_async_engine(
        config.url,
        json_serializer=pg_json_dumps,
        pool_timeout=CONNECT_TIMEOUT,
        pool_pre_ping=False,
        connect_args={
            "timeout": CONNECT_TIMEOUT,
            "command_timeout": 60,
            "server_settings": {"application_name": "ohf_persistence"},
        },
    )
    _pg_events(engine)
    return engine


def _pg_events(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # A pooled connection the server closed while it sat idle (restart, network cut) is
        # known locally (no round trip): the pool drops every connection older than now and
        # connects again, so the first call after an outage does not fail on a dead one.
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise sa_exc.InvalidatePoolError("connection closed while idle in the pool")


def _sqlite_events(engine: AsyncEngine, memory: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from sqlite3's legacy mode (which skips BEGIN before
        # SELECT): the "begin" hook below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get(_READ):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One engine plus the helpers repositories use; all errors leave translated."""

    def __init__(self, config: StoreConfig) -> None:
        try:
            make_url(config.url)
        except (sa_exc.ArgumentError, ValueError):
            # SQLAlchemy's message repeats the whole URL, password included: not chained.
            raise ConfigError(
                f"malformed {config.backend} URL {mask_url(config.url)!r} "
                "(expected e.g. postgresql+asyncpg://user@host:5432/db)"
            ) from None
        self.config = config
        self.backend = config.backend
        self.errors = ErrorTranslator(config.backend, config.url)
        self.engine = create_engine(config)
        if self.backend == "sqlite":
            self._read_engine = self.engine.execution_options(**{_READ: True})
        else:
            self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # A :memory: database is one shared connection: serialise its users.
        memory = is_memory_sqlite(config.url)
        self._lock: asyncio.Lock | None = asyncio.Lock() if memory else None
        size = 1 if memory else FAST_CONNECTIONS
        self._runner = Runner(self.engine, self.engine.dialect.name, size)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def _serialised(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
        else:
            async with self._lock:
                yield

    async def fetch(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """All rows of one statement, on an autocommit connection."""
        async with (
            self.errors.guard(),
            self._serialised(),
            self._read_engine.connect() as conn,
        ):
            result = await conn.execute(statement, params)
            return result.all()

    async def run_fetch(self, compiled: Compiled, values: dict[str, Any]) -> list[Any]:
        """Rows of a precompiled statement (fast path, autocommit)."""
        async with self.errors.guard(), self._serialised():
            return await self._runner.fetch(compiled, values)

    async def run_execute(
        self, compiled: Compiled, values: dict[str, Any], entity_type: str | None = None
    ) -> int:
        """One precompiled statement, committed on its own; the rows it changed."""
        async with self.errors.guard(entity_type), self._serialised():
            return await self._runner.execute(compiled, values)

    @contextlib.asynccontextmanager
    async def autocommit(self, entity_type: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A connection whose every statement commits on its own: for writes that are one
        statement (atomic by themselves), saving the BEGIN/COMMIT round trips."""
        async with (
            self.errors.guard(entity_type),
            self._serialised(),
            self._read_engine.connect() as conn,
        ):
            yield conn

    @contextlib.asynccontextmanager
    async def transaction(self, entity_type: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without an exception."""
        async with (
            self.errors.guard(entity_type),
            self._serialised(),
            self.engine.begin() as conn,
        ):
            yield conn

    async def close(self) -> None:
        async with self.errors.guard():
            await self._runner.close()
            await self.engine.dispose()
