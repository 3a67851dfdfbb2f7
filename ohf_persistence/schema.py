"""Schema management for every backend: ``migrate``, ``downgrade``, ``current``, ``check``.

SQL backends use the Alembic revisions shipped with the package; DynamoDB creates missing
tables and indexes; memory has no schema.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from .config import StoreConfig, resolve_config

# backend -> module implementing migrate/downgrade/current/check/history with a StoreConfig
_MODULES = {
    "sqlite": "ohf_persistence.adapters.sql.migrations",
    "postgresql": "ohf_persistence.adapters.sql.migrations",
    "dynamodb": "ohf_persistence.adapters.dynamodb.tables",
}

Config = str | Mapping[str, Any] | StoreConfig | None


def _module(config: StoreConfig) -> Any:
    name = _MODULES.get(config.backend)
    return None if name is None else importlib.import_module(name)


async def migrate(url: Config = None, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: this code's head)."""
    config = resolve_config(url)
    module = _module(config)
    if module is not None:
        await module.migrate(config, revision)


async def downgrade(url: Config = None, revision: str = "-1") -> None:
    config = resolve_config(url)
    module = _module(config)
    if module is not None:
        await module.downgrade(config, revision)


async def current(url: Config = None) -> str | None:
    """The schema's current revision (None when there is no schema; "memory" for memory)."""
    config = resolve_config(url)
    module = _module(config)
    if module is None:
        return "memory"
    result: str | None = await module.current(config)
    return result


async def check(url: Config = None) -> list[str]:
    """Differences between this code's head and the schema; empty when up to date."""
    config = resolve_config(url)
    module = _module(config)
    if module is None:
        return []
    result: list[str] = await module.check(config)
    return result
