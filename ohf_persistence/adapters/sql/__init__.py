"""SQL backend: async SQLAlchemy 2.x on SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import Database, is_memory_sqlite
from .store import SqlStore, SqlUnitOfWork

if TYPE_CHECKING:
    from ...config import StoreConfig


async def open_sql_store(config: StoreConfig, logger: Any, migrate: bool) -> SqlStore:
    """Open the store; the schema must be at this code's head revision (SchemaOutOfDate
    otherwise). ``migrate=True`` upgrades first; a private ``:memory:`` database always is."""
    from . import migrations

    db = Database(config)
    try:
        if migrate or is_memory_sqlite(config.url):
            await migrations.upgrade_db(db, "head")
        await migrations.verify_head(db)
    except BaseException:
        await db.close()
        raise
    if logger is not None:
        logger.debug("opened %s store at %s", config.backend, db.errors.url)
    return SqlStore(db, logger)


__all__ = ["SqlStore", "SqlUnitOfWork", "open_sql_store"]
