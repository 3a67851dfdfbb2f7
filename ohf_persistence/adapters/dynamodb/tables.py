"""Schema management for DynamoDB: create, inspect and delete the three tables.

``migrate`` creates missing tables and missing global secondary indexes (on-demand billing)
and waits until everything is ACTIVE; it is idempotent. ``downgrade(config, "base")`` deletes
the tables. DynamoDB has no revisions: the only revision names are "head" and "base".
Opening a store never calls any of this implicitly (``open_store(..., migrate=True)`` does).
"""

from __future__ import annotations

import time
from typing import Any

from ...config import ConfigError, StoreConfig
from ...domain.errors import BackendUnavailable
from .backend import Backend
from .errors import MIGRATE_HINT, error_code
from .models import KIND_ATTR, EntityModel
from .settings import settings_from_config

HEAD = "head"
BASE = "base"
WAIT_SECONDS = 600.0  # creating an index on a large table can take minutes


def describe(em: EntityModel) -> dict[str, Any] | None:
    try:
        table: dict[str, Any] = em.model._get_connection().connection.dispatch(
            "DescribeTable", {"TableName": em.table_name}
        )["Table"]
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return table


def problems(em: EntityModel, table: dict[str, Any] | None) -> list[str]:
    if table is None:
        return [f"table {em.table_name} is missing"]
    found = {gsi["IndexName"]: gsi for gsi in table.get("GlobalSecondaryIndexes", [])}
    issues = [
        f"table {em.table_name} lacks index {name}"
        for name in em.all_index_names
        if name not in found
    ]
    if table.get("TableStatus") != "ACTIVE":
        issues.append(f"table {em.table_name} is {table.get('TableStatus')}, not ACTIVE")
    for name in em.all_index_names:
        status = found.get(name, {}).get("IndexStatus", "ACTIVE")
        if status != "ACTIVE":
            issues.append(f"index {name} of table {em.table_name} is {status}, not ACTIVE")
    return issues


def check_sync(backend: Backend) -> list[str]:
    issues: list[str] = []
    for em in backend.models.values():
        issues += problems(em, describe(em))
    return issues


def _index_spec(em: EntityModel, name: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    hash_field = (
        KIND_ATTR
        if name == "by_key"
        else next(field for field, index in em.indexes.items() if index == name)
    )
    spec = {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_field, "KeyType": "HASH"},
            {"AttributeName": em.entity.KEY, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    definitions = [
        {"AttributeName": hash_field, "AttributeType": "S"},
        {"AttributeName": em.entity.KEY, "AttributeType": "S"},
    ]
    return spec, definitions


def _wait_active(em: EntityModel) -> None:
    deadline, delay = time.monotonic() + WAIT_SECONDS, 0.02
    while True:
        table = describe(em)
        if table is not None and not [p for p in problems(em, table) if "lacks" not in p]:
            return
        if time.monotonic() > deadline:
            raise BackendUnavailable(f"table {em.table_name} did not become ACTIVE in time")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def migrate_sync(backend: Backend) -> None:
    for em in backend.models.values():
        table = describe(em)
        if table is None:
            em.model.create_table(billing_mode="PAY_PER_REQUEST")
            _wait_active(em)
            continue
        _wait_active(em)
        present = {gsi["IndexName"] for gsi in table.get("GlobalSecondaryIndexes", [])}
        for name in em.all_index_names:
            if name in present:
                continue
            spec, definitions = _index_spec(em, name)
            # DynamoDB adds one index per UpdateTable call.
            em.model._get_connection().connection.dispatch(
                "UpdateTable",
                {
                    "TableName": em.table_name,
                    "AttributeDefinitions": definitions,
                    "GlobalSecondaryIndexUpdates": [{"Create": spec}],
                },
            )
            _wait_active(em)


def downgrade_sync(backend: Backend) -> None:
    for em in backend.models.values():
        if describe(em) is None:
            continue
        em.model._get_connection().connection.dispatch("DeleteTable", {"TableName": em.table_name})
    for em in backend.models.values():
        deadline = time.monotonic() + WAIT_SECONDS
        while describe(em) is not None:
            if time.monotonic() > deadline:
                raise BackendUnavailable(f"table {em.table_name} was not deleted in time")
            time.sleep(0.05)


def current_sync(backend: Backend) -> str | None:
    return HEAD if not check_sync(backend) else None


async def _run(config: StoreConfig, operation: str, fn: Any) -> Any:
    backend = await Backend.open(settings_from_config(config))
    try:
        return await backend.call(operation, fn, backend)
    finally:
        await backend.close()


async def migrate(config: StoreConfig, revision: str = HEAD) -> None:
    if revision != HEAD:
        raise ConfigError(
            f"DynamoDB tables have no revisions: migrate to {HEAD!r}, not {revision!r}"
        )
    await _run(config, "migrate", migrate_sync)


async def downgrade(config: StoreConfig, revision: str = BASE) -> None:
    if revision != BASE:
        raise ConfigError(
            f"DynamoDB tables have no revisions: only downgrade to {BASE!r} (deletes the "
            f"tables and all their data) is possible, not {revision!r}"
        )
    await _run(config, "downgrade", downgrade_sync)


async def current(config: StoreConfig) -> str | None:
    """ "head" when every table and index exists and is ACTIVE, else None (see ``check``)."""
    result: str | None = await _run(config, "current", current_sync)
    return result


async def check(config: StoreConfig) -> list[str]:
    """What is missing or not ACTIVE; empty when the tables are at head."""
    result: list[str] = await _run(config, "check", check_sync)
    return result


def missing_message(issues: list[str]) -> str:
    return f"DynamoDB schema is not at head ({'; '.join(issues)}): {MIGRATE_HINT}"
