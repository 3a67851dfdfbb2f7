"""Contract: a closed store refuses every call the same way on every backend.

After ``close()`` every repository call, every unit-of-work call (also of a unit opened before
the close) and opening a new unit raise ``StoreClosed`` (a ``PersistenceError``) — never a
driver error, never a silent success, never a new connection. Closing twice is allowed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ..domain import StoreClosed
from ..ports import Store
from .builders import make_machine, make_request, make_template

Call = Callable[[Store], Awaitable[Any]]

# Every port method of the store's autocommitted repositories.
CALLS: dict[str, Call] = {
    "get_by_id": lambda s: s.machines.get_by_id("i-1"),
    "get_all": lambda s: s.machines.get_all(),
    "exists": lambda s: s.templates.exists("t-1"),
    "count": lambda s: s.requests.count(),
    "page": lambda s: s.machines.page(),
    "save": lambda s: s.machines.save(make_machine("i-2")),
    "save_many": lambda s: s.templates.save_many([make_template("t-2")]),
    "delete": lambda s: s.machines.delete("i-1"),
    "update_status": lambda s: s.machines.update_status("i-1", "running"),
    "request_update_status": lambda s: s.requests.update_status("r-1", "in_progress"),
    "get_by_status": lambda s: s.requests.get_by_status("pending"),
    "get_active_requests": lambda s: s.requests.get_active_requests(),
    "get_by_request_id": lambda s: s.machines.get_by_request_id("r-1"),
    "get_by_return_request_id": lambda s: s.machines.get_by_return_request_id("r-1"),
    "get_by_instance_ids": lambda s: s.machines.get_by_instance_ids(["i-1"]),
    "find_by_attributes": lambda s: s.templates.find_by_attributes({"ncpus": 2}),
    "get_by_provider_type": lambda s: s.templates.get_by_provider_type("aws"),
}


async def _seed(store: Store) -> None:
    await store.templates.save(make_template("t-1"))
    await store.requests.save(make_request("r-1"))
    await store.machines.save(make_machine("i-1", request_id="r-1"))


class ClosedStoreContract:
    pytestmark = pytest.mark.asyncio

    @pytest.mark.parametrize("call", sorted(CALLS))
    async def test_every_repository_call_after_close_raises_store_closed(
        self, store: Store, call: str
    ) -> None:
        await _seed(store)
        await store.close()
        with pytest.raises(StoreClosed):
            await CALLS[call](store)
        await store.close()  # closing twice is fine

    async def test_a_unit_of_work_after_close_raises_store_closed(self, store: Store) -> None:
        await store.close()
        machine = make_machine("i-9")
        with pytest.raises(StoreClosed):
            async with store.unit_of_work() as uow:
                await uow.machines.save(machine)
                await uow.commit()
        assert machine.version == 0  # nothing was stamped as written

    async def test_a_unit_opened_before_close_refuses_use_after(self, store: Store) -> None:
        await _seed(store)
        uow = await store.unit_of_work().__aenter__()
        try:
            await uow.machines.save(make_machine("i-3"))
            await store.close()
            with pytest.raises(StoreClosed):
                await uow.machines.get_by_id("i-1")
            with pytest.raises(StoreClosed):
                await uow.commit()
        finally:
            await uow.__aexit__(None, None, None)
