"""The PostgreSQL backend for the contract suite.

One uniquely named database per test run, created from ``OHF_TEST_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``), migrated once with Alembic and dropped
at the end; each test starts with the tables emptied. An unreachable server skips these tests
with a loud reason, except with ``CI=true`` where it fails them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ohf_persistence import Store, mask_url, migrate, open_store

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    return os.environ.get("OHF_TEST_POSTGRES_URL") or DEFAULT_URL


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(
        url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5}, pool_timeout=5
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def unavailable(reason: str) -> None:
    message = f"POSTGRESQL TESTS NOT RUN: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = postgres_base_url()
    name = f"ohf_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server: skip (or fail on CI)
        unavailable(f"cannot create a database on {mask_url(base)} ({type(exc).__name__}: {exc})")
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[Store]:
    async with open_store(postgres_url) as store:
        await empty_tables(store)
        yield store


async def empty_tables(store: Store) -> None:
    db = store.db  # type: ignore[attr-defined]
    async with db.transaction() as conn:
        for table in ("machines", "requests", "templates"):
            await conn.execute(text(f"DELETE FROM {table}"))
