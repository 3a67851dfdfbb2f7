"""Contract: optimistic versions, update_status and the status transition rules."""

from __future__ import annotations

import asyncio

import pytest

from ..domain import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidStatusTransition,
    MachineStatus,
    RequestStatus,
    ValidationError,
    machine_transition_allowed,
    request_transition_allowed,
)
from ..ports import Store
from .builders import KINDS, make_machine, make_request, repo, snapshot


class VersionContract:
    pytestmark = pytest.mark.asyncio

    # a parametrized fixture, not a class mark, so StoreContract can combine the contracts
    @pytest.fixture(params=list(KINDS))
    def kind(self, request: pytest.FixtureRequest) -> str:
        name: str = request.param
        return name

    async def test_insert_of_a_taken_key_raises_already_exists(
        self, store: Store, kind: str
    ) -> None:
        await repo(store, kind).save(KINDS[kind]("k-1"))
        before = await snapshot(store)
        duplicate = KINDS[kind]("k-1", version=0)
        with pytest.raises(AlreadyExists) as caught:
            await repo(store, kind).save(duplicate)
        assert isinstance(caught.value, ConcurrencyConflict)
        assert caught.value.key == "k-1"
        assert duplicate.version == 0
        assert await snapshot(store) == before

    async def test_stale_update_raises_conflict_and_writes_nothing(
        self, store: Store, kind: str
    ) -> None:
        entity = KINDS[kind]("k-1")
        await repo(store, kind).save(entity)
        first = await repo(store, kind).get_by_id("k-1")
        second = await repo(store, kind).get_by_id("k-1")
        assert first is not None and second is not None
        await repo(store, kind).save(first)
        assert first.version == 2
        before = await snapshot(store)
        stale_updated_at = second.updated_at
        with pytest.raises(ConcurrencyConflict) as caught:
            await repo(store, kind).save(second)
        err = caught.value
        assert not isinstance(err, AlreadyExists)
        assert (err.entity_type, err.key) == (type(entity).ENTITY_TYPE, "k-1")
        assert (err.expected_version, err.actual_version) == (1, 2)
        assert second.version == 1 and second.updated_at == stale_updated_at
        assert await snapshot(store) == before

    async def test_update_of_a_missing_entity_is_a_conflict(self, store: Store, kind: str) -> None:
        with pytest.raises(ConcurrencyConflict) as caught:
            await repo(store, kind).save(KINDS[kind]("k-1", version=3))
        assert caught.value.actual_version is None
        assert await repo(store, kind).count() == 0

    async def test_save_bumps_version_and_updated_at_and_keeps_created_at(
        self, store: Store, kind: str
    ) -> None:
        entity = KINDS[kind]("k-1")
        await repo(store, kind).save(entity)
        created, updated = entity.created_at, entity.updated_at
        await asyncio.sleep(0.002)
        await repo(store, kind).save(entity)
        assert entity.version == 2
        loaded = await repo(store, kind).get_by_id("k-1")
        assert loaded is not None and loaded.version == 2
        assert loaded.created_at == created
        assert loaded.updated_at is not None and updated is not None
        assert loaded.updated_at > updated

    async def test_concurrent_read_modify_write_loses_no_update(
        self, store: Store, kind: str
    ) -> None:
        await repo(store, kind).save(KINDS[kind]("k-1"))
        done: list[int] = []

        async def bump(worker: int) -> None:
            while True:
                entity = await repo(store, kind).get_by_id("k-1")
                assert entity is not None
                try:
                    await repo(store, kind).save(entity)
                except ConcurrencyConflict:
                    continue
                done.append(worker)
                return

        await asyncio.wait_for(asyncio.gather(*(bump(n) for n in range(8))), timeout=60)
        stored = await repo(store, kind).get_by_id("k-1")
        assert stored is not None and stored.version == 1 + len(done) == 9


class StatusContract:
    pytestmark = pytest.mark.asyncio

    async def test_request_update_status_bumps_version_and_sets_message(self, store: Store) -> None:
        request = make_request("r-1", status_message="queued")
        await store.requests.save(request)
        assert await store.requests.update_status("r-1", RequestStatus.IN_PROGRESS, "started")
        loaded = await store.requests.get_by_id("r-1")
        assert loaded is not None
        assert (loaded.status, loaded.status_message, loaded.version) == (
            RequestStatus.IN_PROGRESS,
            "started",
            2,
        )
        assert loaded.updated_at is not None and request.updated_at is not None
        assert loaded.updated_at >= request.updated_at
        assert await store.requests.update_status("r-1", "complete")  # message kept
        loaded = await store.requests.get_by_id("r-1")
        assert loaded is not None and loaded.status_message == "started"
        with pytest.raises(ConcurrencyConflict):  # the old object is now stale
            await store.requests.save(request)

    async def test_update_status_of_missing_ids_returns_false(self, store: Store) -> None:
        assert await store.requests.update_status("r-missing", "complete") is False
        assert await store.machines.update_status("i-missing", "running") is False
        assert await store.requests.count() == 0 and await store.machines.count() == 0

    async def test_update_status_refuses_bad_values(self, store: Store) -> None:
        await store.requests.save(make_request("r-1"))
        await store.machines.save(make_machine("i-1"))
        before = await snapshot(store)
        for call in (
            store.requests.update_status("r-1", "bogus"),
            store.requests.update_status("r-1", "complete", 42),  # type: ignore[arg-type]
            store.requests.update_status("", "complete"),
            store.machines.update_status("i-1", "shutting_down"),
            store.machines.update_status("i-1", "running", ["x"]),  # type: ignore[arg-type]
        ):
            with pytest.raises(ValidationError):
                await call
        assert await snapshot(store) == before

    async def test_every_request_transition(self, store: Store) -> None:
        pairs = [(a, b) for a in RequestStatus for b in RequestStatus]
        await store.requests.save_many(
            [make_request(f"r-{n:03d}", status=a) for n, (a, _b) in enumerate(pairs)]
        )
        for n, (current, target) in enumerate(pairs):
            key = f"r-{n:03d}"
            if request_transition_allowed(current, target):
                assert await store.requests.update_status(key, target, "ok") is True
                expected_status, expected_version = target, 2
            else:
                with pytest.raises(InvalidStatusTransition) as caught:
                    await store.requests.update_status(key, target, "refused")
                assert (caught.value.current, caught.value.requested) == (current, target)
                expected_status, expected_version = current, 1
            loaded = await store.requests.get_by_id(key)
            assert loaded is not None
            assert (loaded.status, loaded.version) == (expected_status, expected_version), key
            assert loaded.status_message == ("ok" if expected_version == 2 else None)

    async def test_every_machine_transition(self, store: Store) -> None:
        pairs = [(a, b) for a in MachineStatus for b in MachineStatus]
        await store.machines.save_many(
            [make_machine(f"i-{n:03d}", status=a) for n, (a, _b) in enumerate(pairs)]
        )
        for n, (current, target) in enumerate(pairs):
            key = f"i-{n:03d}"
            if machine_transition_allowed(current, target):
                assert await store.machines.update_status(key, target, "why") is True
                expected: tuple[MachineStatus, int, str | None] = (target, 2, "why")
            else:
                with pytest.raises(InvalidStatusTransition):
                    await store.machines.update_status(key, target, "refused")
                expected = (current, 1, None)
            loaded = await store.machines.get_by_id(key)
            assert loaded is not None
            assert (loaded.status, loaded.version, loaded.status_reason) == expected, key

    async def test_concurrent_status_changes_apply_exactly_one_final_state(
        self, store: Store
    ) -> None:
        await store.requests.save(make_request("r-1", status=RequestStatus.ACQUIRING))
        targets = [RequestStatus.COMPLETE, RequestStatus.FAILED, RequestStatus.CANCELLED] * 3

        async def attempt(target: RequestStatus) -> bool:
            try:
                return await store.requests.update_status("r-1", target)
            except InvalidStatusTransition:
                return False

        results = await asyncio.gather(*(attempt(t) for t in targets))
        loaded = await store.requests.get_by_id("r-1")
        assert loaded is not None
        winners = [t for t, ok in zip(targets, results, strict=True) if ok]
        # the first final state wins; later ones may repeat it (same -> same) but not change it
        assert winners and all(w == loaded.status for w in winners)
        assert loaded.version == 1 + len(winners)
