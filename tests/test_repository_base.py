"""Every backend is the same repository code (repository.py) over its own storage primitives
(storage.py): the port methods are not re-implemented per adapter."""

from __future__ import annotations

import inspect

from ohf_persistence import Store
from ohf_persistence.repository import (
    BackendStore,
    BackendUnitOfWork,
    Machines,
    Requests,
    Templates,
)
from ohf_persistence.storage import Storage, Table


async def test_every_backend_is_the_base_over_its_storage(store: Store) -> None:
    assert isinstance(store, BackendStore) and isinstance(store.storage, Storage)
    assert store.write_limit == store.storage.write_limit
    async with store.unit_of_work() as uow:
        assert isinstance(uow, BackendUnitOfWork)
        pairs = [
            (Templates, store.templates, uow.templates),
            (Requests, store.requests, uow.requests),
            (Machines, store.machines, uow.machines),
        ]
        for cls, autocommitted, in_unit in pairs:
            # One class inside and outside a unit of work: no per-adapter subclasses.
            assert type(autocommitted) is cls and type(in_unit) is cls
    for entity, table in ((c, store.storage.table(c)) for c in (t.entity for t, _, _ in pairs)):
        assert isinstance(table, Table) and table.entity is entity


def test_adapters_supply_only_storage_primitives() -> None:
    from ohf_persistence.adapters.dynamodb import table as dynamo_table
    from ohf_persistence.adapters.memory import table as memory_table
    from ohf_persistence.adapters.sql import repository as sql_table

    # Port methods whose names no storage primitive shares: written once, in repository.py.
    port_only = {
        "get_by_id", "get_all", "save", "save_many", "page", "get_by_status",
        "get_active_requests", "get_by_request_id", "get_by_return_request_id",
        "get_by_instance_ids", "find_by_attributes", "get_by_provider_type",
    }  # fmt: skip
    for module in (memory_table, dynamo_table, sql_table):
        tables = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Table) and obj is not Table
        ]
        assert tables, module.__name__
        for table in tables:
            own = {n for n, v in vars(table).items() if inspect.isfunction(v)}
            assert not own & port_only, table.__name__


async def test_an_autocommitted_write_never_shares_containers_with_the_caller(
    store: Store,
) -> None:
    from ohf_persistence.testing import make_machine

    machine = make_machine("i-1", tags={"team": "a"})
    await store.machines.save(machine)
    await store.machines.save_many([machine])
    machine.tags["team"] = "changed in place"  # after the writes returned
    stored = await store.machines.get_by_id("i-1")
    assert stored is not None and stored.tags == {"team": "a"} and stored.version == 2
