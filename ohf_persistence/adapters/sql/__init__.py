"""SQL backend: SQLAlchemy Core statements run on aiosqlite (SQLite) and asyncpg (PostgreSQL).

The port methods are written once in ``ohf_persistence/repository.py``; this package supplies
the storage primitives. Modules by role: ``store`` (``SqlStorage.write``: batches of guarded
rows; ``SqlStore``), ``repository`` (``SqlTable``: load, select, count, delete, status),
``queries`` (every statement, compiled once per shape),
``writes`` (every guarded write), ``codec`` (rows <-> entities), ``driver`` (connections, pool,
execution), ``engine`` (one store's database), ``errors`` (driver exceptions -> ours),
``types`` / ``models`` (the schema), ``migrations`` (Alembic), ``internals`` (private library
details, tested).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import Database, is_memory_sqlite
from .store import SqlStorage, SqlStore

if TYPE_CHECKING:
    from ...config import StoreConfig


async def open_sql_store(
    config: StoreConfig, logger: Any, migrate: bool, *, direct: bool = False
) -> SqlStore:
    """Open the store; the schema must be at this code's head revision (SchemaOutOfDate
    otherwise). ``migrate=True`` upgrades first; a private ``:memory:`` database always is.
    ``direct``: see ``engine.Database``."""
    db = Database(config, direct=direct)
    try:
        if migrate or is_memory_sqlite(config.url):
            from . import migrations  # Alembic: imported only when a migration runs

            await migrations.upgrade_db(db, "head")
        if not await db.at_head():
            from . import migrations  # only to say precisely what is wrong

            await migrations.verify_head(db)
    except BaseException:
        await db.close()
        raise
    if logger is not None:
        logger.debug("opened %s store at %s", config.backend, db.errors.url)
    return SqlStore(db)


async def open_direct_sqlite_store(config: StoreConfig, logger: Any, migrate: bool) -> SqlStore:
    """The sync API's SQLite opener: a store on stdlib ``sqlite3`` connections whose calls
    (opening and migrating included) never suspend, so they run in the caller's thread."""
    return await open_sql_store(config, logger, migrate, direct=True)


__all__ = ["SqlStorage", "SqlStore", "open_direct_sqlite_store", "open_sql_store"]
