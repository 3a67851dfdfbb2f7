"""The shipped contract suite against the synchronous API, on every backend and :memory:.

The contract is written against the async ports, so a thin async wrapper (``AsyncFacade``)
turns each call into a blocking call of ``ohf_persistence.sync`` made from a worker thread
(``asyncio.to_thread``): concurrent tasks of a contract test become concurrent threads calling
the sync API, which is exactly what the sync API promises to support.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from ohf_persistence import downgrade, sync
from ohf_persistence.testing import ClosedStoreContract, StoreContract


class _AsyncCalls:
    """Every method of the wrapped sync object, as a coroutine run in a worker thread."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._target, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


class _AsyncUnitOfWork(_AsyncCalls):
    def __init__(self, uow: sync.SyncUnitOfWork) -> None:
        super().__init__(uow)
        self.templates = _AsyncCalls(uow.templates)
        self.requests = _AsyncCalls(uow.requests)
        self.machines = _AsyncCalls(uow.machines)
        self._uow = uow

    async def __aenter__(self) -> _AsyncUnitOfWork:
        await asyncio.to_thread(self._uow.__enter__)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self._uow.__exit__, exc_type, exc, tb)


class AsyncFacade:
    """A ``SyncStore`` seen through the async ``Store`` port."""

    def __init__(self, store: sync.SyncStore) -> None:
        self.sync_store = store
        self.backend = store.backend
        self.templates = _AsyncCalls(store.templates)
        self.requests = _AsyncCalls(store.requests)
        self.machines = _AsyncCalls(store.machines)

    def unit_of_work(self) -> _AsyncUnitOfWork:
        return _AsyncUnitOfWork(self.sync_store.unit_of_work())

    async def close(self) -> None:
        await asyncio.to_thread(self.sync_store.close)


@pytest.fixture
def sync_url(request: pytest.FixtureRequest, backend_name: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty, migrated store URL of the parametrized backend."""
    if backend_name == "memory":
        yield "memory://"
    elif backend_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template_db")
        shutil.copyfile(template, tmp_path / "ohf.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'ohf.db'}"
    elif backend_name == "postgres":
        from tests.backends.postgres import empty_tables

        url: str = request.getfixturevalue("postgres_url")
        with sync.open_store(url) as store:
            sync.run(empty_tables(store.store))
        yield url
    elif backend_name == "dynamodb":
        from tests.backends.dynamodb import dynamodb_url, fresh_prefix

        url = dynamodb_url(request.getfixturevalue("moto_endpoint"), fresh_prefix())
        sync.open_store(url, migrate=True).close()
        yield url
        sync.run(downgrade(url, "base"))
    else:  # a backend module added later: its own URL fixture is the convention
        yield request.getfixturevalue(f"{backend_name}_url")


@pytest.fixture
async def store(sync_url: str) -> AsyncIterator[AsyncFacade]:
    opened = await asyncio.to_thread(sync.open_store, sync_url)
    facade = AsyncFacade(opened)
    try:
        yield facade
    finally:
        await facade.close()


class TestSyncStore(StoreContract):
    """Every contract, on the sync API (the module's ``store`` fixture)."""


class TestSyncClosedStore(ClosedStoreContract):
    """After ``close()`` the sync API refuses every call with ``StoreClosed``, as async does."""


class TestSyncSqliteMemoryStore(StoreContract):
    """Every contract on a private ``sqlite+aiosqlite:///:memory:`` database through the sync
    API: one connection that is the data, driven from several threads."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[AsyncFacade]:
        opened = await asyncio.to_thread(sync.open_store, "sqlite+aiosqlite:///:memory:")
        facade = AsyncFacade(opened)
        try:
            yield facade
        finally:
            await facade.close()
