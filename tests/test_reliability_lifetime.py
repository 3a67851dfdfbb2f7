"""Connection lifetime of the SQL stores (issue 11 items 2, 13, 18 and the PostgreSQL deadline).

- a ``sqlite+aiosqlite:///:memory:`` database is its one connection: a failed or cancelled call
  (a read cut short by ``asyncio.wait_for``, a refused value, a conflict at commit, a cancelled
  commit) never loses the data;
- a PostgreSQL store keeps working when used from a second ``asyncio.run``;
- after ``close()`` a SQL store refuses use with ``StoreClosed`` and opens no connection;
- a PostgreSQL server that goes silent mid-call fails the call with ``BackendUnavailable``
  (the ``timeout`` URL option), and the store works again once the server answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ohf_persistence import (
    AlreadyExists,
    BackendUnavailable,
    PersistenceError,
    Store,
    StoreClosed,
    open_store,
)
from ohf_persistence.testing import make_machine, make_request
from tests.conftest import BACKENDS
from tests.reliability.proxy import TcpProxy

MEMORY = "sqlite+aiosqlite:///:memory:"
needs_postgres = pytest.mark.skipif(
    "postgres" not in BACKENDS, reason="OHF_TEST_BACKENDS excludes postgres"
)
GUARD = 30.0  # seconds: a hang fails the test instead of stalling the run (not a speed assert)


@pytest.fixture
async def memory_store() -> AsyncIterator[Store]:
    async with open_store(MEMORY) as store:
        await store.machines.save_many([make_machine(f"i-{n:04d}") for n in range(2000)])
        yield store


async def _intact(store: Store) -> None:
    assert await store.machines.count() == 2000
    assert (await store.machines.get_by_id("i-0007")) is not None
    await store.machines.save(make_machine("i-after"))  # and it still writes
    assert await store.machines.exists("i-after")


async def test_memory_sqlite_keeps_its_data_after_reads_cut_short(memory_store: Store) -> None:
    cut = 0
    for _ in range(20):
        try:
            await asyncio.wait_for(memory_store.machines.get_all(), timeout=0.0005)
        except TimeoutError:
            cut += 1
    assert cut, "no read was cut short: the test exercised nothing"
    await _intact(memory_store)


async def test_memory_sqlite_keeps_its_data_after_a_cancelled_call(memory_store: Store) -> None:
    task = asyncio.ensure_future(memory_store.machines.get_all())
    for _ in range(3):
        await asyncio.sleep(0)  # the read is under way on the connection's thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _intact(memory_store)


async def test_memory_sqlite_keeps_its_data_after_refused_values(memory_store: Store) -> None:
    for call in (
        lambda: memory_store.machines.count({"version_gt": 2**63}),
        lambda: memory_store.machines.get_all({"version_lt": 2**63}),
        lambda: memory_store.machines.get_all(limit=2**63),
    ):
        # Refused (typed) or answered: either way nothing may be lost.
        with contextlib.suppress(PersistenceError):
            await call()
    await _intact(memory_store)


async def test_memory_sqlite_keeps_its_data_after_a_failed_commit(memory_store: Store) -> None:
    with pytest.raises(AlreadyExists):
        async with memory_store.unit_of_work() as uow:
            await uow.requests.save(make_request("req-new"))
            await uow.machines.save_many([make_machine("i-brand-new"), make_machine("i-0001")])
            # the unit read i-0001 at save time only if it checks there: the commit must refuse
            await uow.commit()
    assert not await memory_store.requests.exists("req-new")
    await _intact(memory_store)


async def test_memory_sqlite_keeps_its_data_after_a_cancelled_commit(memory_store: Store) -> None:
    async def commit() -> None:
        async with memory_store.unit_of_work() as uow:
            await uow.machines.save_many([make_machine(f"i-x{n:04d}") for n in range(500)])
            await uow.requests.save(make_request("req-x"))
            await uow.commit()

    task = asyncio.ensure_future(commit())
    for _ in range(4):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # All or nothing: the commit either finished or left no trace.
    stored = await memory_store.machines.count({"machine_id_gte": "i-x"})
    assert stored in (0, 500), stored
    assert await memory_store.requests.exists("req-x") == (stored == 500)
    assert await memory_store.machines.count({"machine_id_lt": "i-x"}) == 2000
    await memory_store.machines.save(make_machine("i-after"))


@needs_postgres
def test_a_postgres_store_works_from_a_second_event_loop(postgres_url: str) -> None:
    async def first() -> Store:
        store = await open_store(postgres_url)
        from tests.backends.postgres import empty_tables

        await empty_tables(store)
        await store.machines.save(make_machine("i-loop"))
        return store

    store = asyncio.run(first())

    async def second() -> None:
        try:
            machine = await store.machines.get_by_id("i-loop")
            assert machine is not None
            assert await store.machines.update_status("i-loop", "running")
            async with store.unit_of_work() as uow:
                await uow.machines.save(make_machine("i-loop-2"))
                await uow.commit()
            assert await store.machines.count() == 2
        finally:
            await store.close()

    asyncio.run(second())


async def _our_connections(admin_url: str, database: str) -> int:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            database,
            "ohf_persistence",
        )
        return count
    finally:
        await conn.close()


@needs_postgres
async def test_a_closed_postgres_store_refuses_use_and_opens_no_connection(
    postgres_url: str,
) -> None:
    url = make_url(postgres_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    store = await open_store(postgres_url)
    await store.machines.save(make_machine("i-closed"))
    await asyncio.gather(*(store.machines.get_by_id("i-closed") for _ in range(8)))
    await store.close()
    calls = [
        lambda: store.machines.get_by_id("i-closed"),
        lambda: store.machines.save(make_machine("i-other")),
        lambda: store.machines.get_all(),
        lambda: store.requests.update_status("req-1", "complete"),
    ]
    for call in calls:
        with pytest.raises(StoreClosed):
            await call()
    with pytest.raises(StoreClosed):
        store.unit_of_work()
    for _ in range(50):  # the server notices closed sockets a moment later
        if await _our_connections(admin, str(url.database)) == 0:
            break
        await asyncio.sleep(0.1)
    assert await _our_connections(admin, str(url.database)) == 0


async def test_a_closed_sqlite_store_refuses_use(tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/closed.db", migrate=True)
    await store.machines.save(make_machine("i-1"))
    await store.close()
    with pytest.raises(StoreClosed):
        await store.machines.get_by_id("i-1")
    assert store.storage.db.pool.open_connections == 0  # type: ignore[attr-defined]


@needs_postgres
async def test_a_silent_postgres_fails_the_call_within_its_deadline(postgres_url: str) -> None:
    real = make_url(postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    proxy.up()
    url = real.set(host="127.0.0.1", port=proxy.port, query={"timeout": "1"}).render_as_string(
        hide_password=False
    )
    try:
        async with open_store(url) as store:
            await store.machines.save(make_machine("i-silent"))
            proxy.silent()  # the established connection stops answering mid-call
            for call in (
                lambda: store.machines.get_by_id("i-silent"),
                lambda: store.machines.save(make_machine("i-silent-2")),
            ):
                with pytest.raises(BackendUnavailable):
                    await asyncio.wait_for(call(), GUARD)
            proxy.down()
            proxy.up()
            assert await asyncio.wait_for(store.machines.get_by_id("i-silent"), GUARD) is not None
    finally:
        proxy.down()


async def test_the_timeout_option_is_checked() -> None:
    from ohf_persistence import ConfigError

    for bad in ("0", "-1", "abc", "7200"):
        with pytest.raises(ConfigError):
            await open_store(f"postgresql+asyncpg://u@127.0.0.1:1/db?timeout={bad}")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    # The timeout fails a hung process (it is not a speed assertion).
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_sqlite_store_never_closed_lets_the_process_exit(tmp_path: Path, where: str) -> None:
    url = MEMORY if where == "memory" else f"sqlite+aiosqlite:///{tmp_path / 'open.db'}"
    code = f"""
import asyncio
from ohf_persistence import open_store
from ohf_persistence.testing import make_machine

async def main():
    store = await open_store({url!r}, migrate=True)
    await store.machines.save(make_machine("i-1"))
    assert await store.machines.count() == 1  # and no close()

asyncio.run(main())
print("returned")
"""
    done = _python(code)
    assert done.returncode == 0 and done.stdout.strip() == "returned", done.stderr


def test_an_unopenable_sqlite_path_is_one_error_and_no_thread_noise(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code = f"""
import asyncio
from ohf_persistence import BackendUnavailable, open_store

async def main():
    try:
        await open_store("sqlite+aiosqlite:///{folder}")
    except BackendUnavailable as exc:
        print("refused")

asyncio.run(main())
"""
    for _ in range(3):  # the stray-thread noise was racy
        done = _python(code)
        assert done.stdout.strip() == "refused", done.stderr
        assert "Exception in thread" not in done.stderr and "Traceback" not in done.stderr
