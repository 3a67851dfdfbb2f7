"""DynamoDB: migrate/check/current/downgrade, opening without tables, unreachable endpoints,
error translation and independent stores in one process."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

import ohf_persistence
from ohf_persistence import BackendUnavailable, SchemaOutOfDate, open_store
from ohf_persistence.adapters.dynamodb import DynamoStore
from ohf_persistence.adapters.dynamodb.backend import Backend
from ohf_persistence.adapters.dynamodb.settings import settings_from_config
from ohf_persistence.config import ConfigError, resolve_config
from ohf_persistence.testing import make_machine
from tests.backends.dynamodb import (  # noqa: F401
    dynamodb_store,
    dynamodb_url,
    fresh_prefix,
    moto_endpoint,
    require_loopback,
)


async def test_migrate_is_idempotent_and_reversible(moto_endpoint: str) -> None:  # noqa: F811
    url = dynamodb_url(moto_endpoint, fresh_prefix())
    assert await ohf_persistence.current(url) is None
    assert len(await ohf_persistence.check(url)) == 3
    await ohf_persistence.migrate(url)
    await ohf_persistence.migrate(url)
    assert await ohf_persistence.current(url) == "head"
    assert await ohf_persistence.check(url) == []
    with pytest.raises(ConfigError):
        await ohf_persistence.migrate(url, "abc123")
    with pytest.raises(ConfigError, match="base"):
        await ohf_persistence.downgrade(url, "-1")
    await ohf_persistence.downgrade(url, "base")
    assert await ohf_persistence.current(url) is None


async def test_migrate_adds_a_missing_index(moto_endpoint: str) -> None:  # noqa: F811
    url = dynamodb_url(moto_endpoint, fresh_prefix())
    await ohf_persistence.migrate(url)
    async with await open_store(url) as store:
        assert isinstance(store, DynamoStore)
        table = store.settings.machines_table
        await store.dynamo.call(
            "drop index",
            lambda: store.client.update_table(
                TableName=table,
                GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_status"}}],
            ),
        )
    assert await ohf_persistence.check(url) == [f"table {table} lacks index by_status"]
    with pytest.raises(SchemaOutOfDate, match="by_status"):
        await open_store(url)
    await ohf_persistence.migrate(url)
    assert await ohf_persistence.check(url) == []
    await ohf_persistence.downgrade(url, "base")


async def test_opening_without_tables_names_the_fix(moto_endpoint: str) -> None:  # noqa: F811
    url = dynamodb_url(moto_endpoint, fresh_prefix())
    with pytest.raises(SchemaOutOfDate, match="ohf-persistence migrate"):
        await open_store(url)
    assert await ohf_persistence.current(url) is None  # nothing was created implicitly
    async with open_store(url, migrate=True) as store:
        assert await store.machines.count() == 0
    await ohf_persistence.downgrade(url, "base")


async def test_tables_dropped_under_an_open_store(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await store.dynamo.call(
        "drop", lambda: store.client.delete_table(TableName=store.settings.machines_table)
    )
    with pytest.raises(SchemaOutOfDate, match="ohf-persistence migrate") as raised:
        await store.machines.get_by_id("i-1")
    assert isinstance(raised.value.__cause__, PynamoDBException | ClientError)
    with pytest.raises(SchemaOutOfDate):
        await store.machines.save(make_machine("i-1"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_refused_endpoint_is_backend_unavailable_within_seconds() -> None:
    url = dynamodb_url(f"http://127.0.0.1:{_closed_port()}", "x_")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        await open_store(url)
    assert time.monotonic() - started < 5
    assert isinstance(raised.value.__cause__, BotoCoreError)


async def test_silent_endpoint_times_out_as_backend_unavailable() -> None:
    # A server that accepts connections and never answers: the read timeout (shortened here)
    # and the bounded retries turn it into BackendUnavailable, never a hang.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        url = dynamodb_url(f"http://127.0.0.1:{listener.getsockname()[1]}", "x_")
        settings = settings_from_config(resolve_config(url))
        fast: Any = type(settings)(**{**settings.__dict__, "read_timeout": 0.3})
        backend = await Backend.open(fast)
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                await backend.call(
                    "DescribeTable", lambda: backend.client.describe_table(TableName="t")
                )
            assert time.monotonic() - started < 5
        finally:
            await backend.close()
    finally:
        listener.close()


async def test_two_stores_with_different_prefixes_do_not_interfere(
    moto_endpoint: str,  # noqa: F811
) -> None:
    urls = [dynamodb_url(moto_endpoint, fresh_prefix()) for _ in range(2)]
    stores = [await open_store(url, migrate=True) for url in urls]
    a, b = stores
    assert isinstance(a, DynamoStore) and isinstance(b, DynamoStore)
    await asyncio.gather(
        a.machines.save(make_machine("i-1", name="in a")),
        b.machines.save(make_machine("i-1", name="in b")),
        b.machines.save(make_machine("i-2")),
    )
    found_a, found_b = await a.machines.get_by_id("i-1"), await b.machines.get_by_id("i-1")
    assert found_a is not None and found_a.name == "in a"
    assert found_b is not None and found_b.name == "in b"
    assert (await a.machines.count(), await b.machines.count()) == (1, 2)
    assert a.dynamo.models[type(found_a)].model is not b.dynamo.models[type(found_b)].model
    await a.close()
    assert await b.machines.count() == 2  # closing one store leaves the other working
    await b.close()
    for url in urls:
        await ohf_persistence.downgrade(url, "base")


def test_only_loopback_endpoints_are_used_by_the_tests() -> None:
    assert require_loopback("http://127.0.0.1:5000")
    with pytest.raises(RuntimeError, match="loopback"):
        require_loopback("https://dynamodb.us-east-1.amazonaws.com")


def test_settings_defaults_and_explicit_names() -> None:
    defaults = settings_from_config(resolve_config("dynamodb://"))
    assert defaults.tables == ("ohf_templates", "ohf_requests", "ohf_machines")
    options = {
        "region": "eu-west-1",
        "templates_table": "hf-templates",
        "requests_table": "hf-requests",
        "machines_table": "hf-machines",
    }
    named = settings_from_config(
        resolve_config({"storage": {"type": "dynamodb", "dynamodb": options}})
    )
    assert named.region == "eu-west-1"
    assert named.tables == ("hf-templates", "hf-requests", "hf-machines")
    with pytest.raises(ConfigError, match="invalid"):
        settings_from_config(resolve_config("dynamodb://?table_prefix=bad prefix "))
