"""The floors the ORB bench measures ``ohf`` against (``python -m ohf_persistence.orb.bench``).

- ``dict``: ORB's own repositories over a plain in-process dict strategy: ORB's own cost, no
  storage at all;
- ``sqlite3``: the same strategy keeping each ORB record as one JSON text in one SQLite table
  through the stdlib ``sqlite3`` (the PRAGMAs ``ohf`` uses; one autocommitted statement per
  call): the least any SQLite storage for ORB pays.

Both are registered in ORB's storage registry of this process only. Built lazily: ORB is an
optional dependency.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

DICT_STORAGE = "ohf-bench-dict"
SQLITE3_STORAGE = "ohf-bench-sqlite3"


class SqliteRows(MutableMapping[str, dict[str, Any]]):
    """One entity type's ORB records as JSON texts in one SQLite table, each call one
    autocommitted statement (stdlib ``sqlite3``, the PRAGMAs ``ohf`` uses)."""

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self.conn = conn
        self.table = table
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, data TEXT)")

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        text = json.dumps(value, default=str)
        self.conn.execute(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?)", (key, text))

    def __getitem__(self, key: str) -> dict[str, Any]:
        row = self.conn.execute(f"SELECT data FROM {self.table} WHERE id = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        record: dict[str, Any] = json.loads(row[0])
        return record

    def __delitem__(self, key: str) -> None:
        if self.conn.execute(f"DELETE FROM {self.table} WHERE id = ?", (key,)).rowcount != 1:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([k for (k,) in self.conn.execute(f"SELECT id FROM {self.table}")])

    def __len__(self) -> int:
        count: int = self.conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
        return count


def sqlite3_tables(path: Path) -> Callable[[str], MutableMapping[str, dict[str, Any]]]:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
        conn.execute(f"PRAGMA {pragma}")
    return lambda entity_type: SqliteRows(conn, entity_type)


def _dict_storage_classes(
    rows_for: Callable[[str], MutableMapping[str, dict[str, Any]]] | None = None,
) -> tuple[Any, Any]:
    """ORB's storage port over a dict (the floor; or over ``rows_for(entity_type)``) and a
    unit of work of ORB's repositories on it; built lazily because ORB is optional."""
    from orb.infrastructure.storage.base.strategy import BaseStorageStrategy
    from orb.infrastructure.storage.base.unit_of_work import BaseUnitOfWork
    from orb.infrastructure.storage.repositories.machine_repository import (
        MachineRepositoryImpl,
    )
    from orb.infrastructure.storage.repositories.request_repository import (
        RequestRepositoryImpl,
    )
    from orb.infrastructure.storage.repositories.template_repository import (
        TemplateRepositoryImpl,
    )

    from .unit_of_work import RepositoryNames

    tables: dict[str, MutableMapping[str, dict[str, Any]]] = {}

    class DictStrategy(BaseStorageStrategy):  # type: ignore[misc]  # ORB is untyped
        def __init__(self, entity_type: str = "generic") -> None:
            super().__init__()
            self.entity_type = entity_type
            if entity_type not in tables:
                tables[entity_type] = {} if rows_for is None else rows_for(entity_type)
            self.rows = tables[entity_type]

        def save(self, entity_id: str, data: dict[str, Any]) -> None:
            self.rows[entity_id] = dict(data)

        def find_by_id(self, entity_id: str) -> dict[str, Any] | None:
            row = self.rows.get(entity_id)
            return dict(row) if row is not None else None

        def find_all(self) -> list[dict[str, Any]]:
            return [dict(row) for row in self.rows.values()]

        def delete(self, entity_id: str) -> None:
            self.rows.pop(entity_id, None)

        def exists(self, entity_id: str) -> bool:
            return entity_id in self.rows

        # A floor: no snapshot of every row per transaction (ORB's base class takes one).
        def begin_transaction(self) -> None:
            self._in_transaction = True

        def commit_transaction(self) -> None:
            self._in_transaction = False

        def rollback_transaction(self) -> None:
            self._in_transaction = False

    class DictUnitOfWork(RepositoryNames, BaseUnitOfWork):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.machine_repository = MachineRepositoryImpl(DictStrategy("machines"))
            self.request_repository = RequestRepositoryImpl(DictStrategy("requests"))
            self.template_repository = TemplateRepositoryImpl(DictStrategy("templates"))

        def _begin_transaction(self) -> None:
            pass

        def _commit_transaction(self) -> None:
            pass

        def _rollback_transaction(self) -> None:
            pass

    return DictStrategy, DictUnitOfWork


def register_floor_storages() -> None:
    """``dict`` (one per process) and ``sqlite3`` (one file per ``path`` in its config)."""
    from orb.infrastructure.storage.registry import get_storage_registry

    registry = get_storage_registry()
    if registry.is_registered(DICT_STORAGE):
        return
    strategy_cls, uow_cls = _dict_storage_classes()
    registry.register_storage(
        storage_type=DICT_STORAGE,
        strategy_factory=lambda config: strategy_cls(),
        config_factory=lambda data: dict(data),
        unit_of_work_factory=lambda config: uow_cls(),
    )
    by_path: dict[str, tuple[Any, Any]] = {}

    def classes(config: Any) -> tuple[Any, Any]:
        path = str(config.get_raw_config()["storage"]["sqlite3"]["path"])
        if path not in by_path:
            by_path[path] = _dict_storage_classes(sqlite3_tables(Path(path)))
        return by_path[path]

    registry.register_storage(
        storage_type=SQLITE3_STORAGE,
        strategy_factory=lambda config: classes(config)[0](),
        config_factory=lambda data: dict(data),
        unit_of_work_factory=lambda config: classes(config)[1](),
    )
