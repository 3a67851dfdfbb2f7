"""Contract: timestamps and JSON values round-trip exactly; bad values never reach the store."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ..domain import InvalidFilter, Machine, ValidationError
from ..domain.validation import DATETIME_MAX, DATETIME_MIN, MAX_COUNT
from ..ports import Store
from ..query import MAX_ROWS
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


PLUS_FIVE = timezone(timedelta(hours=5))
MINUS_FIVE = timezone(timedelta(hours=-5))
# Datetimes outside the accepted range (DATETIME_MIN..DATETIME_MAX, UTC): each one is refused.
OUT_OF_RANGE_DATETIMES: list[datetime] = [
    datetime.min,  # naive = UTC; PostgreSQL's driver would store -infinity
    datetime.max,  # PostgreSQL's driver would store infinity
    datetime.min.replace(tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC),
    datetime.min.replace(tzinfo=PLUS_FIVE),  # converting to UTC overflows
    datetime.max.replace(tzinfo=MINUS_FIVE),  # converting to UTC overflows
    DATETIME_MIN - timedelta(microseconds=1),
    DATETIME_MAX + timedelta(microseconds=1),
    datetime(1, 1, 2, 4, 59, 59, 999999, tzinfo=PLUS_FIVE),  # 0001-01-01T23:59:59.999999Z
]
# The edges of the range (and values that reach them through a time zone): all round-trip.
EDGE_DATETIMES: list[datetime] = [
    DATETIME_MIN,
    DATETIME_MAX,
    datetime(1, 1, 2, 5, tzinfo=PLUS_FIVE),  # = DATETIME_MIN
    datetime(9999, 12, 30, 18, 59, 59, 999999, tzinfo=MINUS_FIVE),  # = DATETIME_MAX
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999999),  # naive: UTC
    datetime(2000, 1, 1, tzinfo=UTC),  # PostgreSQL's epoch
]
# Ints outside every backend's native range: accepted in limits, offsets and int filters.
HUGE_INTS: list[int] = [2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**12, 2**70]


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "": operator.eq,
    "_gt": operator.gt,
    "_gte": operator.ge,
    "_lt": operator.lt,
    "_lte": operator.le,
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
            {"a": -0.0},  # PostgreSQL JSONB keeps no sign on zero
            {"a": [1.0, {"b": -0.0}]},
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

    async def test_datetimes_at_the_edges_of_the_range_round_trip(self, store: Store) -> None:
        """The accepted range is the same on every backend; its edges round-trip exactly."""
        machines = [
            make_machine(f"i-{n}", launch_time=value, termination_time=value)
            for n, value in enumerate(EDGE_DATETIMES)
        ]
        await store.machines.save_many(machines)
        for machine in machines:
            loaded = await store.machines.get_by_id(machine.machine_id)
            assert loaded is not None and loaded.launch_time is not None
            assert loaded.launch_time == machine.launch_time
            assert loaded.launch_time.utcoffset() == timedelta(0)
        listed = await store.machines.get_all()
        assert [m.launch_time for m in listed] == [m.launch_time for m in machines]
        assert await store.machines.count({"launch_time_lte": DATETIME_MIN}) == 2
        assert await store.machines.count({"launch_time_gte": DATETIME_MAX}) == 2
        page = await store.machines.page({"termination_time_gt": DATETIME_MIN}, limit=2)
        assert [m.machine_id for m in page.items] == ["i-1", "i-3"]

    @pytest.mark.parametrize("value", OUT_OF_RANGE_DATETIMES, ids=str)
    async def test_datetimes_outside_the_range_are_refused_naming_the_field(
        self, store: Store, value: datetime
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            make_machine("i-1", launch_time=value)
        assert caught.value.field == "launch_time"
        with pytest.raises(ValidationError) as caught:
            make_request("r-1", deadline_at=value)
        assert caught.value.field == "deadline_at"
        machine = make_machine("i-1")
        with pytest.raises(ValidationError) as caught:
            machine.termination_time = value
        assert caught.value.field == "termination_time" and machine.termination_time is None
        await store.machines.save(machine)
        before = await snapshot(store)
        for key in ("launch_time", "launch_time_gt", "launch_time_lte"):
            with pytest.raises(InvalidFilter) as filtered:
                await store.machines.count({key: value})
            assert filtered.value.field == key
        with pytest.raises(InvalidFilter):
            await store.machines.get_all({"launch_time_in": [DATETIME_MIN, value]})
        assert await snapshot(store) == before

    async def test_limits_offsets_and_int_filters_take_any_int(self, store: Store) -> None:
        """One rule on every backend: an int of any size is a valid limit, offset or int filter
        value and gives the answer its meaning implies (never a driver overflow)."""
        counts = [0, 1, 7, MAX_COUNT]
        await store.requests.save_many(
            [make_request(f"r-{n}", requested_count=c) for n, c in enumerate(counts)]
        )
        keys = ["r-0", "r-1", "r-2", "r-3"]
        for big in HUGE_INTS:
            listed = await store.requests.get_all(limit=big)
            assert [r.request_id for r in listed] == keys
            assert await store.requests.get_all(offset=big) == []
            assert [r.request_id for r in await store.requests.get_all(limit=big, offset=3)] == [
                "r-3"
            ]
            for sign in (1, -1):
                n = sign * big
                for suffix, compare in COMPARISONS.items():
                    want = sum(1 for c in counts if compare(c, n))
                    got = await store.requests.count({f"requested_count{suffix}": n})
                    assert got == want, (suffix, n)
                    versions = await store.requests.get_all({f"version{suffix}": n})
                    assert len(versions) == (len(counts) if compare(1, n) else 0), (suffix, n)
                got = await store.requests.count({"requested_count_in": [n, 7, -n]})
                assert got == 1 + (MAX_COUNT in (n, -n))
        assert MAX_ROWS == 2**31 - 1
        with pytest.raises(ValidationError) as caught:
            await store.requests.get_all(limit=-(2**70))
        assert caught.value.field == "limit"
        with pytest.raises(ValidationError) as caught:
            await store.requests.get_all(offset=-1)
        assert caught.value.field == "offset"

    async def test_negative_zero_is_refused_and_matches_zero_in_queries(self, store: Store) -> None:
        template = make_template("t-1", attributes={"zero": 0.0, "n": ["Numeric", "2"]})
        with pytest.raises(ValidationError) as caught:
            make_template("t-2", attributes={"zero": -0.0})
        assert caught.value.field == "attributes"
        await store.templates.save(template)
        found = await store.templates.find_by_attributes({"zero": -0.0})
        assert [t.template_id for t in found] == ["t-1"]
