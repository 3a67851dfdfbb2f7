"""DynamoDB: transaction and item limits checked before sending, and conditional writes whose
failures are translated per item (nothing of a cancelled unit of work is written)."""

from __future__ import annotations

import pytest

from ohf_persistence import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidStatusTransition,
    ItemTooLarge,
    Machine,
    TransactionTooLarge,
)
from ohf_persistence.adapters.dynamodb import DynamoStore
from ohf_persistence.adapters.dynamodb.writes import Action, build_transaction
from ohf_persistence.testing import make_machine, make_request
from tests.backends.dynamodb import CallLog, dynamodb_store, moto_endpoint  # noqa: F401


async def test_more_than_100_writes_is_refused_before_sending(
    dynamodb_store: DynamoStore,  # noqa: F811
) -> None:
    store = dynamodb_store
    log = CallLog(store)
    machines = [make_machine(f"i-{n:03d}") for n in range(101)]
    async with store.unit_of_work() as uow:
        await uow.machines.save_many(machines)
        with pytest.raises(TransactionTooLarge, match="at most 100"):
            await uow.commit()
    assert log.calls == []
    assert all(m.version == 0 for m in machines)  # rolled back on exit
    assert await store.machines.count() == 0
    log.close()


async def test_more_than_4_mb_is_refused_before_sending(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    log = CallLog(store)
    blob = "x" * 390_000  # each item stays under 400 KB; eleven exceed 4 MiB together
    async with store.unit_of_work() as uow:
        for n in range(11):
            await uow.machines.save(make_machine(f"i-{n}", tags={"blob": blob}))
        with pytest.raises(TransactionTooLarge, match="bytes"):
            await uow.commit()
    assert log.calls == []
    log.close()


async def test_two_actions_on_one_item_are_refused(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    em = dynamodb_store.dynamo.models[Machine]
    row = make_machine("i-1").to_dict()
    with pytest.raises(TransactionTooLarge, match="twice"):
        build_transaction([Action(em, "i-1", None, row), Action(em, "i-1", 3, None)])


async def test_repeated_writes_to_one_item_are_merged(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    # A unit of work keeps one staged write per key, so DynamoDB's one-action-per-item rule
    # never refuses save + update_status + save of the same entity.
    store = dynamodb_store
    log = CallLog(store)
    machine = make_machine("i-1")
    async with store.unit_of_work() as uow:
        await uow.machines.save(machine)
        assert await uow.machines.update_status("i-1", "running")
        machine = await uow.machines.get_by_id("i-1")  # type: ignore[assignment]
        machine.private_ip = "10.0.0.9"
        await uow.machines.save(machine)
        await uow.commit()
    assert log.calls == ["TransactWriteItems"]
    stored = await store.machines.get_by_id("i-1")
    assert stored is not None and stored.status == "running" and stored.version == 3
    assert stored.private_ip == "10.0.0.9"
    log.close()


async def test_items_over_400_kb_are_refused_before_sending(
    dynamodb_store: DynamoStore,  # noqa: F811
) -> None:
    store = dynamodb_store
    log = CallLog(store)
    big = make_machine("i-big", tags={"blob": "é" * 210_000})  # 420,000 bytes of UTF-8
    with pytest.raises(ItemTooLarge) as raised:
        await store.machines.save(big)
    assert raised.value.key == "i-big" and raised.value.size > 400 * 1024
    assert big.version == 0
    with pytest.raises(ItemTooLarge):
        await store.machines.save_many([make_machine("i-ok"), big])
    async with store.unit_of_work() as uow:
        with pytest.raises(ItemTooLarge):
            await uow.machines.save(big)
    assert log.calls == []
    assert await store.machines.count() == 0
    log.close()


async def test_a_failed_item_cancels_the_whole_transaction(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await store.machines.save(make_machine("i-taken"))
    request = make_request("req-1")
    async with store.unit_of_work() as uow:
        await uow.requests.save(request)
        await uow.machines.save(make_machine("i-taken"))  # inserting an existing key
        with pytest.raises(AlreadyExists) as raised:
            await uow.commit()
    assert raised.value.entity_type == "Machine" and raised.value.key == "i-taken"
    assert raised.value.actual_version == 1
    assert await store.requests.get_by_id("req-1") is None
    assert request.version == 0


async def test_stale_version_surfaces_at_commit(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    machine = make_machine("i-1")
    await store.machines.save(machine)
    stale = await store.machines.get_by_id("i-1")
    assert stale is not None
    await store.machines.save(machine)  # stored version is now 2
    async with store.unit_of_work() as uow:
        await uow.machines.save(stale)
        with pytest.raises(ConcurrencyConflict) as raised:
            await uow.commit()
    assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
    assert stale.version == 1


async def test_status_change_in_a_unit_of_work_is_guarded_by_version(
    dynamodb_store: DynamoStore,  # noqa: F811
) -> None:
    store = dynamodb_store
    await store.machines.save(make_machine("i-1"))
    async with store.unit_of_work() as uow:
        assert await uow.machines.update_status("i-1", "running")
        assert await store.machines.update_status("i-1", "stopping")  # a concurrent writer
        with pytest.raises(ConcurrencyConflict):
            await uow.commit()
    stored = await store.machines.get_by_id("i-1")
    assert stored is not None and stored.status == "stopping" and stored.version == 2


async def test_update_status_is_one_conditional_write(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await store.requests.save(make_request("req-1", status="complete"))
    log = CallLog(store)
    with pytest.raises(InvalidStatusTransition):
        await store.requests.update_status("req-1", "pending")
    assert not await store.requests.update_status("req-missing", "complete")
    # A refused UpdateItem returns the stored item (ReturnValuesOnConditionCheckFailure), which
    # tells a refused transition from a missing id; only for a missing id is one GetItem made.
    assert log.calls == ["UpdateItem", "UpdateItem", "GetItem"]
    stored = await store.requests.get_by_id("req-1")
    assert stored is not None and stored.version == 1
    log.close()
