"""Contract: every repository method, ordering, copies, and the entity-specific queries."""

from __future__ import annotations

import pytest

from ..domain import (
    AlreadyExists,
    InvalidFilter,
    Machine,
    MachineStatus,
    RequestStatus,
    ValidationError,
)
from ..ports import Store
from .builders import KINDS, make_machine, make_request, make_template, repo, snapshot

# Code point order differs from most locale collations: upper case before lower case, and
# accented / CJK characters after ASCII. Every backend must return exactly this order.
ODD_KEYS = ["b", "B", "a-1", "a_1", "a", "Z", "é", "中", "z9", "A", "a1", "~x"]


class RepositoryContract:
    pytestmark = pytest.mark.asyncio

    # A parametrized fixture, not a class-level parametrize mark: the mark would be inherited
    # by every test of a class that combines the contracts (StoreContract).
    @pytest.fixture(params=list(KINDS))
    def kind(self, request: pytest.FixtureRequest) -> str:
        name: str = request.param
        return name

    async def test_get_by_id_of_missing_key_is_none(self, store: Store, kind: str) -> None:
        assert await repo(store, kind).get_by_id("nope") is None
        assert await repo(store, kind).exists("nope") is False

    async def test_save_then_get_returns_an_equal_copy(self, store: Store, kind: str) -> None:
        entity = KINDS[kind]("k-1")
        await repo(store, kind).save(entity)
        assert entity.version == 1
        loaded = await repo(store, kind).get_by_id("k-1")
        assert loaded == entity
        assert loaded is not entity
        assert await repo(store, kind).exists("k-1") is True

    async def test_mutating_a_returned_entity_does_not_change_the_store(
        self, store: Store, kind: str
    ) -> None:
        entity = KINDS[kind]("k-1")
        await repo(store, kind).save(entity)
        before = await snapshot(store)
        loaded = await repo(store, kind).get_by_id("k-1")
        assert loaded is not None
        for name in loaded.CONTAINERS:
            container = getattr(loaded, name)
            if isinstance(container, dict):
                container["mutated"] = True
            else:
                container.append("mutated")
        entity.version = 99  # the object passed to save is not the stored copy either
        assert await snapshot(store) == before

    async def test_delete_returns_whether_it_existed(self, store: Store, kind: str) -> None:
        await repo(store, kind).save(KINDS[kind]("k-1"))
        assert await repo(store, kind).delete("k-1") is True
        assert await repo(store, kind).delete("k-1") is False
        assert await repo(store, kind).get_by_id("k-1") is None
        assert await repo(store, kind).count() == 0

    async def test_a_deleted_key_can_be_inserted_again(self, store: Store, kind: str) -> None:
        await repo(store, kind).save(KINDS[kind]("k-1"))
        await repo(store, kind).delete("k-1")
        again = KINDS[kind]("k-1")
        await repo(store, kind).save(again)
        assert again.version == 1

    async def test_get_all_is_ordered_by_key_code_points(self, store: Store, kind: str) -> None:
        await repo(store, kind).save_many([KINDS[kind](key) for key in ODD_KEYS])
        found = [e.key for e in await repo(store, kind).get_all()]
        assert found == sorted(ODD_KEYS)

    async def test_get_all_limit_and_offset(self, store: Store, kind: str) -> None:
        keys = [f"k-{i:02d}" for i in range(10)]
        await repo(store, kind).save_many([KINDS[kind](k) for k in reversed(keys)])
        r = repo(store, kind)
        assert [e.key for e in await r.get_all(limit=3)] == keys[:3]
        assert [e.key for e in await r.get_all(limit=3, offset=4)] == keys[4:7]
        assert [e.key for e in await r.get_all(offset=8)] == keys[8:]
        assert await r.get_all(limit=0) == []
        assert await r.get_all(offset=50) == []

    @pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
    async def test_bad_limit_or_offset_is_refused(
        self, store: Store, kind: str, bad: object
    ) -> None:
        with pytest.raises(ValidationError):
            await repo(store, kind).get_all(limit=bad)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await repo(store, kind).get_all(offset=bad)  # type: ignore[arg-type]

    async def test_save_many_and_count(self, store: Store, kind: str) -> None:
        entities = [KINDS[kind](f"k-{i:03d}") for i in range(250)]
        await repo(store, kind).save_many(entities)
        assert all(e.version == 1 for e in entities)
        assert await repo(store, kind).count() == 250
        await repo(store, kind).save_many([])
        assert await repo(store, kind).count() == 250

    async def test_save_many_is_all_or_nothing(self, store: Store, kind: str) -> None:
        await repo(store, kind).save(KINDS[kind]("k-050"))
        before = await snapshot(store)
        batch = [KINDS[kind](f"k-{i:03d}") for i in range(40, 60)]
        with pytest.raises(AlreadyExists):
            await repo(store, kind).save_many(batch)
        assert await snapshot(store) == before
        assert all(e.version == 0 for e in batch)

    @pytest.mark.parametrize("bad_id", ["", "x" * 256, 42, None, "a\nb", "nul\x00"])
    async def test_bad_ids_are_refused(self, store: Store, kind: str, bad_id: object) -> None:
        r = repo(store, kind)
        for call in (r.get_by_id, r.exists, r.delete):
            with pytest.raises(ValidationError):
                await call(bad_id)  # type: ignore[arg-type]

    async def test_saving_the_wrong_entity_type_is_refused(self, store: Store, kind: str) -> None:
        other = next(k for k in KINDS if k != kind)
        with pytest.raises(ValidationError):
            await repo(store, kind).save(KINDS[other]("k-1"))
        assert await snapshot(store) == {k: [] for k in KINDS}

    async def test_longest_allowed_id_and_unicode_ids(self, store: Store, kind: str) -> None:
        keys = ["x" * 255, "ключ-🙂", "中文-id"]
        await repo(store, kind).save_many([KINDS[kind](k) for k in keys])
        for key in keys:
            loaded = await repo(store, kind).get_by_id(key)
            assert loaded is not None and loaded.key == key


class TemplateQueriesContract:
    pytestmark = pytest.mark.asyncio

    async def test_find_by_attributes_requires_every_key_equal(self, store: Store) -> None:
        await store.templates.save_many(
            [
                make_template("t1", attributes={"type": ["String", "X86_64"], "ncpus": 2}),
                make_template("t2", attributes={"type": ["String", "X86_64"], "ncpus": 4}),
                make_template("t3", attributes={"type": ["String", "ARM64"], "ncpus": 2}),
                make_template("t4", attributes={"type": ["X86_64", "String"], "gpu": None}),
                make_template("t5", attributes={"ncpus": 2.0, "flag": True, "nested": {"a": [1]}}),
                make_template("t6", attributes={"ncpus": "2", "flag": 1}),
            ]
        )

        async def keys(attributes: dict[str, object]) -> list[str]:
            return [t.key for t in await store.templates.find_by_attributes(attributes)]

        assert await keys({"type": ["String", "X86_64"]}) == ["t1", "t2"]  # lists: exact order
        assert await keys({"type": ["String", "X86_64"], "ncpus": 2}) == ["t1"]
        assert await keys({"ncpus": 2}) == ["t1", "t3", "t5"]  # 2 == 2.0, "2" is a string
        assert await keys({"flag": True}) == ["t5"]  # true is not 1
        assert await keys({"gpu": None}) == ["t4"]  # present and null, not missing
        assert await keys({"nested": {"a": [1]}}) == ["t5"]
        assert await keys({"type": ["String"]}) == []  # equality, not containment
        assert await keys({"missing": 1}) == []
        assert await keys({}) == ["t1", "t2", "t3", "t4", "t5", "t6"]

    @pytest.mark.parametrize(
        "bad", [["type"], "type", {1: "a"}, {"a": {1, 2}}, {"a": float("nan")}]
    )
    async def test_find_by_attributes_refuses_non_json(self, store: Store, bad: object) -> None:
        with pytest.raises(InvalidFilter):
            await store.templates.find_by_attributes(bad)  # type: ignore[arg-type]

    async def test_get_by_provider_type(self, store: Store) -> None:
        await store.templates.save_many(
            [
                make_template("t2", provider_type="aws"),
                make_template("t1", provider_type="aws"),
                make_template("t3", provider_type="k8s"),
            ]
        )
        assert [t.key for t in await store.templates.get_by_provider_type("aws")] == ["t1", "t2"]
        assert [t.key for t in await store.templates.get_by_provider_type("k8s")] == ["t3"]
        assert await store.templates.get_by_provider_type("gcp") == []


class RequestQueriesContract:
    pytestmark = pytest.mark.asyncio

    async def test_requests_get_by_status(self, store: Store) -> None:
        await store.requests.save_many(
            [
                make_request("r3", status=RequestStatus.COMPLETE),
                make_request("r1", status=RequestStatus.PENDING),
                make_request("r2", status=RequestStatus.COMPLETE),
            ]
        )
        found = await store.requests.get_by_status(RequestStatus.COMPLETE)
        assert [r.key for r in found] == ["r2", "r3"]
        assert [r.key for r in await store.requests.get_by_status("pending")] == ["r1"]
        assert await store.requests.get_by_status("timeout") == []
        with pytest.raises(ValidationError):
            await store.requests.get_by_status("bogus")

    async def test_active_requests_include_acquiring_and_partial_pending(
        self, store: Store
    ) -> None:
        await store.requests.save_many(
            [make_request(f"r-{s.value}", status=s) for s in RequestStatus]
        )
        active = [r.status for r in await store.requests.get_active_requests()]
        assert sorted(active) == sorted(
            [
                RequestStatus.ACQUIRING,
                RequestStatus.IN_PROGRESS,
                RequestStatus.PARTIAL_PENDING,
                RequestStatus.PENDING,
            ]
        )
        keys = [r.key for r in await store.requests.get_active_requests()]
        assert keys == sorted(keys)

    async def test_new_request_ids(self) -> None:
        from ..domain import Request

        acquire = Request.new("acquire", template_id="tpl-1")
        ret = Request.new("return")
        assert acquire.request_id.startswith("req-") and len(acquire.request_id) == 40
        assert ret.request_id.startswith("ret-")


class MachineQueriesContract:
    pytestmark = pytest.mark.asyncio

    async def test_get_by_request_and_return_request_id(self, store: Store) -> None:
        await store.machines.save_many(
            [
                make_machine("i-3", request_id="req-a", return_request_id="ret-x"),
                make_machine("i-1", request_id="req-a"),
                make_machine("i-2", request_id="req-b", return_request_id="ret-x"),
                make_machine("i-4", request_id=None),
            ]
        )
        assert [m.key for m in await store.machines.get_by_request_id("req-a")] == ["i-1", "i-3"]
        assert [m.key for m in await store.machines.get_by_request_id("req-b")] == ["i-2"]
        assert await store.machines.get_by_request_id("req-zzz") == []
        found = await store.machines.get_by_return_request_id("ret-x")
        assert [m.key for m in found] == ["i-2", "i-3"]
        assert await store.machines.get_by_return_request_id("ret-none") == []

    async def test_machines_get_by_status(self, store: Store) -> None:
        await store.machines.save_many(
            [
                make_machine("i-2", status=MachineStatus.SHUTTING_DOWN),
                make_machine("i-1", status=MachineStatus.SHUTTING_DOWN),
                make_machine("i-3", status=MachineStatus.RUNNING),
            ]
        )
        found = await store.machines.get_by_status("shutting-down")
        assert [m.key for m in found] == ["i-1", "i-2"]
        assert [m.key for m in await store.machines.get_by_status(MachineStatus.RUNNING)] == ["i-3"]
        with pytest.raises(ValidationError):
            await store.machines.get_by_status("shutting_down")

    async def test_get_by_instance_ids_keeps_order_skips_unknown_and_dedupes(
        self, store: Store
    ) -> None:
        await store.machines.save_many([make_machine(f"i-{n}") for n in range(5)])
        ids = ["i-3", "i-x", "i-0", "i-3", "i-4", "unknown", "i-0"]
        found = await store.machines.get_by_instance_ids(ids)
        assert [m.key for m in found] == ["i-3", "i-0", "i-4"]
        assert await store.machines.get_by_instance_ids([]) == []

    async def test_get_by_instance_ids_with_thousands_of_ids(self, store: Store) -> None:
        machines = [make_machine(f"i-{n:05d}") for n in range(2500)]
        await store.machines.save_many(machines)
        wanted = [f"i-{n:05d}" for n in range(2499, -1, -2)] + ["i-nope"] * 10
        found = await store.machines.get_by_instance_ids(wanted)
        assert [m.key for m in found] == wanted[:1250]
        assert all(isinstance(m, Machine) for m in found)

    @pytest.mark.parametrize("bad", ["i-1", [1, 2], ["ok", ""], None])
    async def test_get_by_instance_ids_refuses_bad_arguments(
        self, store: Store, bad: object
    ) -> None:
        with pytest.raises(ValidationError):
            await store.machines.get_by_instance_ids(bad)  # type: ignore[arg-type]
