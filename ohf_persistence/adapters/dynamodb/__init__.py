"""DynamoDB backend on PynamoDB: see docs/dynamodb.md for the table layout and semantics.

URL: ``dynamodb://?region=us-east-1&endpoint_url=http://127.0.0.1:8000&table_prefix=ohf_``
(options are described in ``settings.py``). Opening a store checks that the tables and indexes
exist (SchemaOutOfDate naming ``ohf-persistence migrate`` otherwise) and never creates them,
unless ``migrate=True``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...domain.errors import SchemaOutOfDate
from .backend import Backend
from .settings import DynamoSettings, settings_from_config
from .store import DynamoStorage, DynamoStore
from .tables import check_sync, migrate_sync, missing_message

if TYPE_CHECKING:
    from ...config import StoreConfig


async def open_dynamodb_store(config: StoreConfig, logger: Any, migrate: bool) -> DynamoStore:
    backend = await Backend.open(settings_from_config(config), logger)
    try:
        if migrate:
            await backend.call("migrate", migrate_sync, backend)
        issues = await backend.call("DescribeTable", check_sync, backend)
        if issues:
            raise SchemaOutOfDate(missing_message(issues))
    except BaseException:
        await backend.close()
        raise
    return DynamoStore(backend)


__all__ = [
    "DynamoSettings",
    "DynamoStorage",
    "DynamoStore",
    "open_dynamodb_store",
    "settings_from_config",
]
