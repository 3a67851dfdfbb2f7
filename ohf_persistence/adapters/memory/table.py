"""Committed rows of one entity type, with secondary indexes on the keyed query fields."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...staging import Row


class Table:
    def __init__(self, key: str, indexed: Iterable[str]) -> None:
        self.key = key
        self.rows: dict[str, Row] = {}
        self.indexes: dict[str, dict[Any, set[str]]] = {name: {} for name in indexed}
        self._sorted: list[str] | None = None

    def put(self, key: str, row: Row) -> None:
        old = self.rows.get(key)
        for name, index in self.indexes.items():
            if old is not None:
                if old[name] == row[name]:
                    continue
                self._unindex(index, old[name], key)
            if row[name] is not None:
                index.setdefault(row[name], set()).add(key)
        if old is None:
            self._sorted = None
        self.rows[key] = row

    def remove(self, key: str) -> None:
        old = self.rows.pop(key, None)
        if old is None:
            return
        for name, index in self.indexes.items():
            self._unindex(index, old[name], key)
        self._sorted = None

    @staticmethod
    def _unindex(index: dict[Any, set[str]], value: Any, key: str) -> None:
        keys = index.get(value)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del index[value]

    def sorted_keys(self) -> list[str]:
        # Re-sorted only after inserts or deletes; updates keep the key set.
        if self._sorted is None:
            self._sorted = sorted(self.rows)
        return self._sorted

    def keys_where(self, name: str, value: Any) -> set[str]:
        return self.indexes[name].get(value, set())
