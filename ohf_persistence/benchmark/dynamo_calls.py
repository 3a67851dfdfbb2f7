"""DynamoDB: API calls per phase (botocore ``before-call`` events) and the fewest possible.

The store exposes its botocore clients (``DynamoStore.botocore_clients``); a handler on each
counts every operation the adapter sends. Retries of one operation are not counted (botocore
emits ``before-call`` once per operation), so a count above the minimum means extra requests,
not throttling.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..domain import Machine
from ..ports import Store
from .phases import Outcome

QUERY_PAGE_BYTES = 1024 * 1024  # a Query returns at most 1 MB of items per call
BATCH_GET_LIMIT = 100  # keys per BatchGetItem
TRANSACTION_LIMIT = 100  # actions per TransactWriteItems
_EVENT = "before-call.dynamodb"
SIMULATED_RTT = 0.02  # seconds: a same-region round trip to DynamoDB, roughly


def store_clients(store: Store) -> list[Any]:
    """The botocore client(s) of a DynamoDB store (``client``; older: ``botocore_clients()``)."""
    client = getattr(store, "client", None)
    if client is not None:
        return [client]
    getter = getattr(store, "botocore_clients", None)
    if callable(getter):
        return list(getter())
    raise TypeError(f"{type(store).__name__} exposes no botocore client to count calls on")


class CallCounter:
    """Counts DynamoDB operations sent by a store's clients (thread-safe: calls run in the
    adapter's worker threads)."""

    def __init__(self, store: Store) -> None:
        clients: dict[int, Any] = {}
        for client in store_clients(store):
            clients[id(client)] = client
        self._clients = list(clients.values())
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        for client in self._clients:
            client.meta.events.register(_EVENT, self._count, unique_id=f"bench-{id(self)}")

    def _count(self, model: Any = None, **_: Any) -> None:
        name = getattr(model, "name", "?")
        with self._lock:
            self.calls[name] += 1

    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def close(self) -> None:
        for client in self._clients:
            client.meta.events.unregister(_EVENT, unique_id=f"bench-{id(self)}")


class Minimum:
    """The fewest API calls DynamoDB allows for what a phase did."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._sizes: dict[str, int] = {}

    def _item_size(self, machine: Machine) -> int:
        from ..adapters.dynamodb.items import checked_item

        size = self._sizes.get(machine.machine_id)
        if size is None:
            em = self._store.dynamo.models[Machine]  # type: ignore[attr-defined]
            size = self._sizes[machine.machine_id] = checked_item(em, machine.to_dict())[1]
        return size

    def query_pages(self, answer: list[Machine]) -> int:
        """One Query per started megabyte of matching items (at least one call)."""
        total = sum(self._item_size(m) for m in answer)
        return max(1, math.ceil(total / QUERY_PAGE_BYTES))

    def of(self, phase: str, outcome: Outcome) -> int:
        if phase == "save_many":
            return sum(math.ceil(n / TRANSACTION_LIMIT) for n in outcome.batches)
        if phase == "get_by_instance_ids":
            return sum(math.ceil(n / BATCH_GET_LIMIT) for n in outcome.batches)
        if phase in ("get_by_request_id", "get_by_status"):
            return sum(self.query_pages(answer) for answer in outcome.answers)
        # get_by_id: GetItem; update_status: UpdateItem; delete: DeleteItem; page: one Query
        # per page (the page size is far under 1 MB).
        return outcome.ops


@contextlib.contextmanager
def simulated_latency(store: Store, seconds: float) -> Iterator[None]:
    """Every HTTP request of the store sleeps ``seconds`` first (in its worker thread)."""
    if not seconds:
        yield
        return

    def delay(**_: Any) -> None:
        time.sleep(seconds)

    clients = store_clients(store)
    for client in clients:
        client.meta.events.register("before-send.dynamodb", delay, unique_id="bench-rtt")
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-send.dynamodb", unique_id="bench-rtt")
