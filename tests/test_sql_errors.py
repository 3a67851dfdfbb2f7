"""SQL error translation: unreachable servers, missing schema, locks, stale snapshots, secrets."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

import ohf_persistence
from ohf_persistence import (
    BackendUnavailable,
    ConcurrencyConflict,
    Machine,
    PersistenceError,
    SchemaOutOfDate,
    open_store,
)
from ohf_persistence.adapters.sql import engine as sql_engine
from ohf_persistence.adapters.sql.errors import ErrorTranslator
from tests.sql_support import scratch_postgres_database

SECRET = "s3cr3t-pw"
# Port 9 (discard) on localhost: nothing listens, the connection is refused at once.
REFUSED = f"postgresql+asyncpg://ohf:{SECRET}@127.0.0.1:9/ohf"
# TEST-NET-1 (RFC 5737) is unroutable: the connect attempt hangs until our timeout.
BLACKHOLE = f"postgresql+asyncpg://ohf:{SECRET}@192.0.2.1:5432/ohf"


@pytest.mark.parametrize("url", [REFUSED, BLACKHOLE], ids=["refused", "timeout"])
async def test_unreachable_postgres_is_backend_unavailable_within_seconds(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        await open_store(url)
    assert time.monotonic() - started < sql_engine.CONNECT_TIMEOUT + 3
    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_unreachable_postgres_in_schema_commands_hides_the_password() -> None:
    for call in (ohf_persistence.migrate, ohf_persistence.current, ohf_persistence.check):
        with pytest.raises(BackendUnavailable) as caught:
            await call(REFUSED)
        assert SECRET not in str(caught.value)


async def test_sqlite_without_schema_names_the_migrate_command(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaOutOfDate, match="ohf-persistence migrate"):
        await open_store(url)
    async with open_store(url, migrate=True) as store:
        assert await store.templates.count() == 0


async def test_sqlite_behind_head_is_schema_out_of_date(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await ohf_persistence.migrate(url)
    async with await open_store(url) as store:
        await ohf_persistence.downgrade(url, "base")
        # A table vanishing under an open store is translated too, never a driver error.
        with pytest.raises(SchemaOutOfDate, match="ohf-persistence migrate"):
            await store.machines.get_by_id("i-1")
    with pytest.raises(SchemaOutOfDate, match="ohf-persistence migrate"):
        await open_store(url)


def test_postgres_without_schema_names_the_migrate_command() -> None:
    with scratch_postgres_database() as url:

        async def scenario() -> None:
            with pytest.raises(SchemaOutOfDate, match="ohf-persistence migrate"):
                await open_store(url)
            async with open_store(url, migrate=True) as store:
                assert await store.requests.count() == 0

        asyncio.run(scenario())


async def test_memory_sqlite_is_migrated_on_open() -> None:
    async with open_store("sqlite+aiosqlite:///:memory:") as store:
        await store.machines.save(Machine("i-1"))
        assert await store.machines.exists("i-1")


async def test_sqlite_lock_held_past_busy_timeout_is_backend_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_engine, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "locked.db"
    url = f"sqlite+aiosqlite:///{path}"
    async with open_store(url, migrate=True) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="locked"):
                await store.machines.save(Machine("i-1"))
            assert time.monotonic() - started < 3
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        machine = Machine("i-1")
        await store.machines.save(machine)  # the lock is gone: writers proceed
        assert machine.version == 1


async def test_concurrent_sqlite_writers_wait_for_each_other(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    async with open_store(url, migrate=True) as store:

        async def writer(n: int) -> None:
            await store.machines.save_many([Machine(f"i-{n}-{k}") for k in range(50)])

        await asyncio.gather(*(writer(n) for n in range(8)))
        assert await store.machines.count() == 400


def test_stale_wal_snapshot_is_a_concurrency_conflict(tmp_path: Path) -> None:
    """SQLITE_BUSY_SNAPSHOT (a read snapshot that can no longer write) -> ConcurrencyConflict."""
    path = tmp_path / "wal.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t").fetchall()
    setup.execute("INSERT INTO t VALUES ('other')")
    with pytest.raises(sqlite3.OperationalError) as caught:
        reader.execute("INSERT INTO t VALUES ('mine')")
    reader.execute("ROLLBACK")
    assert caught.value.sqlite_errorname == "SQLITE_BUSY_SNAPSHOT"
    translated = ErrorTranslator("sqlite", f"sqlite+aiosqlite:///{path}").translate(caught.value)
    assert isinstance(translated, ConcurrencyConflict)
    setup.close()
    reader.close()


def test_translation_never_leaks_driver_errors_or_passwords() -> None:
    translator = ErrorTranslator("postgresql", REFUSED)
    error = translator.translate(RuntimeError(f"boom with {SECRET}"))
    assert isinstance(error, PersistenceError)
    assert SECRET not in str(error)
