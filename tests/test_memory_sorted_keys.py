"""The memory backend's ordered key set: every operation agrees with a sorted list."""

from __future__ import annotations

import random

import pytest

from ohf_persistence.adapters.memory import sorted_keys
from ohf_persistence.adapters.memory.sorted_keys import SortedKeys


@pytest.mark.parametrize("load", [2, 3, 500])
def test_add_discard_and_ranges_match_a_sorted_list(
    monkeypatch: pytest.MonkeyPatch, load: int
) -> None:
    monkeypatch.setattr(sorted_keys, "LOAD", load)  # tiny blocks: splits and empty blocks
    rng = random.Random(load)
    keys, ref = SortedKeys(), set[str]()
    for step in range(6_000):
        key = f"k{rng.randrange(1_500):04d}"
        if rng.random() < 0.6:
            if key not in ref:
                keys.add(key)
                ref.add(key)
        else:
            keys.discard(key)
            ref.discard(key)
        if step % 250 == 0:
            ordered = sorted(ref)
            assert list(keys.irange()) == ordered and len(keys) == len(ordered)
            for _ in range(25):
                low, high = sorted(f"k{rng.randrange(1_600):04d}" for _ in range(2))
                low_in, high_in = rng.random() < 0.5, rng.random() < 0.5
                want = [
                    k
                    for k in ordered
                    if (k >= low if low_in else k > low) and (k <= high if high_in else k < high)
                ]
                assert list(keys.irange(low, low_in, high, high_in)) == want
                assert list(keys.irange(low, low_in)) == [
                    k for k in ordered if (k >= low if low_in else k > low)
                ]
                assert list(keys.irange(None, True, high, high_in)) == [
                    k for k in ordered if (k <= high if high_in else k < high)
                ]


def test_ascending_inserts_append_and_removing_everything_empties_it() -> None:
    keys = SortedKeys()
    for n in range(3_000):
        keys.add(f"i-{n:05d}")
    assert list(keys.irange("i-02998", False)) == ["i-02999"]
    for n in range(3_000):
        keys.discard(f"i-{n:05d}")
    keys.discard("i-absent")
    assert len(keys) == 0 and list(keys.irange()) == []
