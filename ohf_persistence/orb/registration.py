"""The factories ORB's storage registry calls, and the one store per process behind them.

Where the store URL comes from, first match wins:
1. ``storage.ohf.url`` of ORB's config (ORB's typed config drops sections it does not know, so
   it is read from the raw config: the ConfigurationManager given to the unit-of-work factory,
   or the one in ORB's DI container);
2. ``OHF_STORAGE_URL``;
3. a SQLite file ``ohf.db`` next to ORB's JSON data: ``<storage.json_strategy.base_path>``
   (``<work_dir>/data`` once ORB resolved it), parent folders created.

A local SQLite file is migrated automatically; PostgreSQL and DynamoDB are not (opening them
unmigrated fails with ORB's ConfigurationError naming ``ohf-persistence migrate``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orb.config.managers.configuration_manager import ConfigurationManager

from .. import sync
from ..config import ENV_URL, mask_url, resolve_config
from ..domain import PersistenceError, SchemaOutOfDate

_lock = threading.Lock()
_stores: dict[str, sync.SyncStore] = {}


def _raw_storage_from_container() -> Mapping[str, Any] | None:
    """``storage`` of the raw config held by ORB's DI container, when it is up."""
    try:
        from orb.infrastructure.di.container import get_container, is_container_ready

        if not is_container_ready():
            return None
        manager = get_container().get(ConfigurationManager)
        storage = manager.get_raw_config().get("storage")
    except Exception:  # no container (tests, scripts): fall back to env / default
        return None
    return storage if isinstance(storage, Mapping) else None


def _json_base_path(storage: Mapping[str, Any] | None) -> str | None:
    section = (storage or {}).get("json_strategy")
    if isinstance(section, Mapping) and isinstance(section.get("base_path"), str):
        return str(section["base_path"])
    return None


def _no_base() -> str | None:
    return None


def resolve_url(
    storage: Mapping[str, Any] | None, fallback_base: Callable[[], str | None] = _no_base
) -> str:
    """The store URL for ORB's ``storage`` config section (see the module docstring);
    ``fallback_base`` is asked only when the URL comes from nowhere else."""
    section = (storage or {}).get("ohf")
    if isinstance(section, Mapping) and section.get("url"):
        return str(section["url"])
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL]
    base = _json_base_path(storage) or fallback_base()
    if base is None:
        from orb.config.platform_dirs import get_work_location

        base = str(get_work_location() / "data")
    return f"sqlite+aiosqlite:///{Path(base).absolute() / 'ohf.db'}"


def process_store(url: str) -> sync.SyncStore:
    """The store for ``url``, opened once per process (Host Factory runs ORB as one short
    process per call, so opening is paid once per call, and every strategy shares it)."""
    store = _stores.get(url)
    if store is not None:
        return store
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _open(url)
            _stores[url] = store
        return store


def _open(url: str) -> sync.SyncStore:
    from orb.domain.base.exceptions import ConfigurationError

    config = resolve_config(url)
    try:
        if config.backend == "sqlite" and ":memory:" not in config.url:
            path = Path(config.url.split(":///", 1)[1])
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return sync.open_store(config)
            except SchemaOutOfDate:  # a new or older local file: bring it to head
                return sync.open_store(config, migrate=True)
        return sync.open_store(config)
    except SchemaOutOfDate as exc:
        raise ConfigurationError(
            f"ORB storage 'ohf': the store at {mask_url(url)} is not migrated; run "
            f"`ohf-persistence migrate --url '{mask_url(url)}'` first ({exc})"
        ) from exc
    except PersistenceError as exc:
        raise ConfigurationError(f"ORB storage 'ohf': cannot open {mask_url(url)}: {exc}") from exc


def _storage_of(config: Any) -> tuple[Mapping[str, Any] | None, Callable[[], str | None]]:
    """ORB's ``storage`` section (raw when possible) and how to get its JSON base path (ORB's
    typed config; read only when needed, since ORB builds a unit of work per operation)."""
    if isinstance(config, ConfigurationManager):
        raw = config.get_raw_config().get("storage")

        def typed_base() -> str | None:
            try:
                return str(config.app_config.storage.json_strategy.base_path)
            except Exception:  # an unusual config: the raw section or the default decides
                return None

        return (raw if isinstance(raw, Mapping) else None), typed_base
    storage = config.get("storage") if isinstance(config, Mapping) else None
    storage = storage if isinstance(storage, Mapping) else None
    if storage is None or "ohf" not in storage:
        raw = _raw_storage_from_container()
        if raw is not None and "ohf" in raw:
            base = _json_base_path(storage)
            return raw, lambda: base
    return storage, _no_base


def store_for(config: Any) -> sync.SyncStore:
    storage, base = _storage_of(config)
    return process_store(resolve_url(storage, base))


def create_strategy(config: Any) -> Any:
    """ORB's strategy factory: gets ``app_config.model_dump()`` and no entity hint; the
    strategy learns its entity type from the repository using it (see strategy.py)."""
    # Imported on first use: ORB registers every storage type in every process, and most
    # never use this one.
    from .session import Session
    from .strategy import OhfStorageStrategy

    return OhfStorageStrategy(Session(store_for(config)))


def create_config(data: dict[str, Any]) -> dict[str, Any]:
    """ORB's config factory: the ``ohf`` section as given (``{"url": …}``)."""
    return dict(data)


def create_unit_of_work(config: Any) -> Any:
    """ORB's unit-of-work factory: gets ORB's ConfigurationManager (or a dict in tests)."""
    from .unit_of_work import OhfUnitOfWork

    return OhfUnitOfWork(store_for(config))
