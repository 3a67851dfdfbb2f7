"""The synchronous API: the same store, repositories and unit of work, without ``await``.

    from ohf_persistence import sync

    store = sync.open_store("sqlite+aiosqlite:///ohf.db")
    machine = store.machines.get_by_id("i-0abc")      # each call commits on its own
    with store.unit_of_work() as uow:
        uow.requests.save(request)
        uow.commit()                                  # all or nothing, as in the async API
    store.close()                                     # or: with sync.open_store(...) as store

It works for callers without an event loop and for callers inside someone else's running loop
(ORB calls its storage synchronously from ``async def`` handlers). Every call runs the async
API's own code (the same repositories and unit of work), in one of two ways:

- SQLite: in the caller's thread. The store's connections are stdlib ``sqlite3`` ones whose
  async methods never suspend (``adapters/sql/driver.py``, ``DirectPool``), so each call's
  coroutine is driven to completion right here (``coroutine.send``), with no event loop and no
  thread hop: a call costs the async code and its statements (a ``get_by_id``: 109-110 us on the
  shared 2-core machine at load 5-6, against 446-469 us through the background loop before,
  ``scripts/sync_overhead.py``; ORB's figures are in docs/orb.md, "Cost"). Opening and
  migrating run the same way. A coroutine that would wait anyway is a bug, reported as
  ``CallSuspended``, never a hang.
- memory, PostgreSQL, DynamoDB: on ONE background event loop per process, in a daemon thread;
  the caller's thread waits for the answer (one round trip per call).

Any number of threads may call one store at once: SQLite calls take a connection each (a pool
of 4 per file; a ``:memory:`` database is its one connection, so its calls take turns), and
background calls overlap on the loop like concurrent tasks. The loop and every store still
open are closed at interpreter exit (``atexit``); a forked child starts its own loop (stores
opened before the fork are refused there). Errors are the async API's typed errors
(``ohf_persistence.errors``), raised in the caller's thread.
"""

from __future__ import annotations

import _thread
import asyncio
import atexit
import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from . import adapters
from .config import StoreConfig, resolve_config
from .config import open_store as _open_async_store
from .domain import (
    Machine,
    MachineStatus,
    PersistenceError,
    Request,
    RequestStatus,
    StoreClosed,
    Template,
)
from .domain.entities import Entity
from .ports import (
    Filters,
    MachineRepository,
    Page,
    Repository,
    RequestRepository,
    Store,
    TemplateRepository,
    UnitOfWork,
)

__all__ = [
    "CallSuspended",
    "SyncMachineRepository",
    "SyncRepository",
    "SyncRequestRepository",
    "SyncStore",
    "SyncTemplateRepository",
    "SyncUnitOfWork",
    "open_store",
    "run",
]

T = TypeVar("T")
E = TypeVar("E", bound=Entity)

_CLOSE_TIMEOUT = 10.0  # seconds the exit hook waits for one store to close


class CallSuspended(PersistenceError):
    """A call run in the caller's thread (a SQLite store's) waited on an event loop: a bug in
    the code given to ``SyncStore.run``, or in the store; nothing is left running."""


def _drive(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``, a coroutine that never waits on anything, to completion in this thread."""
    try:
        while work.send(None) is None:  # a bare yield (``asyncio.sleep(0)``): go on
            pass
    except StopIteration as done:
        result: T = done.value
        return result
    # It yielded a future: only an event loop could wait for that. Unwind it (its cleanup runs
    # here too: a lent connection is rolled back and returned) and say so.
    try:
        work.close()
    except RuntimeError as exc:  # its cleanup tried to wait too
        raise CallSuspended(
            "a call that runs in the caller's thread waited on an event loop"
        ) from exc
    raise CallSuspended("a call that runs in the caller's thread waited on an event loop")


class _Runner:
    """The process's background event loop (started on first use, one per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stores: weakref.WeakSet[SyncStore] = weakref.WeakSet()
        self._closed = False
        self.pid = os.getpid()

    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._closed:
                raise PersistenceError("the ohf_persistence sync runtime has shut down")
            if self._loop is None:
                self._loop = self._start()
            return self._loop

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="ohf-persistence-sync", daemon=True)
        self._thread.start()
        ready.wait()
        return loop

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        loop = self.loop()
        if self._thread is threading.current_thread():
            work.close()
            # Waiting here would block the very loop that has to answer.
            raise PersistenceError(
                "the synchronous API cannot be called from its own background loop; "
                "await the async API there instead"
            )
        # A lock released by the task's done callback: lighter than run_coroutine_threadsafe's
        # concurrent Future (one wake-up each way, no Condition), which matters per call.
        done = _thread.allocate_lock()
        done.acquire()
        outcome: list[asyncio.Task[T]] = []
        tasks: list[asyncio.Task[T]] = []
        abandoned: list[bool] = []

        def finish(task: asyncio.Task[T]) -> None:
            outcome.append(task)
            done.release()

        def start() -> None:
            if abandoned:  # the caller gave up before the call even started
                work.close()
                return
            task = loop.create_task(work)
            tasks.append(task)
            task.add_done_callback(finish)

        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError as exc:  # loop closed between the check and the call
            work.close()
            raise PersistenceError("the ohf_persistence sync runtime has shut down") from exc
        try:
            done.acquire()
        except BaseException:
            # KeyboardInterrupt and the like: do not leave the call running on the loop.
            abandoned.append(True)
            loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
            raise
        task = outcome[0]
        if task.cancelled():
            raise PersistenceError("the call was cancelled (the sync runtime shut down)")
        return task.result()

    def track(self, store: SyncStore) -> None:
        self._stores.add(store)

    def forget(self, store: SyncStore) -> None:
        self._stores.discard(store)

    def shutdown(self) -> None:
        """Close every store still open, then stop and close the loop (the atexit hook)."""
        with self._lock:
            loop, thread, self._loop, self._closed = self._loop, self._thread, None, True
        stores, self._stores = list(self._stores), weakref.WeakSet()
        for store in stores:
            if store.direct:  # closes here; a connection lent out closes when returned
                with contextlib.suppress(BaseException):
                    _drive(store.store.close())
        if loop is None or thread is None:
            return
        for store in stores:
            if store.direct:
                continue
            future = asyncio.run_coroutine_threadsafe(store.store.close(), loop)
            try:
                future.result(_CLOSE_TIMEOUT)
            except BaseException:  # best effort at exit: keep closing the rest
                future.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CLOSE_TIMEOUT)
        if not thread.is_alive():
            loop.close()


_runner = _Runner()


def _after_fork() -> None:
    # The background thread does not exist in a forked child: give the child its own loop.
    global _runner
    _runner = _Runner()


os.register_at_fork(after_in_child=_after_fork)


@atexit.register
def _shutdown_at_exit() -> None:
    _runner.shutdown()


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` (a coroutine) on the background loop and wait for its result.

    For your own synchronous helpers on the async API; for work on one ``SyncStore``'s async
    store (``sync_store.store``), ``sync_store.run(work)`` runs it the way that store runs its
    own calls (in this thread for SQLite).
    """
    if not asyncio.iscoroutine(work):
        raise TypeError(f"run() takes a coroutine, got {type(work).__name__}")
    return _runner.run(work)


class _Handle:
    """What a store's repositories and units of work check before each call, and how their
    calls run (``direct``: in the caller's thread; else on the background loop)."""

    def __init__(self, direct: bool = False) -> None:
        self.pid = os.getpid()
        self.closed = False
        self.direct = direct

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        return _drive(work) if self.direct else _runner.run(work)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """``call`` after ``check``."""
        try:
            self.check()
        except PersistenceError:
            work.close()
            raise
        return _drive(work) if self.direct else _runner.run(work)

    def check(self) -> None:
        if os.getpid() != self.pid:
            raise PersistenceError(
                "this store was opened in the parent process before a fork; open it again here"
            )
        if self.closed:
            raise StoreClosed("the store is closed: open it again to use it")


class SyncRepository(Generic[E]):
    """Every repository's operations; see ``ohf_persistence.ports.Repository``."""

    def __init__(self, repo: Repository[E], handle: _Handle | None = None) -> None:
        self.aio = repo
        self._handle = handle or _Handle()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return self._handle.run(work)

    def get_by_id(self, entity_id: str) -> E | None:
        return self._run(self.aio.get_by_id(entity_id))

    def get_all(
        self, filters: Filters | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[E]:
        return self._run(self.aio.get_all(filters, limit, offset))

    def save(self, entity: E) -> None:
        self._run(self.aio.save(entity))

    def save_many(self, entities: Iterable[E]) -> None:
        # The caller's thread waits meanwhile, so consuming its iterable on the loop is safe.
        self._run(self.aio.save_many(entities))

    def delete(self, entity_id: str) -> bool:
        return self._run(self.aio.delete(entity_id))

    def exists(self, entity_id: str) -> bool:
        return self._run(self.aio.exists(entity_id))

    def count(self, filters: Filters | None = None) -> int:
        return self._run(self.aio.count(filters))

    def page(
        self, filters: Filters | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[E]:
        return self._run(self.aio.page(filters, limit, cursor))


class SyncTemplateRepository(SyncRepository[Template]):
    aio: TemplateRepository

    def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        return self._run(self.aio.find_by_attributes(attributes))

    def get_by_provider_type(self, provider_type: str) -> list[Template]:
        return self._run(self.aio.get_by_provider_type(provider_type))


class SyncRequestRepository(SyncRepository[Request]):
    aio: RequestRepository

    def get_by_status(self, status: RequestStatus | str) -> list[Request]:
        return self._run(self.aio.get_by_status(status))

    def get_active_requests(self) -> list[Request]:
        return self._run(self.aio.get_active_requests())

    def update_status(
        self, request_id: str, status: RequestStatus | str, message: str | None = None
    ) -> bool:
        return self._run(self.aio.update_status(request_id, status, message))


class SyncMachineRepository(SyncRepository[Machine]):
    aio: MachineRepository

    def get_by_request_id(self, request_id: str) -> list[Machine]:
        return self._run(self.aio.get_by_request_id(request_id))

    def get_by_return_request_id(self, return_request_id: str) -> list[Machine]:
        return self._run(self.aio.get_by_return_request_id(return_request_id))

    def get_by_status(self, status: MachineStatus | str) -> list[Machine]:
        return self._run(self.aio.get_by_status(status))

    def update_status(
        self, machine_id: str, status: MachineStatus | str, reason: str | None = None
    ) -> bool:
        return self._run(self.aio.update_status(machine_id, status, reason))

    def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        return self._run(self.aio.get_by_instance_ids(instance_ids))


class _Repositories:
    templates: SyncTemplateRepository
    requests: SyncRequestRepository
    machines: SyncMachineRepository

    def _wrap(self, source: Store | UnitOfWork, handle: _Handle) -> None:
        self.templates = SyncTemplateRepository(source.templates, handle)
        self.requests = SyncRequestRepository(source.requests, handle)
        self.machines = SyncMachineRepository(source.machines, handle)


class SyncUnitOfWork(_Repositories):
    """A unit of work: ``with`` it, write, ``commit()``; leaving without commit discards."""

    def __init__(self, uow: UnitOfWork, handle: _Handle | None = None) -> None:
        self.aio = uow
        self._handle = handle or _Handle()
        self._wrap(uow, self._handle)

    def commit(self) -> None:
        self._handle.run(self.aio.commit())

    def rollback(self) -> None:
        self._handle.call(self.aio.rollback())

    def __enter__(self) -> Self:
        self._handle.run(self.aio.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._handle.call(self.aio.__aexit__(exc_type, exc, tb))


class SyncStore(_Repositories):
    """An open store used synchronously. ``store`` is the async store underneath; ``direct``:
    its calls run in the caller's thread (SQLite), else on the background loop."""

    def __init__(self, store: Store, *, direct: bool = False) -> None:
        self.store = store
        self.backend = store.backend
        self.direct = direct
        self._handle = _Handle(direct)
        self._wrap(store, self._handle)
        _runner.track(self)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work``, a coroutine using this store's async API (``self.store``), the way
        this store runs its own calls: in this thread when ``direct`` (then it may await only
        this store; anything else raises CallSuspended), else on the background loop."""
        if not asyncio.iscoroutine(work):
            raise TypeError(f"run() takes a coroutine, got {type(work).__name__}")
        return self._handle.run(work)

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def check(self) -> None:
        """Raise PersistenceError if the store is closed or was opened before a fork."""
        self._handle.check()

    def unit_of_work(self) -> SyncUnitOfWork:
        self._handle.check()
        return SyncUnitOfWork(self.store.unit_of_work(), self._handle)

    def close(self) -> None:
        if self._handle.closed:
            return
        self._handle.closed = True
        _runner.forget(self)
        if os.getpid() == self._handle.pid:
            self._handle.call(self.store.close())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(
    config: str | Mapping[str, Any] | StoreConfig | None = None,
    *,
    logger: Any = None,
    migrate: bool = False,
) -> SyncStore:
    """Open a store for synchronous use; the arguments are ``ohf_persistence.open_store``'s.
    A SQLite store is opened (and migrated) in this thread; see the module docstring."""
    resolved = resolve_config(config)
    direct = adapters.direct_opener(resolved.backend)
    if direct is not None:
        log = logger or logging.getLogger("ohf_persistence")
        return SyncStore(_drive(_awaited(direct(resolved, log, migrate))), direct=True)
    return SyncStore(
        _runner.run(_awaited(_open_async_store(resolved, logger=logger, migrate=migrate)))
    )


async def _awaited(opening: Awaitable[Store]) -> Store:
    return await opening
