"""The memory backend for the contract suite."""

from collections.abc import AsyncIterator

import pytest

from ohf_persistence import Store, open_store


@pytest.fixture
async def memory_store() -> AsyncIterator[Store]:
    async with open_store("memory://") as store:
        yield store
