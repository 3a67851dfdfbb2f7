"""The synchronous API itself: no loop, inside a running loop, many threads, errors, exit, fork."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ohf_persistence import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidFilter,
    PersistenceError,
    RequestStatus,
    StoreClosed,
    sync,
)
from ohf_persistence.testing import make_machine, make_request


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"


def test_works_without_an_event_loop(sqlite_url: str) -> None:
    with sync.open_store(sqlite_url, migrate=True) as store:
        store.requests.save(make_request("r-1"))
        assert store.requests.update_status("r-1", RequestStatus.IN_PROGRESS, "go")
        loaded = store.requests.get_by_id("r-1")
        assert loaded is not None and loaded.status == RequestStatus.IN_PROGRESS
        assert loaded.version == 2
        assert [r.request_id for r in store.requests.get_active_requests()] == ["r-1"]


async def test_works_inside_someone_elses_running_loop(sqlite_url: str) -> None:
    # ORB's case: plain synchronous calls from inside an ``async def``.
    asyncio.get_running_loop()
    store = sync.open_store(sqlite_url, migrate=True)
    try:
        store.machines.save_many(make_machine(f"i-{n}", request_id="r-1") for n in range(3))
        with store.unit_of_work() as uow:
            uow.machines.update_status("i-0", "running")
            assert uow.machines.get_by_id("i-0").status == "running"  # type: ignore[union-attr]
            uow.commit()
        assert [m.machine_id for m in store.machines.get_by_request_id("r-1")] == [
            "i-0",
            "i-1",
            "i-2",
        ]
        assert [m.machine_id for m in store.machines.get_by_status("running")] == ["i-0"]
    finally:
        store.close()


@pytest.mark.parametrize("url_kind", ["memory", "sqlite"])
def test_many_threads_at_once(url_kind: str, sqlite_url: str) -> None:
    url = "memory://" if url_kind == "memory" else sqlite_url
    with sync.open_store(url, migrate=True) as store:
        store.requests.save(make_request("r-1"))
        errors: list[BaseException] = []
        bumps: list[int] = []

        def worker(n: int) -> None:
            try:
                store.machines.save(make_machine(f"i-{n:02d}"))
                while True:  # read-modify-write with retries: no update may be lost
                    request = store.requests.get_by_id("r-1")
                    assert request is not None
                    try:
                        store.requests.save(request)
                    except ConcurrencyConflict:
                        continue
                    bumps.append(n)
                    return
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert store.machines.count() == 12
        stored = store.requests.get_by_id("r-1")
        assert stored is not None and stored.version == 1 + len(bumps) == 13


def test_errors_are_the_typed_errors(sqlite_url: str) -> None:
    with sync.open_store(sqlite_url, migrate=True) as store:
        request = make_request("r-1")
        store.requests.save(request)
        stale = store.requests.get_by_id("r-1")
        assert stale is not None
        store.requests.save(request)
        with pytest.raises(ConcurrencyConflict) as conflict:
            store.requests.save(stale)
        assert conflict.value.expected_version == 1 and conflict.value.actual_version == 2
        with pytest.raises(AlreadyExists):
            store.requests.save(make_request("r-1"))
        with pytest.raises(InvalidFilter, match="colour"):
            store.machines.get_all({"colour": "red"})


def test_exception_in_unit_of_work_writes_nothing(sqlite_url: str) -> None:
    with sync.open_store(sqlite_url, migrate=True) as store:
        store.requests.save(make_request("r-0"))
        with pytest.raises(RuntimeError, match="boom"), store.unit_of_work() as uow:
            uow.requests.save(make_request("r-1"))
            uow.requests.update_status("r-0", "in_progress")
            raise RuntimeError("boom")
        assert not store.requests.exists("r-1")
        r0 = store.requests.get_by_id("r-0")
        assert r0 is not None and r0.status == "pending" and r0.version == 1
        with store.unit_of_work() as uow:  # no commit: discarded too
            uow.requests.save(make_request("r-2"))
        assert store.requests.count() == 1


def test_calling_from_the_background_loop_is_refused_not_a_deadlock() -> None:
    with sync.open_store("memory://") as store:

        async def nested() -> object:
            return store.machines.get_by_id("i-1")  # a sync call on the loop it needs

        with pytest.raises(PersistenceError, match="own background loop"):
            sync.run(nested())
        assert store.machines.get_by_id("i-1") is None  # the runtime still works


def test_run_takes_only_coroutines() -> None:
    with pytest.raises(TypeError):
        sync.run(42)  # type: ignore[arg-type]


def test_exit_closes_open_stores_and_the_loop(tmp_path: Path) -> None:
    db = tmp_path / "exit.db"
    code = f"""
import atexit, threading
def report():  # registered before sync's exit hook, so it runs after it
    print("closed:", store.store.storage.closed, memory.store.storage.closed, loops())
atexit.register(report)
from ohf_persistence import sync
from ohf_persistence.testing import make_machine
def loops():
    return [t for t in threading.enumerate() if t.name == "ohf-persistence-sync"]
store = sync.open_store("sqlite+aiosqlite:///{db}", migrate=True)
store.machines.save(make_machine("i-1"))
assert store.direct and loops() == []  # SQLite runs in this thread: no loop started
memory = sync.open_store("memory://")
memory.machines.save(make_machine("i-1"))
assert not memory.direct and len(loops()) == 1 and loops()[0].daemon
# no close(): the atexit hook must close both stores and stop the loop cleanly
"""
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "never awaited" not in done.stderr
    assert "destroyed but it is pending" not in done.stderr
    assert done.stdout.strip() == "closed: True True []"
    with sync.open_store(f"sqlite+aiosqlite:///{db}") as store:
        assert store.machines.exists("i-1")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_gets_its_own_loop_and_refuses_inherited_stores(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fork.db'}"
    parent = sync.open_store(url, migrate=True)
    try:
        parent.machines.save(make_machine("i-1"))
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: report through the pipe, never return into pytest
            verdict = b"?"
            try:
                try:
                    parent.machines.get_by_id("i-1")
                    verdict = b"inherited store used"
                except PersistenceError:
                    with sync.open_store(url) as own:
                        verdict = b"ok" if own.machines.exists("i-1") else b"not found"
            except BaseException as exc:
                verdict = repr(exc).encode()
            finally:
                os.write(write, verdict)
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        with os.fdopen(read, "rb") as pipe:
            assert pipe.read() == b"ok"
        assert parent.machines.exists("i-1")  # the parent's loop is untouched
    finally:
        parent.close()


def test_a_closed_store_refuses_use() -> None:
    store = sync.open_store("memory://")
    repo = store.machines
    store.close()
    assert store.closed
    with pytest.raises(StoreClosed):
        repo.get_by_id("i-1")
    with pytest.raises(StoreClosed):
        store.unit_of_work()
    store.close()  # twice is fine
