"""``UnitOfWork.restore``: writing an entity with the version and timestamps it already has
(import, copy, undo), guarded like a save, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ohf_persistence import AlreadyExists, ConcurrencyConflict, Store, ValidationError
from ohf_persistence.testing import make_machine, make_request

STAMP = datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _stored_elsewhere(key: str, version: int) -> object:
    machine = make_machine(key)
    object.__setattr__(machine, "version", version)
    object.__setattr__(machine, "created_at", STAMP)
    object.__setattr__(machine, "updated_at", STAMP)
    return machine


async def test_restore_keeps_version_and_timestamps(store: Store) -> None:
    machine = _stored_elsewhere("i-1", 7)
    async with store.unit_of_work() as uow:
        await uow.restore(machine)
        staged = await uow.machines.get_by_id("i-1")  # the unit sees its own restore
        assert staged is not None and staged.version == 7
        await uow.commit()
    assert machine.version == 7  # the caller's object is not stamped
    stored = await store.machines.get_by_id("i-1")
    assert stored is not None
    assert (stored.version, stored.created_at, stored.updated_at) == (7, STAMP, STAMP)
    # A normal save continues from the restored version.
    await store.machines.save(stored)
    assert stored.version == 8


async def test_restore_is_guarded_by_the_version_it_replaces(store: Store) -> None:
    await store.machines.save(make_machine("i-1"))  # stored version 1
    with pytest.raises(AlreadyExists):
        async with store.unit_of_work() as uow:
            await uow.restore(_stored_elsewhere("i-1", 5))  # replaces=0: must be absent
            await uow.commit()
    with pytest.raises(ConcurrencyConflict):
        async with store.unit_of_work() as uow:
            await uow.restore(_stored_elsewhere("i-1", 5), replaces=3)
            await uow.commit()
    async with store.unit_of_work() as uow:
        await uow.restore(_stored_elsewhere("i-1", 5), replaces=1)
        await uow.commit()
    stored = await store.machines.get_by_id("i-1")
    assert stored is not None and stored.version == 5 and stored.updated_at == STAMP


async def test_restore_many_is_all_or_nothing_and_refuses_unstored_versions(store: Store) -> None:
    request = make_request("r-new")
    object.__setattr__(request, "version", 2)
    async with store.unit_of_work() as uow:
        with pytest.raises(ValidationError):
            await uow.restore(make_machine("i-0"))  # version 0 was never stored anywhere
        await uow.machines.save(make_machine("i-2"))  # staged in this unit
        with pytest.raises(AlreadyExists):  # i-2 is not absent in the unit's view
            await uow.restore_many([(request, 0), (_stored_elsewhere("i-2", 5), 0)])
        assert await uow.requests.get_by_id("r-new") is None  # the batch left nothing staged
        await uow.commit()
    assert await store.requests.get_by_id("r-new") is None
    stored = await store.machines.get_by_id("i-2")
    assert stored is not None and stored.version == 1
