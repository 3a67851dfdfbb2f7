"""Contract: timestamps and JSON values round-trip exactly; bad values never reach the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ..domain import Machine, ValidationError
from ..ports import Store
from .builders import KINDS, make_machine, make_request, make_template, repo, snapshot

EXOTIC_JSON: dict[str, Any] = {
    "unicode": 'żółć 中文 العربية 🙂 \u200b tab\tquote"backslash\\',
    "floats": [0.1, 1.0, -2.5, 1e-7, 123456.789, 3.141592653589793, 1e20, 1.5e300, -0.5],
    "ints": [0, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)],
    "bools": [True, False],
    "null": None,
    "empty": {"list": [], "dict": {}, "str": ""},
    "nested": {"a": {"b": {"c": [1, {"d": ["e", None, 2.5]}]}}},
    "deep": {"l1": {"l2": {"l3": {"l4": {"l5": {"l6": {"l7": {"l8": "bottom"}}}}}}}},
    "keys with spaces and 'quotes'": {"$weird.key": 1, "": "empty key"},
}


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"d": value}
    return value


def _same_json(a: Any, b: Any) -> bool:
    """Equal values AND equal JSON types (1.0 stays a float, 1 an int, True a bool)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class ValuesContract:
    pytestmark = pytest.mark.asyncio

    async def test_datetimes_are_aware_utc_with_microseconds(self, store: Store) -> None:
        plus_two = timezone(timedelta(hours=2))
        machine = make_machine(
            "i-1",
            launch_time=datetime(2026, 3, 4, 5, 6, 7, 890123),  # naive: taken as UTC
            provisioning_started_at=datetime(2026, 3, 4, 7, 6, 7, 1, tzinfo=plus_two),
            termination_time=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        )
        assert machine.launch_time == datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
        await store.machines.save(machine)
        loaded = await store.machines.get_by_id("i-1")
        assert loaded is not None
        for name in (
            "launch_time",
            "provisioning_started_at",
            "termination_time",
            "created_at",
            "updated_at",
        ):
            value = getattr(loaded, name)
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0), name
            assert value == getattr(machine, name), name
        assert loaded.provisioning_started_at == datetime(2026, 3, 4, 5, 6, 7, 1, tzinfo=UTC)
        assert loaded.termination_time is not None
        assert loaded.termination_time.microsecond == 999999

    async def test_given_created_at_is_kept(self, store: Store) -> None:
        created = datetime(2020, 1, 1, tzinfo=UTC)
        request = make_request("r-1", created_at=created)
        await store.requests.save(request)
        loaded = await store.requests.get_by_id("r-1")
        assert loaded is not None and loaded.created_at == created
        assert loaded.updated_at is not None and loaded.updated_at > created

    @pytest.mark.parametrize("kind", list(KINDS))
    async def test_json_values_round_trip_exactly(self, store: Store, kind: str) -> None:
        entity = KINDS[kind]("k-1")
        for name in entity.CONTAINERS:
            if isinstance(getattr(entity, name), dict):
                setattr(entity, name, dict(EXOTIC_JSON))
        await repo(store, kind).save(entity)
        loaded = await repo(store, kind).get_by_id("k-1")
        assert loaded is not None
        for name in entity.CONTAINERS:
            assert _same_json(getattr(loaded, name), getattr(entity, name)), name
        listed = await repo(store, kind).get_all()
        assert _same_json(listed[0].to_dict()[entity.CONTAINERS[-1]], EXOTIC_JSON)

    async def test_lists_and_strings_round_trip(self, store: Store) -> None:
        machine = make_machine(
            "i-1",
            security_group_ids=["sg-1", "sg-ü", "", "sg-1"],
            name="",
            status_reason="line one\nline two\ttab 🙂",
        )
        await store.machines.save(machine)
        loaded = await store.machines.get_by_id("i-1")
        assert loaded is not None
        assert loaded.security_group_ids == ["sg-1", "sg-ü", "", "sg-1"]
        assert loaded.name == "" and loaded.status_reason == machine.status_reason
        request = make_request("r-1", machine_ids=[], resource_ids=["fleet-1"], template_id=None)
        await store.requests.save(request)
        assert await store.requests.get_by_id("r-1") == request

    @pytest.mark.parametrize(
        "bad",
        [
            {"a": {1, 2}},
            {"a": b"bytes"},
            {"a": object()},
            {"a": float("nan")},
            {"a": float("inf")},
            {"a": 2**64},
            {1: "int key"},
            {"a": datetime(2026, 1, 1)},
            {"a": "nul\x00char"},
            {"a": "lone \ud800 surrogate"},
            {"lone \udfff key": 1},
            {"deep": _deep(40)},
            {"a": (1, 2)},
        ],
    )
    async def test_non_json_values_are_refused_before_any_write(
        self, store: Store, bad: dict[Any, Any]
    ) -> None:
        with pytest.raises(ValidationError):
            make_machine("i-1", tags=bad)
        await store.machines.save(make_machine("i-ok"))
        before = await snapshot(store)
        # mutated in place after validation: caught at save, nothing written
        mutated = make_machine("i-2")
        mutated.tags.update(bad)
        with pytest.raises(ValidationError):
            await store.machines.save(mutated)
        existing = await store.machines.get_by_id("i-ok")
        assert existing is not None
        existing.metadata.update(bad)
        with pytest.raises(ValidationError):
            await store.machines.save_many([make_machine("i-3"), existing])
        async with store.unit_of_work() as uow:
            with pytest.raises(ValidationError):
                await uow.machines.save(mutated)
            await uow.commit()
        assert await snapshot(store) == before
        assert mutated.version == 0 and existing.version == 1

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("machine_id", ""),
            ("machine_id", "x" * 256),
            ("machine_id", "tab\tid"),
            ("machine_id", "i-\ud83d"),
            ("name", "half \ud83d emoji"),
            ("machine_id", 7),
            ("request_id", ""),
            ("status", "exploded"),
            ("status", None),
            ("launch_time", "2026-01-01T00:00:00Z"),
            ("security_group_ids", "sg-1"),
            ("security_group_ids", ["sg", 1]),
            ("name", 12),
            ("version", -1),
            ("version", True),
        ],
    )
    async def test_bad_field_values_are_refused_on_construction_and_assignment(
        self, field: str, value: Any
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            Machine(**{"machine_id": "i-1", field: value})
        assert caught.value.field == field
        machine = make_machine("i-1")
        before = machine.to_dict()
        with pytest.raises(ValidationError):
            setattr(machine, field, value)
        assert machine.to_dict() == before

    async def test_unknown_fields_are_refused(self) -> None:
        machine = make_machine("i-1")
        with pytest.raises(ValidationError) as caught:
            setattr(machine, "not_a_field", 1)  # noqa: B010 - the dynamic path is the point
        assert caught.value.field == "not_a_field"
        with pytest.raises(ValidationError):
            Machine.from_dict({"machine_id": "i-1", "not_a_field": 1})
        with pytest.raises(ValidationError):
            Machine.from_dict({"name": "no key"})

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("requested_count", -1),
            ("failed_count", 2**31),
            ("requested_count", 1.5),
            ("request_type", "borrow"),
            ("status", "done"),
            ("deadline_at", 0),
        ],
    )
    async def test_bad_request_values(self, field: str, value: Any) -> None:
        with pytest.raises(ValidationError):
            make_request("r-1", **{field: value})

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("max_number", -5),
            ("is_active", "yes"),
            ("provider_type", ""),
            ("attributes", []),
            ("configuration", None),
            ("name", 3),
        ],
    )
    async def test_bad_template_values(self, field: str, value: Any) -> None:
        with pytest.raises(ValidationError):
            make_template("t-1", **{field: value})
