"""In-memory backend: dicts plus secondary indexes; the reference behaviour of the contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .store import MemoryStorage, MemoryStore

if TYPE_CHECKING:
    from ...config import StoreConfig


async def open_memory_store(config: StoreConfig, logger: Any, migrate: bool) -> MemoryStore:
    """Each call gives a new, empty store (``migrate`` has nothing to do; nothing to log)."""
    return MemoryStore()


__all__ = ["MemoryStorage", "MemoryStore", "open_memory_store"]
