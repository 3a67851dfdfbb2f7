"""Stored rows of one entity type: a dict by key, the keys in order, and secondary indexes.

The memory backend's ``storage.Table``. Every method is synchronous inside (no ``await``), so
on one event loop each one is atomic. Indexes map a field value to the sorted keys holding it,
so a keyed query or a page walks only the keys it returns.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ...domain.validation import json_copy
from ...ports import E
from ...query import Condition, matches
from ...repository import status_changed
from ...storage import Row, Table, key_range
from .sorted_keys import SortedKeys


class MemoryTable(Table[E]):
    def __init__(self, entity: type[E], indexed: Iterable[str]) -> None:
        self.entity = entity
        self.rows: dict[str, Row] = {}
        self.keys = SortedKeys()
        self.indexes: dict[str, dict[Any, SortedKeys]] = {name: {} for name in indexed}

    # -- changing rows (called by MemoryStorage.write and by the single-row primitives)
    def put(self, key: str, row: Row) -> None:
        old = self.rows.get(key)
        for name, index in self.indexes.items():
            if old is not None:
                if old[name] == row[name]:
                    continue
                self._unindex(index, old[name], key)
            if row[name] is not None:
                found = index.get(row[name])
                if found is None:
                    found = index[row[name]] = SortedKeys()
                found.add(key)
        if old is None:
            self.keys.add(key)
        self.rows[key] = row

    def remove(self, key: str) -> bool:
        old = self.rows.pop(key, None)
        if old is None:
            return False
        for name, index in self.indexes.items():
            self._unindex(index, old[name], key)
        self.keys.discard(key)
        return True

    @staticmethod
    def _unindex(index: dict[Any, SortedKeys], value: Any, key: str) -> None:
        keys = index.get(value)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del index[value]

    # -- reading
    def _entity(self, row: Row) -> E:
        # A fresh object whose containers are not shared with the stored row.
        values = dict(row)
        for name in self.entity.CONTAINERS:
            values[name] = json_copy(values[name])
        return self.entity.restore(values)

    def _keys(self, conditions: tuple[Condition, ...], after: str | None) -> Iterator[str]:
        """Candidate keys in order: from an index when a condition allows, within the key
        range the conditions and ``after`` give; ``matches`` decides the rest."""
        lower, upper = key_range(self.entity.KEY, conditions, after)
        low, low_in = lower if lower is not None else (None, True)
        high, high_in = upper if upper is not None else (None, True)
        for cond in conditions:
            index = self.indexes.get(cond.field)
            if index is None or cond.value is None or cond.op not in ("eq", "in"):
                continue
            values = [cond.value] if cond.op == "eq" else list(dict.fromkeys(cond.value))
            ranges = [
                found.irange(low, low_in, high, high_in)
                for value in values
                if (found := index.get(value)) is not None
            ]
            # Different values hold disjoint keys: merging keeps key order.
            return ranges[0] if len(ranges) == 1 else heapq.merge(*ranges)
        return self.keys.irange(low, low_in, high, high_in)

    async def load(self, key: str) -> E | None:
        row = self.rows.get(key)
        return None if row is None else self._entity(row)

    async def load_many(self, keys: Sequence[str]) -> dict[str, E]:
        rows = self.rows
        return {key: self._entity(rows[key]) for key in keys if key in rows}

    async def exists(self, key: str) -> bool:
        return key in self.rows

    async def versions(self, keys: Sequence[str]) -> dict[str, int]:
        rows = self.rows
        return {key: rows[key]["version"] for key in keys if key in rows}

    async def select(
        self,
        conditions: tuple[Condition, ...],
        after: str | None,
        limit: int | None,
        offset: int = 0,
    ) -> list[E]:
        found: list[E] = []
        if limit == 0:
            return found
        rows, skip = self.rows, offset
        for key in self._keys(conditions, after):
            row = rows[key]
            if not matches(row, conditions):
                continue
            if skip:
                skip -= 1
                continue
            found.append(self._entity(row))
            if limit is not None and len(found) >= limit:
                break
        return found

    async def count(self, conditions: tuple[Condition, ...]) -> int:
        if not conditions:
            return len(self.rows)
        rows = self.rows
        return sum(1 for key in self._keys(conditions, None) if matches(rows[key], conditions))

    async def delete(self, key: str) -> bool:
        return self.remove(key)

    async def update_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        row = self.rows.get(key)
        if row is None:
            return False
        self.put(key, status_changed(self.entity, row, status, note_field, note))
        return True
