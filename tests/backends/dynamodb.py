"""The DynamoDB backend for the contract suite: moto in server mode on 127.0.0.1.

One moto server per test session; each test gets its own table prefix (fresh, empty, migrated
tables), deleted afterwards. Dummy credentials only, and any endpoint that is not on loopback
is refused, so these tests can never reach real AWS.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from ohf_persistence import Store, downgrade, open_store

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_prefixes = itertools.count()


def require_loopback(endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RuntimeError(f"refusing DynamoDB endpoint {endpoint!r}: tests only use loopback")
    return endpoint


# moto on a loaded 2-core machine can take longer than the product's 4 s call deadline (meant
# for real DynamoDB): test stores get a longer one. The deadline itself is tested with the
# default (test_reliability_outages.py passes moto_deadline=False) and with timeout=1.
MOTO_DEADLINE_SECONDS = "30"


def dynamodb_url(endpoint: str, prefix: str, *, moto_deadline: bool = True, **options: str) -> str:
    query = {"region": "us-east-1", "endpoint_url": require_loopback(endpoint)}
    if moto_deadline:
        query["timeout"] = MOTO_DEADLINE_SECONDS
    query.update(table_prefix=prefix, **options)
    return "dynamodb://?" + urlencode(query)


def fresh_prefix() -> str:
    return f"t{os.getpid()}_{next(_prefixes)}_"


class _CopyOncePerTransaction:
    """moto deep-copies a table once per *item* of a TransactWriteItems call (to roll back),
    which makes bulk tests quadratic; within one call, copy each table once. Harness only:
    the copies are taken before any item is applied, so moto's behaviour is unchanged."""

    local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        cache = getattr(self.local, "cache", None)
        if cache is None:
            return copy.deepcopy(obj, memo)
        if id(obj) not in cache:
            cache[id(obj)] = copy.deepcopy(obj, memo)
        return cache[id(obj)]


def _speed_up_moto_transactions() -> None:
    from moto.dynamodb import models

    if isinstance(models.copy, _CopyOncePerTransaction):  # type: ignore[attr-defined]
        return
    shim = _CopyOncePerTransaction()
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        shim.local.cache = {}
        try:
            return original(self, transact_items)
        finally:
            shim.local.cache = None

    setattr(models, "copy", shim)  # noqa: B010 - replacing the module moto imported
    setattr(models.DynamoDBBackend, "transact_write_items", transact_write_items)  # noqa: B010


_MOTO_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def _make_moto_writes_atomic() -> None:
    """moto's server answers each request on its own thread and checks a write's condition,
    then applies it, with nothing held in between: two concurrent conditional writes to one
    item can both pass (seen here as a lost update under load). Real DynamoDB applies each
    conditional write atomically, so the harness runs moto's writes one at a time. Harness
    only: what each write does is unchanged."""
    from moto.dynamodb import models

    backend = models.DynamoDBBackend
    if getattr(backend, "_ohf_atomic_writes", False):
        return
    lock = threading.RLock()

    def serialised(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return write

    for name in _MOTO_WRITES:
        setattr(backend, name, serialised(getattr(backend, name)))
    backend._ohf_atomic_writes = True


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per call
    _speed_up_moto_transactions()
    _make_moto_writes_atomic()
    saved = {name: os.environ.get(name) for name in DUMMY_AWS_ENV}
    os.environ.update(DUMMY_AWS_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield require_loopback(f"http://{host}:{port}")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
async def dynamodb_store(moto_endpoint: str) -> AsyncIterator[Store]:
    url = dynamodb_url(moto_endpoint, fresh_prefix())
    async with open_store(url, migrate=True) as store:
        yield store
    await downgrade(url, "base")


class CallLog:
    """Every DynamoDB API operation a store sends (botocore ``before-call`` event hook)."""

    def __init__(self, store: Any) -> None:
        self.calls: list[str] = []
        self._events = store.client.meta.events
        self._events.register("before-call.dynamodb", self._record, unique_id=f"log-{id(self)}")

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def count(self, operation: str) -> int:
        return self.calls.count(operation)

    def clear(self) -> None:
        self.calls.clear()

    def close(self) -> None:
        self._events.unregister("before-call.dynamodb", unique_id=f"log-{id(self)}")
