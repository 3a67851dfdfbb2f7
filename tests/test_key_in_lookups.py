"""A filter on ``<key>_in`` is a batch of point lookups on every backend (DynamoDB: one
BatchGetItem, never a Query over the whole table), and interop fetches existing records that
way through port methods only."""

from __future__ import annotations

from ohf_persistence import Store, Template
from ohf_persistence.adapters.dynamodb import DynamoStore
from ohf_persistence.interop.writer import fetch_existing
from ohf_persistence.testing import make_machine, make_template
from tests.backends.dynamodb import CallLog, dynamodb_store, moto_endpoint  # noqa: F401


async def test_key_in_filters_combine_with_others_and_with_paging(store: Store) -> None:
    await store.machines.save_many(
        [make_machine(f"i-{n}", status="running" if n % 2 else "pending") for n in range(8)]
    )
    wanted = ["i-7", "i-1", "i-4", "i-9", "i-3", "i-1"]  # unknown and repeated ids too
    found = await store.machines.get_all({"machine_id_in": wanted, "status": "running"})
    assert [m.machine_id for m in found] == ["i-1", "i-3", "i-7"]
    assert await store.machines.count({"machine_id_in": wanted}) == 4
    got = await store.machines.get_all({"machine_id_in": wanted}, limit=2, offset=1)
    assert [m.machine_id for m in got] == ["i-3", "i-4"]
    first = await store.machines.page({"machine_id_in": wanted}, limit=3)
    assert [m.machine_id for m in first.items] == ["i-1", "i-3", "i-4"]
    second = await store.machines.page({"machine_id_in": wanted}, 3, first.next_cursor)
    assert [m.machine_id for m in second.items] == ["i-7"] and second.next_cursor is None
    async with store.unit_of_work() as uow:  # staged rows join, deleted ones leave
        await uow.machines.delete("i-1")
        await uow.machines.save(make_machine("i-9", status="running"))
        found = await uow.machines.get_all({"machine_id_in": wanted, "status": "running"})
        assert [m.machine_id for m in found] == ["i-3", "i-7", "i-9"]


async def test_dynamodb_key_in_is_one_batch_get(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    await store.templates.save_many([make_template(f"t-{n:03d}") for n in range(150)])
    log = CallLog(store)
    keys = [f"t-{n:03d}" for n in range(0, 150, 2)] + ["t-missing"]
    found = await store.templates.get_all({"template_id_in": keys[:100]})
    assert [t.template_id for t in found] == sorted(keys[:75])
    assert log.calls == ["BatchGetItem"]
    log.clear()
    existing = await fetch_existing(store, Template, keys)  # import --merge, copy --merge
    assert sorted(existing) == sorted(keys[:75])
    assert log.calls == ["BatchGetItem"]  # one per 100 keys; never a GetItem per template
    log.close()
