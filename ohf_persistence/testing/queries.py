"""Contract: filters (every suffix, refusals, injection attempts), count and keyset paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..domain import InvalidCursor, InvalidFilter, MachineStatus, ValidationError
from ..ports import Store
from .builders import T0, make_machine, make_request, make_template, snapshot


async def _fleet(store: Store) -> None:
    """Ten machines with varied scalar values."""
    statuses = [MachineStatus.RUNNING, MachineStatus.PENDING, MachineStatus.TERMINATED]
    await store.machines.save_many(
        [
            make_machine(
                f"i-{n}",
                name=None if n == 9 else f"host-{n:02d}",
                request_id=f"req-{n % 3}",
                status=statuses[n % 3],
                launch_time=None if n == 0 else T0 + timedelta(hours=n),
            )
            for n in range(10)
        ]
    )


async def _keys(store: Store, filters: dict[str, Any]) -> list[str]:
    return [m.key for m in await store.machines.get_all(filters)]


class FilterContract:
    pytestmark = pytest.mark.asyncio

    async def test_equality_and_every_suffix(self, store: Store) -> None:
        await _fleet(store)
        t5 = T0 + timedelta(hours=5)
        assert await _keys(store, {"status": "running"}) == ["i-0", "i-3", "i-6", "i-9"]
        assert await _keys(store, {"request_id": "req-1", "status": MachineStatus.PENDING}) == [
            "i-1",
            "i-4",
            "i-7",
        ]
        assert await _keys(store, {"status_in": ["pending", "terminated"]}) == [
            "i-1",
            "i-2",
            "i-4",
            "i-5",
            "i-7",
            "i-8",
        ]
        assert await _keys(store, {"launch_time_gt": t5}) == ["i-6", "i-7", "i-8", "i-9"]
        assert await _keys(store, {"launch_time_gte": t5}) == ["i-5", "i-6", "i-7", "i-8", "i-9"]
        assert await _keys(store, {"launch_time_lt": T0 + timedelta(hours=2)}) == ["i-1"]
        assert await _keys(store, {"launch_time_lte": T0 + timedelta(hours=2)}) == ["i-1", "i-2"]
        assert await _keys(store, {"name_gte": "host-07", "name_lt": "host-09"}) == ["i-7", "i-8"]
        assert await _keys(store, {"name_in": ["host-01", "host-99", "host-03"]}) == ["i-1", "i-3"]
        assert await _keys(store, {"status_in": []}) == []

    async def test_none_matches_only_missing_values(self, store: Store) -> None:
        await _fleet(store)
        assert await _keys(store, {"launch_time": None}) == ["i-0"]
        assert await _keys(store, {"name": None}) == ["i-9"]
        # a stored NULL never satisfies a comparison
        assert "i-0" not in await _keys(store, {"launch_time_lt": T0 + timedelta(days=99)})

    async def test_int_bool_and_naive_datetime_filters(self, store: Store) -> None:
        await store.requests.save_many(
            [make_request(f"r-{n}", requested_count=n) for n in range(6)]
        )
        keys = [r.key for r in await store.requests.get_all({"requested_count_gte": 4})]
        assert keys == ["r-4", "r-5"]
        keys = [r.key for r in await store.requests.get_all({"requested_count_in": [0, 5]})]
        assert keys == ["r-0", "r-5"]
        await store.templates.save_many(
            [make_template("t-1", is_active=True), make_template("t-2", is_active=False)]
        )
        assert [t.key for t in await store.templates.get_all({"is_active": False})] == ["t-2"]
        assert [t.key for t in await store.templates.get_all({"max_number_gte": 10})] == [
            "t-1",
            "t-2",
        ]
        assert await store.templates.get_all({"max_number_lte": 9}) == []
        # a naive datetime in a filter means UTC, like everywhere else
        await _fleet(store)
        naive = (T0 + timedelta(hours=8)).replace(tzinfo=None)
        assert await _keys(store, {"launch_time_gte": naive}) == ["i-8", "i-9"]

    async def test_version_and_timestamp_filters(self, store: Store) -> None:
        await _fleet(store)
        await store.machines.update_status("i-4", "running")
        assert await _keys(store, {"version_gt": 1}) == ["i-4"]
        future = datetime.now(UTC) + timedelta(days=1)
        assert len(await _keys(store, {"created_at_lt": future})) == 10

    async def test_key_range_filters(self, store: Store) -> None:
        await _fleet(store)
        assert await _keys(store, {"machine_id_gte": "i-3", "machine_id_lt": "i-6"}) == [
            "i-3",
            "i-4",
            "i-5",
        ]
        assert await _keys(store, {"machine_id_gt": "i-7"}) == ["i-8", "i-9"]
        assert await _keys(store, {"machine_id_lte": "i-1"}) == ["i-0", "i-1"]
        assert await _keys(store, {"machine_id": "i-4", "status": "pending"}) == ["i-4"]
        assert await _keys(store, {"machine_id_gt": "i-5", "machine_id_lt": "i-5"}) == []
        page = await store.machines.page({"machine_id_gte": "i-2", "status": "running"}, limit=1)
        assert [m.key for m in page.items] == ["i-3"]
        assert page.next_cursor is not None

    async def test_count_agrees_with_get_all(self, store: Store) -> None:
        await _fleet(store)
        for filters in (
            {},
            {"status": "running"},
            {"launch_time_gt": T0 + timedelta(hours=3)},
            {"name": None},
            {"request_id_in": ["req-0", "req-2"]},
        ):
            assert await store.machines.count(filters) == len(await _keys(store, filters))

    @pytest.mark.parametrize(
        ("filters", "field"),
        [
            ({"colour": "red"}, "colour"),  # unknown field
            ({"status_like": "run%"}, "status_like"),  # unknown suffix
            ({"tags": {"Name": "x"}}, "tags"),  # not a scalar field
            ({"security_group_ids_in": ["sg-1"]}, "security_group_ids_in"),
            ({"status": "bogus"}, "status"),  # invalid enum value
            ({"status_gt": "pending"}, "status_gt"),  # enums compare for equality only
            ({"launch_time_gt": "2026-01-01"}, "launch_time_gt"),  # str for a datetime
            ({"version": "1"}, "version"),  # str for an int
            ({"version": True}, "version"),  # bool is not an int
            ({"name": 5}, "name"),
            ({"status_in": "running"}, "status_in"),  # not a list
            ({"status_in": ["running", None]}, "status_in"),
            ({"name_gt": None}, "name_gt"),
            ({"machine_id": None}, "machine_id"),  # the key is never null
            ({"status = 'x' OR 1=1; --": "x"}, "status = 'x' OR 1=1; --"),
            ({"name; DROP TABLE machines": "x"}, "name; DROP TABLE machines"),
            ({"name_in": [f"h-{n}" for n in range(101)]}, "name_in"),  # over 100 values
        ],
    )
    async def test_invalid_filters_are_refused_naming_the_field(
        self, store: Store, filters: dict[str, Any], field: str
    ) -> None:
        await _fleet(store)
        before = await snapshot(store)
        for call in (store.machines.get_all, store.machines.count, store.machines.page):
            with pytest.raises(InvalidFilter) as caught:
                await call(filters)
            assert caught.value.field == field
            assert field[:20] in str(caught.value)
        assert await snapshot(store) == before

    async def test_non_mapping_filters_are_refused(self, store: Store) -> None:
        with pytest.raises(InvalidFilter):
            await store.machines.get_all(["status"])  # type: ignore[arg-type]
        with pytest.raises(InvalidFilter):
            await store.machines.get_all({1: "x"})  # type: ignore[dict-item]

    @pytest.mark.parametrize(
        "value",
        ["' OR '1'='1", "x'); DROP TABLE machines; --", "#status", ":v0", "${x}", "\\' OR 1=1"],
    )
    async def test_values_that_look_like_code_are_only_values(
        self, store: Store, value: str
    ) -> None:
        await _fleet(store)
        await store.machines.save(make_machine("i-odd", name=value))
        assert await _keys(store, {"name": value}) == ["i-odd"]
        assert await _keys(store, {"name_in": [value, "nope"]}) == ["i-odd"]
        assert await store.machines.count() == 11
        found = await store.templates.find_by_attributes({value: value})
        assert found == []


class PagingContract:
    pytestmark = pytest.mark.asyncio

    @pytest.mark.parametrize("limit", [1, 3, 7, 25, 100])
    async def test_paging_visits_everything_once_in_key_order(
        self, store: Store, limit: int
    ) -> None:
        await store.machines.save_many([make_machine(f"i-{n:03d}") for n in range(25)])
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await store.machines.page(limit=limit, cursor=cursor)
            assert len(page.items) <= limit
            seen += [m.key for m in page.items]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"i-{n:03d}" for n in range(25)]
        assert pages == -(-25 // limit)

    async def test_paging_with_filters(self, store: Store) -> None:
        await _fleet(store)
        first = await store.machines.page({"status": "running"}, limit=3)
        assert [m.key for m in first.items] == ["i-0", "i-3", "i-6"]
        assert first.next_cursor is not None
        second = await store.machines.page({"status": "running"}, limit=3, cursor=first.next_cursor)
        assert [m.key for m in second.items] == ["i-9"]
        assert second.next_cursor is None

    async def test_paging_with_a_filter_no_index_serves(self, store: Store) -> None:
        await _fleet(store)
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.machines.page({"name_gte": "host-03"}, limit=2, cursor=cursor)
            seen += [m.key for m in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == ["i-3", "i-4", "i-5", "i-6", "i-7", "i-8"]

    async def test_empty_page(self, store: Store) -> None:
        page = await store.templates.page()
        assert page.items == [] and page.next_cursor is None

    async def test_foreign_and_tampered_cursors_are_refused(self, store: Store) -> None:
        await _fleet(store)
        await store.requests.save_many([make_request(f"r-{n}") for n in range(3)])
        cursor = (await store.machines.page({"status": "running"}, limit=1)).next_cursor
        assert cursor is not None
        with pytest.raises(InvalidCursor):  # another query
            await store.machines.page({"status": "pending"}, limit=1, cursor=cursor)
        with pytest.raises(InvalidCursor):  # another query: no filters
            await store.machines.page(limit=1, cursor=cursor)
        with pytest.raises(InvalidCursor):  # another entity type
            await store.requests.page({"status": "pending"}, limit=1, cursor=cursor)
        tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
        for bad in (tampered, "not-a-cursor", "", "A" * 5000, 12):
            with pytest.raises(InvalidCursor):
                await store.machines.page({"status": "running"}, limit=1, cursor=bad)  # type: ignore[arg-type]
        # the genuine cursor still works
        page = await store.machines.page({"status": "running"}, limit=1, cursor=cursor)
        assert [m.key for m in page.items] == ["i-3"]

    @pytest.mark.parametrize("limit", [0, -1, 10_001, 2.5, "10"])
    async def test_bad_page_sizes_are_refused(self, store: Store, limit: Any) -> None:
        with pytest.raises(ValidationError):
            await store.machines.page(limit=limit)
