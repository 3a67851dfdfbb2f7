"""Backends: one folder per adapter, each the same shape (``store.py`` with its ``Storage``,
``table.py`` with its ``Table``, then what the backend needs), plus the one registry of backends.

``BACKENDS`` says, for each backend name (``StoreConfig.backend``), where its opener and its
schema module live and which extra installs its driver. Paths are imported only when that
backend is used, so opening a SQLite store never imports PynamoDB, botocore or asyncpg.
``config.open_store`` and ``schema.py`` both look backends up here; a new backend is one entry.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..domain.errors import ConfigError

if TYPE_CHECKING:
    from ..config import StoreConfig
    from ..ports import Store

#: ``(config, logger, migrate) -> Store``: opens a store, migrating first if ``migrate``.
Opener = Callable[["StoreConfig", Any, bool], Awaitable["Store"]]


@dataclass(frozen=True, slots=True)
class Backend:
    #: "module:function" of the backend's ``Opener``.
    opener: str
    #: The module with ``migrate`` / ``downgrade`` / ``current`` / ``check`` taking a
    #: StoreConfig; None: the backend has no schema (memory).
    schema: str | None
    #: The pip extra that installs the backend's driver; None: a core dependency.
    extra: str | None
    #: The query options its URL may carry (``config.py`` refuses any other, and repeats).
    url_options: tuple[str, ...] = ()
    #: "module:function" of an ``Opener`` whose store's calls never suspend, for the sync API
    #: to run in the caller's thread (``sync.py``); None: the sync API runs the backend's
    #: store on its background event loop.
    direct_opener: str | None = None


BACKENDS: dict[str, Backend] = {
    "memory": Backend("ohf_persistence.adapters.memory:open_memory_store", None, None),
    # SQLite connects to the path alone: an option such as ?mode=ro would be ignored.
    "sqlite": Backend(
        "ohf_persistence.adapters.sql:open_sql_store",
        "ohf_persistence.adapters.sql.migrations",
        None,
        direct_opener="ohf_persistence.adapters.sql:open_direct_sqlite_store",
    ),
    # ``timeout`` is ours (engine.py); the others are asyncpg.connect's string arguments.
    "postgresql": Backend(
        "ohf_persistence.adapters.sql:open_sql_store",
        "ohf_persistence.adapters.sql.migrations",
        "postgres",
        ("timeout", "password", "ssl", "passfile", "target_session_attrs", "krbsrvname", "gsslib"),
    ),
    # read by adapters/dynamodb/settings.py
    "dynamodb": Backend(
        "ohf_persistence.adapters.dynamodb:open_dynamodb_store",
        "ohf_persistence.adapters.dynamodb.tables",
        "dynamodb",
        (
            "region",
            "profile",
            "endpoint_url",
            "table_prefix",
            "templates_table",
            "requests_table",
            "machines_table",
            "timeout",
        ),
    ),
}


def missing_driver(backend: str, exc: ImportError) -> ConfigError:
    """The one-line error for a backend whose driver (an extra) is not installed."""
    extra = BACKENDS[backend].extra
    hint = f" (pip install 'ohf-persistence[{extra}]')" if extra else ""
    return ConfigError(f"the {backend} backend is not available: {exc}{hint}")


def opener(backend: str) -> Opener:
    """The backend's opener (imports its package; ImportError when a driver is missing)."""
    module, _, name = BACKENDS[backend].opener.partition(":")
    found: Opener = getattr(importlib.import_module(module), name)
    return found


def direct_opener(backend: str) -> Opener | None:
    """The backend's opener for the sync API's in-thread calls, if it has one."""
    path = BACKENDS[backend].direct_opener
    if path is None:
        return None
    module, _, name = path.partition(":")
    found: Opener = getattr(importlib.import_module(module), name)
    return found


def schema_module(backend: str) -> ModuleType | None:
    """The backend's schema module, None for memory (ImportError when a driver is missing)."""
    name = BACKENDS[backend].schema
    return None if name is None else importlib.import_module(name)
