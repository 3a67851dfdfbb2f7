"""Schema management for every backend: ``migrate``, ``downgrade``, ``current``, ``check``.

SQL backends use the Alembic revisions shipped with the package; DynamoDB creates missing
tables and indexes; memory has no schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from . import adapters
from .config import ConfigError, StoreConfig, resolve_config

T = TypeVar("T")

Config = str | Mapping[str, Any] | StoreConfig | None


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What ``migrate`` / ``downgrade`` really did: the revision before and after (None: no
    schema; "head" for complete DynamoDB tables; "memory" for memory)."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def missing_driver(config: StoreConfig, exc: ImportError) -> ConfigError:
    """The one-line error for a backend whose driver (an extra) is not installed."""
    return adapters.missing_driver(config.backend, exc)


async def _call(config: StoreConfig, work: Callable[[Any], Awaitable[T]]) -> T | None:
    """Run ``work(module)`` for the backend's schema module (None for memory); a missing
    driver is the same ConfigError ``open_store`` gives, on every command."""
    if adapters.BACKENDS[config.backend].schema is None:
        return None
    try:
        module = adapters.schema_module(config.backend)
        return await work(module)
    except ImportError as exc:  # the driver is imported lazily, when the engine is created
        raise missing_driver(config, exc) from exc


async def migrate(url: Config = None, revision: str = "head") -> SchemaChange:
    """Bring the schema to ``revision`` (default: this code's head). Never goes back (use
    ``downgrade``); refuses a database migrated by a newer package (SchemaNewerThanCode)."""
    config = resolve_config(url)

    async def work(module: Any) -> SchemaChange:
        if config.backend == "dynamodb":  # no revisions: report what exists before and after
            before = await module.current(config)
            await module.migrate(config, revision)
            return SchemaChange(before, await module.current(config))
        before, after = await module.migrate(config, revision)
        return SchemaChange(before, after)

    return await _call(config, work) or SchemaChange("memory", "memory")


async def downgrade(url: Config, revision: str) -> SchemaChange:
    """Downgrade to ``revision`` (no default: it is destructive; ``base`` drops every table
    and its data, on DynamoDB too)."""
    config = resolve_config(url)

    async def work(module: Any) -> SchemaChange:
        if config.backend == "dynamodb":
            before = await module.current(config)
            await module.downgrade(config, revision)
            return SchemaChange(before, await module.current(config))
        before, after = await module.downgrade(config, revision)
        return SchemaChange(before, after)

    return await _call(config, work) or SchemaChange("memory", "memory")


async def current(url: Config = None) -> str | None:
    """The schema's current revision (None when there is no schema; "memory" for memory)."""
    config = resolve_config(url)
    if adapters.BACKENDS[config.backend].schema is None:
        return "memory"
    result: str | None = await _call(config, lambda module: module.current(config))
    return result


async def check(url: Config = None) -> list[str]:
    """Differences between this code's head and the schema; empty when up to date."""
    config = resolve_config(url)
    result: list[str] | None = await _call(config, lambda module: module.check(config))
    return result or []
