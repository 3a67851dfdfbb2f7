"""Contract: the unit of work commits all or nothing and reads its own pending writes."""

from __future__ import annotations

import pytest

from ..domain import AlreadyExists, ConcurrencyConflict, MachineStatus, RequestStatus
from ..ports import Store
from .builders import make_machine, make_request, make_template, snapshot


class Boom(Exception):
    pass


class UnitOfWorkContract:
    pytestmark = pytest.mark.asyncio

    async def test_commit_writes_everything(self, store: Store) -> None:
        async with store.unit_of_work() as uow:
            await uow.templates.save(make_template("t-1"))
            await uow.requests.save(make_request("r-1"))
            await uow.machines.save_many([make_machine(f"i-{n}") for n in range(3)])
            await uow.commit()
        assert await store.templates.exists("t-1")
        assert await store.requests.exists("r-1")
        assert await store.machines.count() == 3

    async def test_leaving_without_commit_discards_every_write(self, store: Store) -> None:
        await store.machines.save(make_machine("i-old"))
        before = await snapshot(store)
        request = make_request("r-1")
        async with store.unit_of_work() as uow:
            await uow.requests.save(request)
            await uow.machines.save(make_machine("i-new"))
            await uow.machines.delete("i-old")
            await uow.machines.update_status("i-new", "running")
        assert await snapshot(store) == before
        assert request.version == 0  # the caller's object can be saved again
        await store.requests.save(request)
        assert request.version == 1

    async def test_an_exception_discards_every_write_and_propagates(self, store: Store) -> None:
        await store.requests.save(make_request("r-0"))
        before = await snapshot(store)
        with pytest.raises(Boom):
            async with store.unit_of_work() as uow:
                await uow.requests.save(make_request("r-1"))
                await uow.requests.update_status("r-0", "in_progress")
                raise Boom
        assert await snapshot(store) == before

    async def test_uncommitted_writes_are_invisible_outside(self, store: Store) -> None:
        async with store.unit_of_work() as uow:
            await uow.machines.save(make_machine("i-1"))
            assert await store.machines.get_by_id("i-1") is None
            assert await store.machines.count() == 0
            await uow.commit()
        assert await store.machines.get_by_id("i-1") is not None

    async def test_reads_see_pending_writes(self, store: Store) -> None:
        await store.machines.save_many(
            [make_machine("i-a", request_id="req-1"), make_machine("i-z", request_id="req-1")]
        )
        await store.requests.save(make_request("req-1", status=RequestStatus.PENDING))
        async with store.unit_of_work() as uow:
            await uow.machines.save(make_machine("i-m", request_id="req-1"))
            await uow.machines.delete("i-z")
            await uow.machines.update_status("i-a", MachineStatus.RUNNING)
            await uow.requests.update_status("req-1", RequestStatus.ACQUIRING)

            got = await uow.machines.get_by_id("i-m")
            assert got is not None and got.version == 1
            assert await uow.machines.get_by_id("i-z") is None
            assert not await uow.machines.exists("i-z")
            by_request = await uow.machines.get_by_request_id("req-1")
            assert [m.key for m in by_request] == ["i-a", "i-m"]
            assert [m.status for m in by_request] == [MachineStatus.RUNNING, MachineStatus.PENDING]
            running = await uow.machines.get_by_status("running")
            assert [m.key for m in running] == ["i-a"]
            assert [m.key for m in await uow.machines.get_all()] == ["i-a", "i-m"]
            assert await uow.machines.count({"status": "pending"}) == 1
            page = await uow.machines.page(limit=1)
            assert [m.key for m in page.items] == ["i-a"]
            assert page.next_cursor is not None
            page = await uow.machines.page(limit=1, cursor=page.next_cursor)
            assert [m.key for m in page.items] == ["i-m"] and page.next_cursor is None
            found = await uow.machines.get_by_instance_ids(["i-z", "i-m", "i-a"])
            assert [m.key for m in found] == ["i-m", "i-a"]
            active = await uow.requests.get_active_requests()
            assert [(r.key, r.status) for r in active] == [("req-1", RequestStatus.ACQUIRING)]
            await uow.commit()
        assert [m.key for m in await store.machines.get_by_request_id("req-1")] == ["i-a", "i-m"]

    async def test_saving_twice_in_one_unit(self, store: Store) -> None:
        template = make_template("t-1")
        async with store.unit_of_work() as uow:
            await uow.templates.save(template)
            template.description = "second"
            await uow.templates.save(template)
            assert template.version == 2
            await uow.commit()
        loaded = await store.templates.get_by_id("t-1")
        assert loaded is not None and (loaded.version, loaded.description) == (2, "second")

    async def test_a_conflict_leaves_nothing_of_the_unit_written(self, store: Store) -> None:
        await store.machines.save(make_machine("i-1"))
        stale = await store.machines.get_by_id("i-1")
        fresh = await store.machines.get_by_id("i-1")
        assert stale is not None and fresh is not None
        await store.machines.save(fresh)
        before = await snapshot(store)
        new_request = make_request("r-1")
        with pytest.raises(ConcurrencyConflict):
            async with store.unit_of_work() as uow:
                await uow.requests.save(new_request)
                await uow.machines.save(make_machine("i-2"))
                await uow.machines.save(stale)
                await uow.commit()
        assert await snapshot(store) == before
        assert (new_request.version, stale.version) == (0, 1)

    async def test_a_unit_whose_save_conflicted_cannot_be_committed(self, store: Store) -> None:
        # Memory and SQL raise the conflict from the save, DynamoDB only from commit: a caller
        # who catches the first must still not get the rest of the unit written.
        await store.templates.save(make_template("t-1"))
        stale = await store.templates.get_by_id("t-1")
        fresh = await store.templates.get_by_id("t-1")
        assert stale is not None and fresh is not None
        await store.templates.save(fresh)
        before = await snapshot(store)
        async with store.unit_of_work() as uow:
            await uow.templates.save(make_template("t-2"))
            stale.description = "mine"
            conflicts = []
            try:
                await uow.templates.save(stale)
            except ConcurrencyConflict as exc:
                conflicts.append(exc)
            with pytest.raises(ConcurrencyConflict) as at_commit:
                await uow.commit()
            assert at_commit.value.key == "t-1"
            assert all(c.key == "t-1" for c in conflicts)
            with pytest.raises(ConcurrencyConflict):  # again, until rolled back
                await uow.commit()
            await uow.rollback()
            await uow.templates.save(make_template("t-3"))  # a rolled-back unit goes on
            await uow.commit()
        after = await snapshot(store)
        assert [t["template_id"] for t in after["templates"]] == ["t-1", "t-3"]
        assert after["templates"][0] == before["templates"][0]  # theirs, not "mine"
        assert {k: v for k, v in after.items() if k != "templates"} == {
            k: v for k, v in before.items() if k != "templates"
        }

    async def test_a_duplicate_insert_leaves_nothing_of_the_unit_written(
        self, store: Store
    ) -> None:
        await store.templates.save(make_template("t-1"))
        before = await snapshot(store)
        with pytest.raises(AlreadyExists):
            async with store.unit_of_work() as uow:
                await uow.machines.save(make_machine("i-1"))
                await uow.templates.save(make_template("t-1"))
                await uow.commit()
        assert await snapshot(store) == before

    async def test_the_unit_can_go_on_after_commit(self, store: Store) -> None:
        async with store.unit_of_work() as uow:
            await uow.machines.save(make_machine("i-1"))
            await uow.commit()
            await uow.machines.save(make_machine("i-2"))
            await uow.commit()
            await uow.machines.save(make_machine("i-3"))  # never committed
        assert [m.key for m in await store.machines.get_all()] == ["i-1", "i-2"]

    async def test_explicit_rollback(self, store: Store) -> None:
        async with store.unit_of_work() as uow:
            await uow.machines.save(make_machine("i-1"))
            await uow.rollback()
            assert await uow.machines.get_by_id("i-1") is None
            await uow.machines.save(make_machine("i-2"))
            await uow.commit()
        assert [m.key for m in await store.machines.get_all()] == ["i-2"]
