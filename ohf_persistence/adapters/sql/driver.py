"""Execution on the driver's own connections (aiosqlite / asyncpg), and their pools.

The sync API runs SQLite on ``DirectSqliteConnection``s (the stdlib ``sqlite3`` connection
itself) lent by a ``DirectPool``: their async methods never suspend, so ``sync.py`` drives each
call to completion in the caller's thread, with no event loop and no thread hop per statement.
Everything above them (repositories, writes, error translation) is the same code either way.

SQLAlchemy writes every statement (compiled once per shape, see ``queries.py`` and
``compiled.py``) and its type processors convert every bound value; the statements then run
straight on aiosqlite / asyncpg.
SQLAlchemy's per-execution work (connection checkout, result objects, greenlet hops) costs
several times a one-row query, and its asyncio layer imports the ORM, so the engine is only
built for Alembic and the tests (``engine.Database.engine``).

Lifetime rules (docs/reliability.md, "connection lifetime"):
- a ``:memory:`` SQLite database *is* its one connection: it is never dropped or reopened;
  a failed or cancelled call only rolls its transaction back;
- SQLite file connections survive failed and cancelled calls too (the statement finishes in
  aiosqlite's thread; the rollback is queued behind it);
- a PostgreSQL connection that fails outside the database's own refusals (a cut, a deadline, a
  cancellation) is closed and replaced; one made in another event loop is never reused;
- every PostgreSQL statement has a deadline (``timeout`` URL option): a silent server fails
  the call with BackendUnavailable instead of hanging;
- a direct SQLite connection is kept after any failed call (rolled back first); it cannot be
  cancelled half-way (nothing suspends), and a thread waits for a free one on a condition;
- after ``close()`` the pool opens nothing and every call raises StoreClosed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ...domain.errors import BackendUnavailable, StoreClosed
from .compiled import Compiled, CompiledRows
from .internals import sqlite_connection, sqlite_worker_stopped


class Connection:
    """One driver connection: statements, transactions, and how it ends."""

    sqlite: bool
    in_transaction: bool = False

    async def fetch(self, compiled: Compiled, values: Mapping[str, Any]) -> list[Any]:
        raise NotImplementedError

    async def fetch_text(self, sql: str) -> list[Any]:
        raise NotImplementedError

    async def execute(self, compiled: Compiled, values: Mapping[str, Any]) -> int:
        """One statement; the number of rows it changed."""
        raise NotImplementedError

    async def run(self, compiled: Compiled, values: Mapping[str, Any]) -> None:
        """One statement whose row count nobody needs."""
        raise NotImplementedError

    async def execute_many(self, compiled: Compiled, rows: Sequence[Mapping[str, Any]]) -> None:
        raise NotImplementedError

    async def insert_rows(self, compiled: CompiledRows, rows: Sequence[Mapping[str, Any]]) -> None:
        """One multi-row INSERT."""
        raise NotImplementedError

    async def begin(self) -> None:
        raise NotImplementedError

    async def commit(self) -> None:
        raise NotImplementedError

    async def rollback(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def keeps_after(self, exc: BaseException) -> bool:
        """Whether the connection is still sound after ``exc`` ended a call on it."""
        raise NotImplementedError

    def usable_in(self, loop: asyncio.AbstractEventLoop) -> bool:
        return True


class SqliteConnection(Connection):
    """SQLite through aiosqlite: every statement is one hop to its worker thread and back."""

    sqlite = True

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    # The three primitives every statement goes through (DirectSqliteConnection runs them here).
    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.raw.execute_fetchall(sql, params))

    async def _many(self, sql: str, rows: list[Any]) -> None:
        await self.raw.executemany(sql, rows)

    async def _changed(self, sql: str, params: Sequence[Any]) -> int:
        # One hop; the row count is read from the cursor afterwards (no RETURNING: producing
        # and fetching a returned row costs SQLite about 10 µs per statement).
        cursor = await self.raw.execute(sql, params)
        return int(cursor.rowcount)

    async def fetch(self, compiled: Compiled, values: Mapping[str, Any]) -> list[Any]:
        return await self._all(compiled.sql, compiled.params(values))

    async def fetch_text(self, sql: str) -> list[Any]:
        return await self._all(sql)

    async def execute(self, compiled: Compiled, values: Mapping[str, Any]) -> int:
        return await self._changed(compiled.sql, compiled.params(values))

    async def run(self, compiled: Compiled, values: Mapping[str, Any]) -> None:
        await self._all(compiled.sql, compiled.params(values))

    async def execute_many(self, compiled: Compiled, rows: Sequence[Mapping[str, Any]]) -> None:
        params = compiled.params
        await self._many(compiled.sql, [params(row) for row in rows])

    async def insert_rows(self, compiled: CompiledRows, rows: Sequence[Mapping[str, Any]]) -> None:
        await self._all(compiled.sql, compiled.params(rows))

    async def begin(self) -> None:
        # IMMEDIATE: writers queue on the busy timeout at BEGIN instead of failing later with
        # a stale WAL snapshot.
        self.in_transaction = True
        await self._all("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self._all("COMMIT")
        self.in_transaction = False

    async def rollback(self) -> None:
        self.in_transaction = False
        try:
            await self._all("ROLLBACK")
        except sqlite3.OperationalError as exc:
            # A cancelled BEGIN may never have run: nothing to roll back.
            if "no transaction is active" not in str(exc):
                raise

    async def close(self) -> None:
        await self.raw.close()

    def keeps_after(self, exc: BaseException) -> bool:
        # SQLite has no network: after any error the connection (and a :memory: database's
        # data) is intact; only a connection whose thread has ended is lost.
        return bool(getattr(self.raw, "_running", True))


class DirectSqliteConnection(SqliteConnection):
    """SQLite through the stdlib ``sqlite3`` connection, in the calling thread: no method
    ever suspends, so the sync API drives calls to completion without an event loop (a
    statement waiting on the busy timeout blocks this thread, as sqlite3 does)."""

    raw: sqlite3.Connection

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.raw.execute(sql, params).fetchall()

    async def _many(self, sql: str, rows: list[Any]) -> None:
        self.raw.executemany(sql, rows)

    async def _changed(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.raw.execute(sql, params).rowcount)

    async def close(self) -> None:
        self.raw.close()

    def keeps_after(self, exc: BaseException) -> bool:
        return True  # no worker thread to lose; see SqliteConnection.keeps_after


class PgConnection(Connection):
    sqlite = False

    def __init__(self, raw: Any, timeout: float) -> None:
        self.raw = raw
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()

    async def fetch(self, compiled: Compiled, values: Mapping[str, Any]) -> list[Any]:
        return list(
            await self.raw.fetch(compiled.sql, *compiled.params(values), timeout=self.timeout)
        )

    async def fetch_text(self, sql: str) -> list[Any]:
        return list(await self.raw.fetch(sql, timeout=self.timeout))

    async def execute(self, compiled: Compiled, values: Mapping[str, Any]) -> int:
        status: str = await self.raw.execute(
            compiled.sql, *compiled.params(values), timeout=self.timeout
        )
        return int(status.rsplit(" ", 1)[-1])

    async def run(self, compiled: Compiled, values: Mapping[str, Any]) -> None:
        await self.raw.execute(compiled.sql, *compiled.params(values), timeout=self.timeout)

    async def execute_many(self, compiled: Compiled, rows: Sequence[Mapping[str, Any]]) -> None:
        params = compiled.params
        await self.raw.executemany(
            compiled.sql, [params(row) for row in rows], timeout=self.timeout
        )

    async def insert_rows(self, compiled: CompiledRows, rows: Sequence[Mapping[str, Any]]) -> None:
        await self.raw.execute(compiled.sql, *compiled.params(rows), timeout=self.timeout)

    async def begin(self) -> None:
        self.in_transaction = True
        await self.raw.execute("BEGIN", timeout=self.timeout)

    async def commit(self) -> None:
        await self.raw.execute("COMMIT", timeout=self.timeout)
        self.in_transaction = False

    async def rollback(self) -> None:
        self.in_transaction = False
        await self.raw.execute("ROLLBACK", timeout=self.timeout)

    async def close(self) -> None:
        if self.loop is asyncio.get_running_loop() and not self.raw.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.raw.close(), self.timeout)
                return
        self.abort()

    def abort(self) -> None:
        """Close the socket now (no goodbye to the server; safe from another event loop)."""
        with contextlib.suppress(Exception):
            self.raw.terminate()

    def keeps_after(self, exc: BaseException) -> bool:
        # The server refused a statement (constraint, data error): the connection is fine.
        # Anything else (cut, deadline, cancellation mid-statement) leaves it in doubt.
        from asyncpg import PostgresError  # type: ignore[import-untyped]

        return isinstance(exc, PostgresError) and not self.raw.is_closed()

    def usable_in(self, loop: asyncio.AbstractEventLoop) -> bool:
        # asyncpg connections belong to the loop that opened them (a second asyncio.run).
        return self.loop is loop and not self.raw.is_closed()


C = TypeVar("C", bound=Connection)


class BasePool(Generic[C]):
    """Up to ``size`` driver connections, opened on demand and handed out one call at a time.

    ``keep``: the connections are the data (SQLite ``:memory:``, size 1): never dropped.
    How a caller waits for a free connection is the subclass's: ``Pool`` (asyncio) or
    ``DirectPool`` (threads, for the sync API's SQLite calls).
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[C]],
        size: int,
        keep: bool,
        where: str,
    ) -> None:
        self._connect = connect
        self._size = size
        self._keep = keep
        self._where = where
        self._idle: list[C] = []
        self._open = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def open_connections(self) -> int:
        """Connections opened and not yet closed (idle or lent out)."""
        return self._open

    def check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the store at {self._where} is closed")

    async def acquire(self) -> C:
        raise NotImplementedError

    def release(self, conn: C) -> None:
        raise NotImplementedError

    async def discard(self, conn: C) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def _recover(self, conn: C, exc: BaseException) -> None:
        """After a failed or cancelled call: roll back, then lend the connection again (or
        drop it when it cannot be trusted). A connection that holds the data is always kept."""
        try:
            if conn.keeps_after(exc) or self._keep:
                if conn.in_transaction:
                    await conn.rollback()
                self.release(conn)
                return
        except BaseException:
            if self._keep:
                self.release(conn)
                return
        await self.discard(conn)

    async def failed(self, conn: C, exc: BaseException) -> None:
        """``conn``'s call ended with ``exc``: recover it (see ``_recover``)."""
        await self._recover(conn, exc)

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[C]:
        conn = await self.acquire()
        try:
            yield conn
        except BaseException as exc:
            await self.failed(conn, exc)
            raise
        self.release(conn)


class Pool(BasePool[Connection]):
    """The asyncio pool: callers wait for a free connection on futures of their loop."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        size: int,
        keep: bool,
        where: str,
    ) -> None:
        super().__init__(connect, size, keep, where)
        self._waiters: list[asyncio.Future[Connection | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def acquire(self) -> Connection:
        self.check_open()
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        while self._idle:
            conn = self._idle.pop()
            if conn.usable_in(loop):
                return conn
            self._forget(conn)
        if self._open >= self._size:
            waiter: asyncio.Future[Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                    self.release(waiter.result())  # type: ignore[arg-type]
                elif waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the free slot on
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
            if handed is not None:
                return handed
            self.check_open()
        self._open += 1
        try:
            return await self._connect()
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new event loop: waiters of the old one can never be woken; forget them."""
        self._loop = loop
        self._waiters.clear()
        # Connections lent out in the old loop never come back; their slots are free again.
        self._open = len(self._idle)

    def _forget(self, conn: Connection) -> None:
        """A connection of another event loop: its socket is closed without awaiting."""
        self._open -= 1
        if isinstance(conn, PgConnection):
            conn.abort()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def release(self, conn: Connection) -> None:
        if self._closed and not self._keep:
            self._open -= 1
            if isinstance(conn, PgConnection):
                conn.abort()
            return
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    async def discard(self, conn: Connection) -> None:
        self._open -= 1
        self._wake()
        if isinstance(conn, PgConnection):
            conn.abort()
        else:
            with contextlib.suppress(Exception):
                await conn.close()

    async def failed(self, conn: Connection, exc: BaseException) -> None:
        """Shielded: a second cancellation must not hand the connection out mid-rollback."""
        recovery = asyncio.ensure_future(self._recover(conn, exc))
        with contextlib.suppress(BaseException):
            await asyncio.shield(recovery)

    async def close(self) -> None:
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close()


class DirectPool(BasePool[DirectSqliteConnection]):
    """The pool of ``DirectSqliteConnection``s, with no asyncio at all: nothing here suspends
    or looks for an event loop (the sync API drives its calls in the caller's thread, which
    may be inside someone else's running loop). Threads wait for a free connection on a
    condition; a call holds its connection only while it runs (a statement or one short
    transaction), so the wait is bounded by SQLite's busy timeout."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[DirectSqliteConnection]],
        size: int,
        keep: bool,
        where: str,
    ) -> None:
        super().__init__(connect, size, keep, where)
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)
        self._waiting = 0  # threads in _free.wait(): only then is a notify worth its cost

    async def acquire(self) -> DirectSqliteConnection:
        with self._lock:
            while True:
                self.check_open()
                if self._idle:
                    return self._idle.pop()
                if self._open < self._size:
                    self._open += 1
                    break
                self._waiting += 1
                try:
                    self._free.wait()
                finally:
                    self._waiting -= 1
        try:
            return await self._connect()
        except BaseException:
            self._gone(None)
            raise

    def _gone(self, conn: DirectSqliteConnection | None) -> None:
        """A slot is free again (its connection, if any, closed)."""
        with self._lock:
            self._open -= 1
            if self._waiting:
                self._free.notify()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.raw.close()

    def release(self, conn: DirectSqliteConnection) -> None:
        with self._lock:
            if not self._closed or self._keep:
                self._idle.append(conn)
                if self._waiting:
                    self._free.notify()
                return
        self._gone(conn)

    async def discard(self, conn: DirectSqliteConnection) -> None:
        self._gone(conn)

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._free.notify_all()  # waiters wake to StoreClosed
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.raw.close()


def _sqlite_setup(memory: bool, busy_timeout_ms: int) -> list[str]:
    """The PRAGMAs every SQLite connection starts with (aiosqlite's and the direct ones)."""
    wal = ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"]  # NORMAL: durable with WAL
    return [
        *([] if memory else wal),
        f"PRAGMA busy_timeout={busy_timeout_ms}",
        "PRAGMA foreign_keys=ON",
    ]


async def connect_sqlite(path: str, memory: bool, busy_timeout_ms: int) -> SqliteConnection:
    raw = sqlite_connection(
        path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=False
    )
    try:
        await raw
    except BaseException:
        await sqlite_worker_stopped(raw)  # aiosqlite stopped it; let it finish in this loop
        raise
    try:
        for pragma in _sqlite_setup(memory, busy_timeout_ms):
            await raw.execute_fetchall(pragma)
    except BaseException:
        await raw.close()
        raise
    return SqliteConnection(raw)


async def connect_sqlite_direct(
    path: str, memory: bool, busy_timeout_ms: int
) -> DirectSqliteConnection:
    """A stdlib sqlite3 connection set up like ``connect_sqlite``'s; usable from any thread
    (the pool lends it to one call at a time)."""
    raw = sqlite3.connect(
        path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=False
    )
    try:
        for pragma in _sqlite_setup(memory, busy_timeout_ms):
            raw.execute(pragma)
    except BaseException:
        raw.close()
        raise
    return DirectSqliteConnection(raw)


async def connect_postgres(
    kwargs: dict[str, Any], connect_timeout: float, call_timeout: float, where: str
) -> PgConnection:
    import json

    import asyncpg

    try:
        raw = await asyncpg.connect(
            **kwargs,
            timeout=connect_timeout,
            server_settings={"application_name": "ohf_persistence"},
        )
    except TimeoutError as exc:
        raise BackendUnavailable(
            f"postgresql at {where} is unavailable (no connection within {connect_timeout:g} s)"
        ) from exc
    try:
        # JSON columns travel as text: the bind processors serialise, json.loads decodes.
        for name in ("json", "jsonb"):
            await raw.set_type_codec(
                name, encoder=_same, decoder=json.loads, schema="pg_catalog", format="text"
            )
    except BaseException:
        raw.terminate()
        raise
    return PgConnection(raw, call_timeout)


def _same(value: str) -> str:
    return value
