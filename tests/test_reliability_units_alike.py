"""A unit of work after a caught conflict ends alike on every backend (hostile pass 3).

Memory and SQL raise a conflict with a stored row from the save that meets it and stage
nothing; DynamoDB stages the stale write and finds the conflict only at commit. Whatever the
caller does after catching the first (save the row read again, a fresh copy, delete and
insert, restore on the right version, update_status), the unit cannot be committed until
rolled back, so the same calls give the same commit outcome and stored state everywhere
(README, "Conflicts surface at save or at commit"). A first fix let a later successful save
of the same row "answer" the conflict: memory and SQL then committed while DynamoDB refused.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from ohf_persistence import AlreadyExists, ConcurrencyConflict, Machine, Store
from ohf_persistence.ports import UnitOfWork


async def _caught(call: Awaitable[Any]) -> str:
    """What a caller who catches conflicts sees: "ok" or the conflict's class name (the
    place a conflict surfaces differs by backend, so it is recorded, not asserted)."""
    try:
        await call
    except ConcurrencyConflict as exc:
        return type(exc).__name__
    return "ok"


async def _state(store: Store) -> list[tuple[str, int, str | None, str | None, str]]:
    return sorted(
        (m.machine_id, m.version, m.private_ip, m.request_id, str(m.status))
        for m in await store.machines.get_all()
    )


async def _stale(store: Store) -> Machine:
    """i-0 stored at version 2 by another writer; returns a copy read at version 1."""
    await store.machines.save(Machine("i-0", request_id="req-1"))
    stale = await store.machines.get_by_id("i-0")
    other = await store.machines.get_by_id("i-0")
    assert stale is not None and other is not None
    other.private_ip = "10.9.9.9"
    await store.machines.save(other)
    return stale


async def _resave_reread(store: Store, uow: UnitOfWork) -> None:
    stale = await _stale(store)
    stale.private_ip = "1.1.1.1"
    await _caught(uow.machines.save(stale))
    again = await uow.machines.get_by_id("i-0")
    assert again is not None
    again.private_ip = "2.2.2.2"
    await _caught(uow.machines.save(again))


async def _resave_fresh_copy(store: Store, uow: UnitOfWork) -> None:
    stale = await _stale(store)
    fresh = await store.machines.get_by_id("i-0")
    assert fresh is not None
    stale.private_ip = "1.1.1.1"
    await _caught(uow.machines.save(stale))
    fresh.private_ip = "2.2.2.2"
    await _caught(uow.machines.save(fresh))


async def _insert_taken_then_resave(store: Store, uow: UnitOfWork) -> None:
    await store.machines.save(Machine("i-0", request_id="req-1"))
    await _caught(uow.machines.save(Machine("i-0", request_id="req-2")))
    got = await uow.machines.get_by_id("i-0")
    assert got is not None
    got.private_ip = "8.8.8.8"
    await _caught(uow.machines.save(got))


async def _insert_taken_then_delete_and_insert(store: Store, uow: UnitOfWork) -> None:
    await store.machines.save(Machine("i-0", request_id="req-1"))
    await _caught(uow.machines.save(Machine("i-0", request_id="req-2")))
    await uow.machines.delete("i-0")
    await _caught(uow.machines.save(Machine("i-0", request_id="req-3")))


async def _restore_wrong_then_right(store: Store, uow: UnitOfWork) -> None:
    await _stale(store)
    imported = Machine("i-0", request_id="req-1", version=5, private_ip="5.5.5.5")
    await _caught(uow.restore(imported, replaces=1))
    await _caught(uow.restore(imported, replaces=2))


async def _stale_then_update_status(store: Store, uow: UnitOfWork) -> None:
    stale = await _stale(store)
    await _caught(uow.machines.save(stale))
    await _caught(uow.machines.update_status("i-0", "running"))


SEQUENCES = {
    "resave-reread": (_resave_reread, ConcurrencyConflict),
    "resave-fresh-copy": (_resave_fresh_copy, ConcurrencyConflict),
    "insert-taken-then-resave": (_insert_taken_then_resave, AlreadyExists),
    "insert-taken-delete-insert": (_insert_taken_then_delete_and_insert, AlreadyExists),
    "restore-wrong-then-right": (_restore_wrong_then_right, ConcurrencyConflict),
    "stale-then-update-status": (_stale_then_update_status, ConcurrencyConflict),
}


@pytest.mark.parametrize("name", list(SEQUENCES))
async def test_a_unit_that_met_a_conflict_commits_nothing_on_every_backend(
    store: Store, name: str
) -> None:
    sequence, conflict = SEQUENCES[name]
    uow = store.unit_of_work()
    await sequence(store, uow)
    before = await _state(store)  # what the other writer left, before any commit
    with pytest.raises(conflict):
        await uow.commit()
    with pytest.raises(conflict):  # again: only rollback makes the unit usable
        await uow.commit()
    assert await _state(store) == before
    await uow.rollback()
    await uow.machines.save(Machine("i-after", request_id="req-9"))
    await uow.commit()  # the rolled-back unit goes on
    assert [m[0] for m in await _state(store)] == ["i-0", "i-after"]
