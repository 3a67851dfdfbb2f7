"""Differential stateful test: random operation sequences on each backend and on the memory
reference at once; results, raised error types and the stored state must stay identical.

The hypothesis state machine runs in a worker thread and sends each operation to the test's
event loop (where both stores live), so the stores keep their own loop and connections.
``OHF_DIFF_EXAMPLES`` (default 25) and ``OHF_DIFF_STEPS`` (default 25) size the run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule

from ohf_persistence import (
    Machine,
    MachineStatus,
    PersistenceError,
    Request,
    RequestStatus,
    Store,
    Template,
)
from ohf_persistence.adapters.memory import MemoryStore
from ohf_persistence.domain.entities import Entity

EXAMPLES = int(os.environ.get("OHF_DIFF_EXAMPLES", "25"))
STEPS = int(os.environ.get("OHF_DIFF_STEPS", "25"))
KINDS = ("templates", "requests", "machines")
KEYS = {
    "templates": ["t-0", "t-1", "T-2"],
    "requests": ["r-0", "r-1", "r-2", "ret-é"],
    "machines": ["i-0", "i-1", "i-2", "i-3", "I-4"],
}
T0 = datetime(2026, 5, 1, tzinfo=UTC)

texts = st.one_of(st.none(), st.sampled_from(["", "a", "b", "host-1", "zürich", "中"]))
safe_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=5
)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f + 0.0),  # no -0.0
        safe_text,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(safe_text, inner, max_size=3)
    ),
    max_leaves=6,
)
json_dicts = st.dictionaries(st.sampled_from(["a", "b", "type"]), json_values, max_size=3)
times = st.one_of(st.none(), st.integers(0, 1000).map(lambda h: T0 + timedelta(hours=h)))


@st.composite
def entities(draw: st.DrawFn, kind: str) -> Entity:
    key = draw(st.sampled_from(KEYS[kind]))
    if kind == "templates":
        return Template(
            key,
            name=draw(texts),
            provider_type=draw(st.sampled_from(["aws", "k8s"])),
            max_number=draw(st.integers(0, 50)),
            attributes=draw(json_dicts),
            is_active=draw(st.booleans()),
        )
    if kind == "requests":
        return Request(
            key,
            status=draw(st.sampled_from(list(RequestStatus))),
            requested_count=draw(st.integers(0, 9)),
            template_id=draw(st.sampled_from([None, "t-0", "t-1"])),
            metadata=draw(json_dicts),
            started_at=draw(times),
        )
    return Machine(
        key,
        name=draw(texts),
        status=draw(st.sampled_from(list(MachineStatus))),
        request_id=draw(st.sampled_from([None, *KEYS["requests"]])),
        return_request_id=draw(st.sampled_from([None, "r-1", "r-2"])),
        launch_time=draw(times),
        tags=draw(json_dicts),
    )


FILTERS = {
    "templates": st.sampled_from(
        [
            {},
            {"provider_type": "aws"},
            {"max_number_gte": 10},
            {"is_active": False},
            {"name": None},
            {"name_gt": "a"},
            {"bogus": 1},
            {"max_number_gt": "x"},
        ]
    ),
    "requests": st.sampled_from(
        [
            {},
            {"status": "pending"},
            {"status_in": ["complete", "failed"]},
            {"requested_count_lt": 5},
            {"request_id_gt": "r-0", "request_id_lte": "r-2"},
            {"started_at_gte": T0},
            {"template_id": None},
            {"status": "nope"},
            {"metadata": {}},
        ]
    ),
    "machines": st.sampled_from(
        [
            {},
            {"status": "running"},
            {"request_id": "r-1"},
            {"launch_time_lt": T0 + timedelta(hours=500)},
            {"name_in": ["a", "中"]},
            {"return_request_id": None},
            {"machine_id_gte": "i-1", "machine_id_lt": "i-3"},
            {"machine_id": "i-2"},
            {"status_gt": "a"},
            {"tags_in": []},
        ]
    ),
}
STATUS = {
    "requests": st.sampled_from([*RequestStatus, "bogus"]),
    "machines": st.sampled_from([*MachineStatus, "shutting_down"]),
}


def normalise(value: Any) -> Any:
    if isinstance(value, Entity):
        values = value.to_dict()
        values.pop("updated_at")  # each store stamps its own clock
        return values
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if hasattr(value, "items") and hasattr(value, "next_cursor"):
        return (normalise(value.items), value.next_cursor)
    return value


class Differential(RuleBasedStateMachine):
    loaded = Bundle("loaded")
    loop: asyncio.AbstractEventLoop
    sut: Store
    defers_conflicts: bool

    def __init__(self) -> None:
        super().__init__()
        self.ref: Store = MemoryStore()
        self.run(_clear(self.sut))

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(_wrap(coro), self.loop).result(timeout=120)

    def both(self, call: Callable[[Store], Awaitable[Any]]) -> Any:
        expected = self.run(_outcome(call(self.ref)))
        actual = self.run(_outcome(call(self.sut)))
        assert actual == expected
        return expected

    @rule(data=st.data(), kind=st.sampled_from(KINDS))
    def save_new(self, data: st.DataObject, kind: str) -> None:
        entity = data.draw(entities(kind))
        self.both(lambda s: getattr(s, kind).save(entity.copy()))

    @rule(data=st.data(), kind=st.sampled_from(KINDS), n=st.integers(1, 4))
    def save_many(self, data: st.DataObject, kind: str, n: int) -> None:
        batch = [data.draw(entities(kind)) for _ in range(n)]
        self.both(lambda s: getattr(s, kind).save_many([e.copy() for e in batch]))

    @rule(target=loaded, kind=st.sampled_from(KINDS), data=st.data())
    def load(self, kind: str, data: st.DataObject) -> Any:
        key = data.draw(st.sampled_from(KEYS[kind]))
        ref = self.run(getattr(self.ref, kind).get_by_id(key))
        sut = self.run(getattr(self.sut, kind).get_by_id(key))
        assert normalise(sut) == normalise(ref)
        return multiple() if ref is None else (kind, ref, sut)

    @rule(pair=loaded, name=texts)
    def save_loaded(self, pair: tuple[str, Entity, Entity], name: str | None) -> None:
        kind, ref, sut = pair
        field = "template_id" if kind == "requests" else "name"
        value = name if kind != "requests" else (name or None)
        for entity in (ref, sut):
            setattr(entity, field, value)
        expected = self.run(_outcome(getattr(self.ref, kind).save(ref)))
        actual = self.run(_outcome(getattr(self.sut, kind).save(sut)))
        assert actual == expected
        assert sut.version == ref.version

    @rule(kind=st.sampled_from(["requests", "machines"]), data=st.data(), note=texts)
    def update_status(self, kind: str, data: st.DataObject, note: str | None) -> None:
        key = data.draw(st.sampled_from(KEYS[kind]))
        status = data.draw(STATUS[kind])
        self.both(lambda s: getattr(s, kind).update_status(key, status, note))

    @rule(kind=st.sampled_from(KINDS), data=st.data())
    def delete(self, kind: str, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from([*KEYS[kind], ""]))
        self.both(lambda s: getattr(s, kind).delete(key))

    @rule(
        kind=st.sampled_from(KINDS),
        data=st.data(),
        limit=st.sampled_from([None, 0, 2, -1]),
        offset=st.sampled_from([None, 1]),
    )
    def query(self, kind: str, data: st.DataObject, limit: int | None, offset: int | None) -> None:
        filters = data.draw(FILTERS[kind])
        self.both(lambda s: getattr(s, kind).get_all(filters, limit, offset))
        self.both(lambda s: getattr(s, kind).count(filters))
        self.both(lambda s: _all_pages(getattr(s, kind), filters))

    @rule(data=st.data())
    def keyed_queries(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(KEYS["requests"]))
        ids = data.draw(st.lists(st.sampled_from([*KEYS["machines"], "i-x"]), max_size=6))
        self.both(lambda s: s.machines.get_by_request_id(key))
        self.both(lambda s: s.machines.get_by_return_request_id(key))
        machine_status, request_status = (
            data.draw(STATUS["machines"]),
            data.draw(STATUS["requests"]),
        )
        attributes = data.draw(json_dicts)
        self.both(lambda s: s.machines.get_by_status(machine_status))
        self.both(lambda s: s.machines.get_by_instance_ids(ids))
        self.both(lambda s: s.requests.get_by_status(request_status))
        self.both(lambda s: s.requests.get_active_requests())
        self.both(lambda s: s.templates.find_by_attributes(attributes))
        self.both(lambda s: s.templates.get_by_provider_type("aws"))

    @rule(data=st.data(), ending=st.sampled_from(["commit", "leave", "raise"]))
    def unit_of_work(self, data: st.DataObject, ending: str) -> None:
        steps = []
        for _ in range(data.draw(st.integers(1, 4))):
            kind = data.draw(st.sampled_from(KINDS))
            op = data.draw(st.sampled_from(["save", "delete", "status", "read"]))
            if op == "status" and kind == "templates":
                op = "read"
            arg = (
                data.draw(entities(kind))
                if op == "save"
                else data.draw(st.sampled_from(KEYS[kind]))
            )
            status = data.draw(STATUS[kind]) if op == "status" else None
            steps.append((kind, op, arg, status))
        expected = self.run(_outcome(_in_unit(self.ref, steps, ending)))
        actual = self.run(_outcome(_in_unit(self.sut, steps, ending)))
        if self.defers_conflicts:
            # DynamoDB finds conflicts at commit, memory and SQL at the save: when the unit is
            # committed both must fail or both succeed; a unit that is left or raises writes
            # nothing on either (the invariant compares what is left behind).
            if ending == "commit":
                assert actual[0] == expected[0]
        else:
            assert actual == expected

    @invariant()
    def same_state(self) -> None:
        for kind in KINDS:
            expected = self.run(_outcome(getattr(self.ref, kind).get_all()))
            actual = self.run(_outcome(getattr(self.sut, kind).get_all()))
            assert actual == expected, kind


class _Raised(Exception):
    pass


async def _in_unit(store: Store, steps: list[tuple[str, str, Any, Any]], ending: str) -> None:
    """The steps in one unit of work; the first error leaves the block (and rolls back)."""
    async with store.unit_of_work() as uow:
        for kind, op, arg, status in steps:
            repo = getattr(uow, kind)
            if op == "save":
                await repo.save(arg.copy())
            elif op == "delete":
                await repo.delete(arg)
            elif op == "status":
                await repo.update_status(arg, status)
            else:
                await repo.get_by_id(arg)
        if ending == "raise":
            raise _Raised
        if ending == "commit":
            await uow.commit()


async def _all_pages(repo: Any, filters: dict[str, Any]) -> list[Any]:
    pages, cursor = [], None
    while True:
        page = await repo.page(filters, 2, cursor)
        pages.append(normalise(page))
        cursor = page.next_cursor
        if cursor is None:
            return pages


async def _outcome(awaitable: Awaitable[Any]) -> tuple[str, Any]:
    try:
        return ("ok", normalise(await awaitable))
    except (PersistenceError, _Raised) as exc:
        return ("error", type(exc).__name__)


async def _wrap(coro: Awaitable[Any]) -> Any:
    return await coro


async def _clear(store: Store) -> None:
    for kind in KINDS:
        for entity in await getattr(store, kind).get_all():
            await getattr(store, kind).delete(entity.key)


async def test_backend_behaves_like_the_memory_reference(store: Store, backend_name: str) -> None:
    # memory against memory still checks determinism and that stores share no objects
    Differential.loop = asyncio.get_running_loop()
    Differential.sut = store
    Differential.defers_conflicts = backend_name == "dynamodb"
    test_case = Differential.TestCase
    test_case.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    await asyncio.to_thread(test_case().runTest)
