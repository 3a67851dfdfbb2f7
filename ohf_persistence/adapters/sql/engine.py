"""The database of one store: its URL, its driver connections and (for Alembic) an engine.

Calls run on the pool of driver connections (``driver.py``): reads and one-statement writes in
autocommit mode, several writes in one short transaction (``BEGIN IMMEDIATE`` on SQLite). The
SQLAlchemy engine is built only when Alembic or a test asks for it (``Database.engine``,
``Database.run_sync``): its asyncio layer imports the ORM, which a call does not need.

``direct=True`` (SQLite only; the sync API's stores): the connections are stdlib ``sqlite3``
ones whose calls never suspend (``driver.DirectPool``), and Alembic gets a synchronous engine
on them, so even opening and migrating such a store runs in the caller's thread.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Executable
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Dialect, make_url

from ...config import ConfigError, StoreConfig, mask_url
from ...domain.errors import PersistenceError, SchemaOutOfDate
from .. import BACKENDS
from .compiled import Compiled
from .driver import (
    BasePool,
    Connection,
    DirectPool,
    DirectSqliteConnection,
    Pool,
    connect_postgres,
    connect_sqlite,
    connect_sqlite_direct,
)
from .errors import ErrorTranslator
from .models import SCHEMA_HEAD, postgresql_options
from .types import pg_json_dumps

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection as SaConnection
    from sqlalchemy.ext.asyncio import AsyncConnection

CONNECT_TIMEOUT = 5.0  # seconds: refused / unreachable servers fail fast (BackendUnavailable)
CALL_TIMEOUT = 5.0  # seconds one PostgreSQL statement may take (URL option ``timeout``)
BUSY_TIMEOUT_MS = 5000  # SQLite writers wait this long for the write lock
POOL_SIZE = 4  # driver connections per store (a :memory: database has exactly one)
_READ = "ohf_read"
T = TypeVar("T")


def is_memory_sqlite(url: str) -> bool:
    return url.startswith("sqlite") and (
        ":memory:" in url or url.rstrip("/").split("?")[0].endswith(":///")
    )


def _dialect(backend: str) -> Dialect:
    """The dialect that compiles our statements (no engine, no driver import)."""
    if backend == "sqlite":
        from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

        return SQLiteDialect_aiosqlite()
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    postgresql_options()

    return PGDialect_asyncpg(json_serializer=pg_json_dumps)  # type: ignore[no-untyped-call]


# URL query options: ours (``timeout``) and the asyncpg connect options passed through (the
# one list is the backend registry's; config.py checks URLs with it first).
POSTGRES_OPTIONS = BACKENDS["postgresql"].url_options


def _check_options(url: URL, backend: str, masked: str) -> None:
    """Unknown or repeated URL options are a ConfigError (never ignored, never a driver
    TypeError); SQLite takes none, and needs a path (``:memory:`` for an in-memory one)."""
    known = POSTGRES_OPTIONS if backend == "postgresql" else ()
    for name, value in url.query.items():
        if name not in known:
            listed = ", ".join(known) or "none"
            raise ConfigError(
                f"unknown {backend} URL option {name!r} in {masked!r}; known: {listed}"
            )
        if not isinstance(value, str):
            raise ConfigError(f"URL option {name!r} given {len(value)} times in {masked!r}")
    if backend == "sqlite" and not url.database:
        raise ConfigError(
            f"no SQLite path in {masked!r}; give a file (sqlite+aiosqlite:///ohf.db) or, for a "
            "private in-memory database, sqlite+aiosqlite:///:memory:"
        )


def _call_timeout(url: URL, masked: str) -> tuple[URL, float]:
    """The ``timeout`` option (seconds per PostgreSQL statement), removed from the URL."""
    raw = url.query.get("timeout")
    if raw is None:
        return url, CALL_TIMEOUT
    try:
        value = float(raw if isinstance(raw, str) else raw[-1])
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ConfigError(f"timeout must be seconds in (0, 3600], got {raw!r} in {masked!r}")
    return url.difference_update_query(["timeout"]), value


class Database:
    """One store's connections; every error leaves translated. ``direct``: see the module
    docstring."""

    def __init__(self, config: StoreConfig, *, direct: bool = False) -> None:
        try:
            url = make_url(config.url)
        except (sa_exc.ArgumentError, ValueError):
            # SQLAlchemy's message repeats the whole URL, password included: not chained.
            raise ConfigError(
                f"malformed {config.backend} URL {mask_url(config.url)!r} "
                "(expected e.g. postgresql+asyncpg://user@host:5432/db)"
            ) from None
        self.config = config
        self.backend = config.backend
        self.errors = ErrorTranslator(config.backend, config.url)
        _check_options(url, self.backend, self.errors.url)
        self.memory = is_memory_sqlite(config.url)
        if direct and self.backend != "sqlite":
            raise ValueError("direct connections are SQLite's only")
        self.direct = direct
        if not direct:
            # The driver is an extra: a missing one is an ImportError here, at open (config.py
            # turns it into a ConfigError naming the extra), not a failure of the first call.
            importlib.import_module("aiosqlite" if self.backend == "sqlite" else "asyncpg")
        self.compiler = _dialect(config.backend)
        self.call_timeout = CALL_TIMEOUT
        if self.backend == "postgresql":
            url, self.call_timeout = _call_timeout(url, self.errors.url)
        self._url = url
        self._engine: Any = None
        self._memory_conn: Any = None
        size = 1 if self.memory else POOL_SIZE
        self.pool: BasePool[Any] = (
            DirectPool(self._connect_direct, size, self.memory, self.errors.url)
            if direct
            else Pool(self._connect, size, self.memory, self.errors.url)
        )

    @property
    def dialect(self) -> str:
        return self.compiler.name

    async def _connect_direct(self) -> DirectSqliteConnection:
        conn = await connect_sqlite_direct(
            self._url.database or ":memory:", self.memory, BUSY_TIMEOUT_MS
        )
        if self.memory:
            self._memory_conn = conn
        return conn

    async def _connect(self) -> Connection:
        if self.backend == "sqlite":
            path = self._url.database or ":memory:"
            conn = await connect_sqlite(path, self.memory, BUSY_TIMEOUT_MS)
            if self.memory:
                self._memory_conn = conn
            return conn
        _args, kwargs = self.compiler.create_connect_args(self._url)
        kwargs.pop("prepared_statement_cache_size", None)
        kwargs.pop("async_fallback", None)
        return await connect_postgres(
            dict(kwargs), CONNECT_TIMEOUT, self.call_timeout, self.errors.url
        )

    # -- calls
    async def _acquire(self, entity_type: str | None) -> Connection:
        try:
            conn: Connection = await self.pool.acquire()
            return conn
        except PersistenceError:
            raise
        except Exception as exc:
            raise self.errors.translate(exc, entity_type) from exc

    async def _failed(self, conn: Connection, exc: BaseException, entity_type: str | None) -> None:
        """Recover ``conn`` after ``exc``, then raise ``exc`` translated."""
        await self.pool.failed(conn, exc)
        if isinstance(exc, Exception) and not isinstance(exc, PersistenceError):
            raise self.errors.translate(exc, entity_type) from exc
        raise exc

    async def run(
        self, work: Callable[[Connection], Awaitable[T]], entity_type: str | None = None
    ) -> T:
        """``work`` on a lent connection in autocommit mode; errors leave translated."""
        conn = await self._acquire(entity_type)
        try:
            result = await work(conn)
        except BaseException as exc:
            await self._failed(conn, exc, entity_type)
            raise  # not reached: _failed raises
        self.pool.release(conn)
        return result

    async def fetch_rows(self, compiled: Compiled, values: Mapping[str, Any]) -> list[Any]:
        """All rows of one compiled statement (the read path: ``run`` without a closure)."""
        conn = await self._acquire(None)
        try:
            rows = await conn.fetch(compiled, values)
        except BaseException as exc:
            await self._failed(conn, exc, None)
            raise  # not reached: _failed raises
        self.pool.release(conn)
        return rows

    async def in_transaction(
        self, work: Callable[[Connection], Awaitable[T]], entity_type: str | None = None
    ) -> T:
        """``work`` in one transaction, committed when it returns, rolled back if it raises."""

        async def transact(conn: Connection) -> T:
            await conn.begin()
            result = await work(conn)
            await conn.commit()
            return result

        return await self.run(transact, entity_type)

    async def schema_revisions(self) -> list[str]:
        """The rows of ``alembic_version`` (SchemaOutOfDate when the table is missing)."""

        async def read(conn: Connection) -> list[str]:
            return sorted(
                str(row[0])
                for row in await conn.fetch_text("SELECT version_num FROM alembic_version")
            )

        return await self.run(read)

    async def at_head(self) -> bool:
        """Whether ``alembic_version`` holds exactly this code's revision, read without
        importing Alembic (models.SCHEMA_HEAD is the head, checked by
        tests/test_sql_layout.py). A missing table is False."""
        try:
            return await self.schema_revisions() == [SCHEMA_HEAD]
        except SchemaOutOfDate:
            return False

    # -- SQLAlchemy, for Alembic and tests
    @property
    def engine(self) -> Any:
        """An AsyncEngine on the same database (a :memory: one shares its one connection);
        a synchronous Engine when ``direct``."""
        if self._engine is None:
            self._engine = self._create_sync_engine() if self.direct else self._create_engine()
        return self._engine

    def _create_sync_engine(self) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        url = self._url.set(drivername="sqlite")  # the stdlib driver, like the pool's
        # Any thread may open or migrate the store: its pooled connection may be reused by another.
        connect = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        kwargs: dict[str, Any] = {"connect_args": connect}
        if self.memory:  # the pool's one connection, lent by ``_exclusive``
            kwargs = {"poolclass": StaticPool, "creator": lambda: self._memory_conn.raw}
        engine = create_engine(url, **kwargs)
        _sqlite_events(engine, memory=self.memory)
        return engine

    def _create_engine(self) -> Any:
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import StaticPool

        url = self._url.render_as_string(hide_password=False)
        if self.backend == "sqlite":
            kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}}
            if self.memory:
                kwargs = {"poolclass": StaticPool, "async_creator": self._memory_connection}
            engine = create_async_engine(url, **kwargs)
            _sqlite_events(engine, memory=self.memory)
            return engine
        return create_async_engine(
            url,
            json_serializer=pg_json_dumps,
            pool_timeout=CONNECT_TIMEOUT,
            connect_args={
                "timeout": CONNECT_TIMEOUT,
                "command_timeout": self.call_timeout,
                "server_settings": {"application_name": "ohf_persistence"},
            },
        )

    async def _memory_connection(self) -> Any:
        # The engine's StaticPool wraps the pool's one connection (lent by ``_exclusive``):
        # one database, one thread.
        return self._memory_conn.raw

    @contextlib.asynccontextmanager
    async def transaction(self, entity_type: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A SQLAlchemy AsyncConnection in a transaction (tests; not when ``direct``)."""
        if self.direct:
            raise PersistenceError("a direct SQLite database has no async engine: use run_sync")
        async with self.errors.guard(entity_type), self._exclusive(), self.engine.begin() as conn:
            yield conn

    async def run_sync(self, work: Callable[[SaConnection], T]) -> T:
        """``work`` on a SQLAlchemy (synchronous) Connection in one transaction: Alembic's
        and the schema checks' way in. When ``direct`` nothing suspends."""
        if not self.direct:
            async with self.transaction() as conn:
                return await conn.run_sync(work)
        async with self.errors.guard(), self._exclusive():
            with self.engine.begin() as sync_conn:
                return work(sync_conn)

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """A :memory: database's one connection is lent to the engine for the block."""
        if not self.memory:
            yield
            return
        conn = await self.pool.acquire()
        try:
            yield
        finally:
            self.pool.release(conn)

    async def fetch(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """All rows of a SQLAlchemy statement (migrations)."""
        return await self.run_sync(lambda conn: conn.execute(statement, params).all())

    async def close(self) -> None:
        """Refuse further calls, close every connection (in-flight calls close theirs when
        they end)."""
        async with self.errors.guard():
            await self.pool.close()
            if self._engine is not None:
                engine, self._engine = self._engine, None
                if self.memory:  # the memory engine's connection is the pool's: closed
                    pass
                elif self.direct:
                    engine.dispose()
                else:
                    await engine.dispose()


def _sqlite_events(engine: Any, memory: bool) -> None:
    from sqlalchemy import event

    target = getattr(engine, "sync_engine", engine)  # an AsyncEngine's, or a sync Engine

    @event.listens_for(target, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from sqlite3's legacy mode (which skips BEGIN before
        # SELECT): the "begin" hook below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(target, "begin")
    def _on_begin(conn: SaConnection) -> None:
        if not conn.get_execution_options().get(_READ):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
