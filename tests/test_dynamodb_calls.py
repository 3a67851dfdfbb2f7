"""DynamoDB: which API operations each port method sends (counted with botocore event hooks),
and that calls run in worker threads, overlapping, without blocking the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from ohf_persistence import MachineStatus, RequestStatus
from ohf_persistence.adapters.dynamodb import DynamoStore
from ohf_persistence.testing import make_machine, make_request, make_template
from tests.backends.dynamodb import CallLog, dynamodb_store, moto_endpoint  # noqa: F401


async def _seed(store: DynamoStore) -> None:
    await store.templates.save_many([make_template(f"tpl-{n}") for n in range(3)])
    await store.requests.save_many(
        [make_request("req-1"), make_request("ret-1", status=RequestStatus.IN_PROGRESS)]
    )
    await store.machines.save_many(
        [make_machine(f"i-{n}", request_id="req-1", return_request_id="ret-1") for n in range(5)]
    )


async def test_keyed_queries_never_scan(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await _seed(store)
    log = CallLog(store)
    assert len(await store.machines.get_by_request_id("req-1")) == 5
    assert log.calls == ["Query"]
    await store.machines.get_by_return_request_id("ret-1")
    await store.machines.get_by_status(MachineStatus.PENDING)
    await store.requests.get_by_status("pending")
    assert len(await store.requests.get_active_requests()) == 2  # one Query per active status
    await store.templates.get_by_provider_type("aws")
    await store.machines.get_by_id("i-1")
    await store.machines.exists("i-2")
    await store.machines.get_by_instance_ids(["i-3", "i-1"])
    await store.machines.count({"status": "pending", "name": "host-i-1"})
    await store.machines.page({"request_id": "req-1"}, limit=2)
    await store.machines.get_all(limit=2)  # key order from the by_key index: no Scan either
    await store.templates.find_by_attributes({"ncpus": ["Numeric", "2"]})
    assert "Scan" not in log.calls
    assert set(log.calls) == {"Query", "GetItem", "BatchGetItem"}
    log.close()


async def test_a_page_reads_only_what_it_returns(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await store.machines.save_many([make_machine(f"i-{n:03d}") for n in range(150)])
    log = CallLog(store)
    page = await store.machines.page(limit=100)
    assert len(page.items) == 100 and page.next_cursor is not None
    assert log.calls == ["Query"]  # Limit=101 on the by_key index, in key order
    log.close()


async def test_paging_a_key_range_is_one_query_per_page(
    dynamodb_store: DynamoStore,  # noqa: F811
) -> None:
    # A cursor plus an upper key bound is a BETWEEN, which also returns the cursor's own item:
    # the page asks for one more row instead of spending a second Query per page.
    store = dynamodb_store
    await store.machines.save_many([make_machine(f"i-{n:03d}") for n in range(30)])
    filters = {"machine_id_gte": "i-005", "machine_id_lt": "i-025"}
    log = CallLog(store)
    seen, cursor, pages = [], None, 0
    while True:
        page = await store.machines.page(filters, limit=5, cursor=cursor)
        seen += [m.machine_id for m in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"i-{n:03d}" for n in range(5, 25)]
    assert log.calls == ["Query"] * pages
    assert pages == 4
    log.close()


async def test_get_by_instance_ids_of_250_ids_is_3_batch_gets(
    dynamodb_store: DynamoStore,  # noqa: F811
) -> None:
    store = dynamodb_store
    await store.machines.save_many([make_machine(f"i-{n:03d}") for n in range(250)])
    log = CallLog(store)
    wanted = [f"i-{n:03d}" for n in reversed(range(250))]
    found = await store.machines.get_by_instance_ids(wanted)
    assert [m.machine_id for m in found] == wanted
    assert log.calls == ["BatchGetItem"] * 3
    log.close()


async def test_unit_of_work_commit_is_one_transaction(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await store.machines.save(make_machine("i-old"))
    log = CallLog(store)
    async with store.unit_of_work() as uow:
        await uow.templates.save(make_template("tpl-1"))
        await uow.requests.save(make_request("req-1"))
        await uow.machines.save_many([make_machine(f"i-{n}") for n in range(10)])
        await uow.machines.update_status("i-old", "running")  # reads the row once (GetItem)
        await uow.machines.delete("i-old")
        assert log.calls == ["GetItem"]
        log.clear()
        await uow.commit()
    assert log.calls == ["TransactWriteItems"]
    assert await store.machines.count() == 10
    log.close()


async def test_single_writes_outside_a_unit_of_work(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    log = CallLog(store)
    machine = make_machine("i-1")
    await store.machines.save(machine)
    await store.machines.save(machine)
    assert await store.machines.update_status("i-1", "running", "booted")
    assert await store.machines.delete("i-1")
    assert log.calls == ["PutItem", "PutItem", "UpdateItem", "DeleteItem"]
    log.clear()
    await store.machines.save_many([make_machine(f"i-{n:03d}") for n in range(250)])
    assert log.calls == ["TransactWriteItems"] * 3  # chunks of 100, each atomic
    log.close()


async def test_concurrent_reads_overlap_in_worker_threads(
    dynamodb_store: DynamoStore,  # noqa: F811
) -> None:
    store = dynamodb_store
    await store.machines.save_many([make_machine(f"i-{n}") for n in range(8)])
    state: dict[str, Any] = {"running": 0, "peak": 0, "threads": set()}
    lock = threading.Lock()

    def slow_call(**_: Any) -> None:
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
            state["threads"].add(threading.get_ident())
        time.sleep(0.2)  # a slow network round trip, in the worker thread
        with lock:
            state["running"] -= 1

    store.client.meta.events.register("before-call.dynamodb.GetItem", slow_call, "slow")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    found = await asyncio.gather(*(store.machines.get_by_id(f"i-{n}") for n in range(8)))
    elapsed = time.perf_counter() - started
    ticking.cancel()
    store.client.meta.events.unregister("before-call.dynamodb.GetItem", unique_id="slow")
    assert all(m is not None for m in found)
    assert state["peak"] == 8 and len(state["threads"]) == 8
    assert threading.get_ident() not in state["threads"]
    assert elapsed < 8 * 0.2 / 2  # well under the sequential time
    assert ticks >= 10  # the event loop kept running meanwhile
