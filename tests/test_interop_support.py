"""Shared helpers for the CLI and interop tests (no tests here).

``fresh_url(kind)`` gives the URL of a new, empty, migrated store: a SQLite file under
tmp_path, a PostgreSQL database created for the test and dropped after it, or a DynamoDB
table prefix on the suite's moto server.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence.cli import main

# A copy of ../shared/fixtures/orb-json (written by ORB 1.8.5), kept in the repository so the
# tests do not depend on a sibling folder.
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "orb-json"
FIXTURE_FILE = FIXTURE / "request_database.json"
PG_URL = os.environ.get(
    "OHF_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
DT_FIELDS = {
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "first_status_check",
    "last_status_check",
    "deadline_at",
    "launch_time",
    "provisioning_started_at",
    "termination_time",
}

UrlFactory = Callable[[], Awaitable[str]]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the console-script function and return (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_orb_equal(original: dict[str, Any], exported: dict[str, Any]) -> None:
    """Field by field: every section, id and field ORB wrote comes back with an equal value
    (datetimes equal as instants, naive = UTC), and nothing is added."""
    from ohf_persistence.interop.records import parse_datetime

    assert set(exported) == set(original)
    for section, records in original.items():
        assert set(exported[section]) == set(records), section
        for key, record in records.items():
            back = exported[section][key]
            assert set(back) == set(record), (section, key, set(back) ^ set(record))
            for name, value in record.items():
                got = back[name]
                if name in DT_FIELDS and isinstance(value, str) and isinstance(got, str):
                    want_dt = parse_datetime(value, name, section)
                    got_dt = parse_datetime(got, name, section)
                    assert got_dt == want_dt, (section, key, name, value, got)
                else:
                    assert got == value, (section, key, name, value, got)
                    assert type(got) is type(value), (section, key, name, value, got)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def sql_available() -> bool:
    try:
        from ohf_persistence.adapters import sql
    except ImportError:
        return False
    return hasattr(sql, "open_sql_store")


async def _create_pg_database() -> tuple[str, Callable[[], Awaitable[None]]]:
    import asyncpg

    base = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    admin = base.rsplit("/", 1)[0] + "/postgres"
    name = f"ohf_cli_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    return PG_URL.rsplit("/", 1)[0] + f"/{name}", drop


def _in_thread(work: Callable[[], Awaitable[None]]) -> None:
    """Run async teardown from a sync fixture whether or not an event loop is running."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work()).result()  # type: ignore[arg-type]


@pytest.fixture
def sqlite_url_factory(tmp_path: Path) -> UrlFactory:
    from ohf_persistence import migrate

    counter = iter(range(1000))

    async def make() -> str:
        url = f"sqlite+aiosqlite:///{tmp_path}/store{next(counter)}.db"
        await migrate(url)
        return url

    return make


@pytest.fixture
def postgres_url_factory() -> Iterator[UrlFactory]:
    from ohf_persistence import migrate

    drops: list[Callable[[], Awaitable[None]]] = []

    async def make() -> str:
        try:
            url, drop = await _create_pg_database()
        except OSError as exc:
            if os.environ.get("CI") == "true":
                raise
            pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
        drops.append(drop)
        await migrate(url)
        return url

    yield make
    for drop in drops:
        _in_thread(drop)


@pytest.fixture
def dynamodb_url_factory(request: pytest.FixtureRequest) -> Iterator[UrlFactory]:
    """Table prefixes on the suite's moto server (tests/backends/dynamodb.py)."""
    from ohf_persistence import downgrade, migrate
    from tests.backends.dynamodb import dynamodb_url, fresh_prefix

    endpoint: str = request.getfixturevalue("moto_endpoint")
    urls: list[str] = []

    async def make() -> str:
        url = dynamodb_url(endpoint, fresh_prefix())
        urls.append(url)
        await migrate(url)
        return url

    yield make
    for url in urls:

        async def drop(url: str = url) -> None:
            await downgrade(url, "base")

        _in_thread(drop)


StoreFactory = Callable[[], Awaitable[Any]]


def store_backends() -> list[str]:
    """Backends the store-level interop tests run on (SQL and DynamoDB once their adapters
    and test fixtures exist in the tree)."""
    names = ["memory"]
    if sql_available():
        names += ["sqlite", "postgres"]
    if (Path(__file__).parent / "backends" / "dynamodb.py").exists():
        names.append("dynamodb")
    only = os.environ.get("OHF_TEST_BACKENDS")
    return [n for n in names if not only or n in only.split(",")]


@pytest.fixture
def url_factory(request: pytest.FixtureRequest, backend: str) -> UrlFactory:
    """Fresh, migrated store URLs of the parametrized backend."""
    if backend == "memory":

        async def make() -> str:
            return "memory://"

        return make
    factory: UrlFactory = request.getfixturevalue(f"{backend}_url_factory")
    return factory


@pytest.fixture
async def fresh_store(url_factory: UrlFactory) -> AsyncIterator[StoreFactory]:
    """Opens fresh stores of the backend; closes them after the test."""
    from ohf_persistence import open_store

    opened: list[Any] = []

    async def make() -> Any:
        store = await open_store(await url_factory())
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


def persistent_backends() -> list[str]:
    return [b for b in store_backends() if b != "memory"]


async def export_text(url: str, path: Path) -> str:
    """The store's JSON Lines export (the way tests compare whole stores)."""
    from ohf_persistence import open_store
    from ohf_persistence.interop import export_store

    async with open_store(url) as store:
        await export_store(store, path, "jsonl")
    return await asyncio.to_thread(path.read_text, encoding="utf-8")
