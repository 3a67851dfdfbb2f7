"""A sorted set of keys with O(log n) insert and delete and ordered range iteration.

The memory backend keeps one per table and one per secondary-index value, so a page or a keyed
query walks only the keys it returns: at 1,000,000 stored machines a page costs what it costs at
10,000 (no re-sort of the whole key list after inserts). Keys live in sublists of at most
``2 * LOAD`` items with the largest key of each sublist in ``_maxes`` (the layout of
``sortedcontainers.SortedList``, reduced to what the backend needs).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

LOAD = 500


class SortedKeys:
    def __init__(self) -> None:
        self._lists: list[list[str]] = []
        self._maxes: list[str] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def add(self, key: str) -> None:
        """Insert ``key`` (the caller never adds a key twice)."""
        lists, maxes = self._lists, self._maxes
        if not lists:
            lists.append([key])
            maxes.append(key)
        else:
            index = bisect_left(maxes, key)
            if index == len(maxes):  # beyond every key: the common case for generated ids
                index -= 1
                lists[index].append(key)
                maxes[index] = key
            else:
                insort(lists[index], key)
            if len(lists[index]) > 2 * LOAD:
                part = lists[index]
                lists[index : index + 1] = [part[:LOAD], part[LOAD:]]
                maxes[index : index + 1] = [part[LOAD - 1], part[-1]]
        self._len += 1

    def discard(self, key: str) -> None:
        maxes = self._maxes
        index = bisect_left(maxes, key)
        if index == len(maxes):
            return
        part = self._lists[index]
        position = bisect_left(part, key)
        if position == len(part) or part[position] != key:
            return
        del part[position]
        self._len -= 1
        if part:
            maxes[index] = part[-1]
        else:
            del self._lists[index]
            del maxes[index]

    def irange(
        self,
        low: str | None = None,
        low_inclusive: bool = True,
        high: str | None = None,
        high_inclusive: bool = True,
    ) -> Iterator[str]:
        """Keys from ``low`` to ``high`` in ascending order (None: unbounded on that side)."""
        lists, maxes = self._lists, self._maxes
        if low is None:
            index, position = 0, 0
        else:
            find = bisect_left if low_inclusive else bisect_right
            index = find(maxes, low)
            if index == len(maxes):
                return
            position = find(lists[index], low)
        while index < len(lists):
            part = lists[index]
            stop = len(part)
            if high is not None and maxes[index] >= high:
                stop = (bisect_right if high_inclusive else bisect_left)(part, high)
                yield from part[position:stop]
                return
            yield from part[position:stop]
            index, position = index + 1, 0
