"""DynamoDB: a status change that would take an item over 400 KB raises ItemTooLarge and
writes nothing, autocommitted and inside a unit of work (issue 11, item 12)."""

from __future__ import annotations

import pytest

from ohf_persistence import ItemTooLarge, MachineStatus
from ohf_persistence.adapters.dynamodb import DynamoStore
from ohf_persistence.adapters.dynamodb.items import ITEM_LIMIT, checked_item
from ohf_persistence.testing import make_machine
from tests.backends.dynamodb import CallLog, dynamodb_store, moto_endpoint  # noqa: F401

REASON = "r" * 8_000  # pushes a near-limit item over 400 KB


async def _near_limit(store: DynamoStore) -> int:
    """Store a machine a few KB under the item limit; its size in bytes."""
    machine = make_machine("i-big", tags={"blob": "b" * 402_700})
    await store.machines.save(machine)
    size = checked_item(store.dynamo.models[type(machine)], machine.to_dict())[1]
    assert ITEM_LIMIT - 8_000 < size < ITEM_LIMIT - 6_000
    return size


async def _unchanged(store: DynamoStore) -> None:
    stored = await store.machines.get_by_id("i-big")
    assert stored is not None
    assert (stored.version, stored.status, stored.status_reason) == (1, "pending", None)


async def test_autocommitted_update_status_over_the_limit(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await _near_limit(store)
    log = CallLog(store)
    with pytest.raises(ItemTooLarge) as raised:
        await store.machines.update_status("i-big", MachineStatus.RUNNING, REASON)
    assert raised.value.key == "i-big" and raised.value.size > ITEM_LIMIT
    assert log.calls == ["GetItem"]  # sized before sending: no UpdateItem went out
    log.close()
    await _unchanged(store)
    # Under the limit the same call works: only the size was refused.
    assert await store.machines.update_status("i-big", MachineStatus.RUNNING, "booted")


async def test_update_status_in_a_unit_of_work_over_the_limit(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await _near_limit(store)
    log = CallLog(store)
    async with store.unit_of_work() as uow:
        with pytest.raises(ItemTooLarge) as raised:
            await uow.machines.update_status("i-big", MachineStatus.RUNNING, REASON)
        assert raised.value.key == "i-big" and raised.value.size > ITEM_LIMIT
        await uow.commit()  # the refused change was never staged: nothing to send
    assert log.calls == ["GetItem"]  # read the row; no write was sent
    log.close()
    await _unchanged(store)
