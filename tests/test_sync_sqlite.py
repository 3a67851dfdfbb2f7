"""The sync API's SQLite path: calls driven in the caller's thread on stdlib sqlite3 connections.

Real SQLite files (and private ``:memory:`` databases), no mocks: threads, a running event loop
(ORB's case), failed calls, close, error translation, and opening/migrating in the thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ohf_persistence import (
    ConcurrencyConflict,
    SchemaOutOfDate,
    StoreClosed,
    sync,
)
from ohf_persistence.testing import make_machine, make_request

MEMORY = "sqlite+aiosqlite:///:memory:"


@pytest.fixture(params=["file", "memory"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return MEMORY if request.param == "memory" else f"sqlite+aiosqlite:///{tmp_path / 's.db'}"


def test_sqlite_calls_run_in_the_callers_thread(url: str) -> None:
    with sync.open_store(url, migrate=True) as store:
        assert store.direct
        seen: list[threading.Thread] = []

        async def where() -> bool:
            seen.append(threading.current_thread())
            return await store.store.machines.exists("i-1")

        assert store.run(where()) is False
        assert seen == [threading.current_thread()]


def test_memory_and_other_backends_keep_the_background_loop() -> None:
    with sync.open_store("memory://") as store:
        seen: list[threading.Thread] = []

        async def where() -> None:
            seen.append(threading.current_thread())

        store.run(where())
        assert not store.direct
        assert seen[0].name == "ohf-persistence-sync"


def test_many_threads_at_once_lose_no_write(url: str) -> None:
    with sync.open_store(url, migrate=True) as store:
        store.requests.save(make_request("r-1"))
        errors: list[BaseException] = []
        conflicts: list[int] = []

        def worker(n: int) -> None:
            try:
                store.machines.save_many(make_machine(f"i-{n:02d}-{k}") for k in range(3))
                with store.unit_of_work() as uow:  # a unit spanning several calls
                    uow.machines.update_status(f"i-{n:02d}-0", "running")
                    uow.machines.delete(f"i-{n:02d}-1")
                    uow.commit()
                while True:  # read-modify-write with retries: no update may be lost
                    request = store.requests.get_by_id("r-1")
                    assert request is not None
                    try:
                        store.requests.save(request)
                        return
                    except ConcurrencyConflict:
                        conflicts.append(n)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert store.machines.count() == 20
        assert store.machines.count({"status": "running"}) == 10
        stored = store.requests.get_by_id("r-1")
        assert stored is not None and stored.version == 11


async def test_inside_a_running_event_loop(url: str) -> None:
    # ORB's handlers are ``async def`` and call storage synchronously: the calls must neither
    # touch this loop nor wait on it.
    loop = asyncio.get_running_loop()
    tasks_before = asyncio.all_tasks(loop)
    store = sync.open_store(url, migrate=True)
    try:
        store.requests.save(make_request("r-1"))
        with store.unit_of_work() as uow:
            uow.requests.update_status("r-1", "in_progress")
            uow.machines.save(make_machine("i-1", request_id="r-1"))
            uow.commit()
        assert [m.machine_id for m in store.machines.get_by_request_id("r-1")] == ["i-1"]
        assert asyncio.all_tasks(loop) == tasks_before
    finally:
        store.close()


async def test_a_call_that_waits_on_a_loop_is_refused_and_the_store_stays_usable(
    url: str,
) -> None:
    with sync.open_store(url, migrate=True) as store:

        async def waits() -> None:
            await store.store.machines.save(make_machine("i-1"))
            await asyncio.sleep(0.01)  # a future of the running loop: cannot be driven here

        with pytest.raises(sync.CallSuspended):
            store.run(waits())
        assert store.machines.exists("i-1")  # what completed before the wait is stored
        store.machines.save(make_machine("i-2"))
        assert store.machines.count() == 2


def test_a_failed_unit_rolls_back_and_keeps_the_connection(url: str) -> None:
    with sync.open_store(url, migrate=True) as store:
        pool = store.store.db.pool  # type: ignore[attr-defined]
        store.requests.save(make_request("r-1"))
        stale = store.requests.get_by_id("r-1")
        assert stale is not None
        store.requests.update_status("r-1", "in_progress")
        opened = pool.open_connections
        with pytest.raises(ConcurrencyConflict), store.unit_of_work() as uow:
            uow.machines.save_many([make_machine("i-1"), make_machine("i-2")])
            uow.requests.save(stale)  # conflicts at commit: the transaction is rolled back
            uow.commit()
        assert store.machines.count() == 0
        assert pool.open_connections == opened  # kept, not dropped (a :memory: db is it)
        loaded = store.requests.get_by_id("r-1")  # and the data before the failure is there
        assert loaded is not None and loaded.status == "in_progress"
        store.machines.save(make_machine("i-3"))
        assert store.machines.count() == 1


def test_after_close_every_call_raises_store_closed(url: str) -> None:
    store = sync.open_store(url, migrate=True)
    repo = store.machines
    store.close()
    with pytest.raises(StoreClosed):
        repo.get_by_id("i-1")
    with pytest.raises(StoreClosed):
        repo.save(make_machine("i-1"))
    with pytest.raises(StoreClosed):
        store.unit_of_work()

    async def read() -> bool:
        return await store.store.machines.exists("i-1")

    with pytest.raises(StoreClosed):
        store.run(read())
    assert store.store.db.pool.open_connections == 0  # type: ignore[attr-defined]


def test_a_sqlite3_error_becomes_the_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sync.open_store(f"sqlite+aiosqlite:///{path}", migrate=True) as store:
        store.machines.save(make_machine("i-1"))
        with sqlite3.connect(path) as other:
            other.execute("DROP TABLE machines")
        with pytest.raises(SchemaOutOfDate, match="ohf-persistence migrate") as refused:
            store.machines.get_by_id("i-1")
        assert isinstance(refused.value.__cause__, sqlite3.OperationalError)
        assert store.requests.count() == 0  # the connection still answers


def test_opening_an_unmigrated_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SchemaOutOfDate, match="migrate"):
        sync.open_store(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")


def test_threads_migrating_at_once_each_get_a_migrated_store(tmp_path: Path) -> None:
    # Alembic keeps the running migration in module globals: in-thread migrations must take
    # turns, or their contexts mix.
    errors: list[BaseException] = []
    counts: list[int] = []

    def open_and_use(n: int) -> None:
        try:
            url = f"sqlite+aiosqlite:///{tmp_path / f'm{n}.db'}" if n % 2 else MEMORY
            with sync.open_store(url, migrate=True) as store:
                store.machines.save(make_machine(f"i-{n}"))
                counts.append(store.machines.count())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_use, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert counts == [1] * 6


def test_a_sync_sqlite_call_imports_no_aiosqlite_and_starts_no_thread(tmp_path: Path) -> None:
    # A fresh process, as Host Factory runs ORB: opening an existing file and answering a call
    # needs neither aiosqlite's worker thread nor the background loop (docs/sql.md, "Speed").
    url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    sync.open_store(url, migrate=True).close()
    code = f"""
import sys, threading
from ohf_persistence import sync
with sync.open_store({url!r}) as store:
    assert store.machines.get_by_id("i-1") is None
heavy = ("aiosqlite", "alembic", "sqlalchemy.ext.asyncio", "sqlalchemy.orm")
print(sorted(m for m in sys.modules if m.startswith(heavy)), threading.active_count())
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "1"]
