"""The factories ORB's storage registry calls, and the one store per process behind them.

Where the store URL comes from, first match wins:
1. ``storage.ohf.url`` of ORB's config (ORB's typed config drops sections it does not know, so
   it is read from the raw config: the ConfigurationManager given to the unit-of-work factory,
   or the one in ORB's DI container);
2. ``OHF_STORAGE_URL``;
3. a SQLite file ``ohf.db`` next to ORB's JSON data: ``<storage.json_strategy.base_path>``
   (``<work_dir>/data`` once ORB resolved it), parent folders created.

An ``ohf`` section that is there but malformed (not an object, a key other than ``url``, no
``url``, a ``url`` that is not a non-empty string) is ORB's ConfigurationError, never a
fall-back to 2 or 3. A local SQLite file is migrated automatically (its parent folders
created); PostgreSQL and DynamoDB are not (opening them unmigrated fails with ORB's
ConfigurationError naming ``ohf-persistence migrate``). Any store that cannot be opened is
ORB's ConfigurationError.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from orb.config.managers.configuration_manager import ConfigurationManager

from .. import sync
from ..config import ENV_URL, mask_url, resolve_config, sqlite_file
from ..domain import PersistenceError, SchemaOutOfDate
from ..domain.errors import SchemaNewerThanCode

_log = logging.getLogger("ohf_persistence.orb")
_lock = threading.Lock()
_stores: dict[str, sync.SyncStore] = {}
_inherited: list[sync.SyncStore] = []


def _after_fork() -> None:
    """A forked child opens its own stores (the parent's cannot be used there); the parent's
    are kept referenced, never closed or collected in the child (their connections are the
    parent's)."""
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    _inherited.extend(_stores.values())
    _stores.clear()


os.register_at_fork(after_in_child=_after_fork)


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
    configured = _configured_url(storage)
    if configured is not None:
        return configured
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL]
    base = _json_base_path(storage) or fallback_base()
    if base is None:
        from orb.config.platform_dirs import get_work_location

        base = str(get_work_location() / "data")
    # Quoted: the folder's name may hold %, ?, # or anything else URLs read as syntax.
    return f"sqlite+aiosqlite:///{quote(str(Path(base).absolute() / 'ohf.db'))}"


def _configured_url(storage: Mapping[str, Any] | None) -> str | None:
    """``storage.ohf.url``; None when there is no ``ohf`` section (one without a URL is
    malformed: the operator meant a store, not the defaults)."""
    if storage is None or "ohf" not in storage:
        return None
    section = storage["ohf"]
    if not isinstance(section, Mapping):
        raise _config_error(
            f'storage.ohf must be an object such as {{"url": "<store URL>"}}, '
            f"got {type(section).__name__}"
        )
    unknown = sorted(str(k) for k in section if k != "url")
    if unknown:
        raise _config_error(
            f'storage.ohf has unknown key(s) {", ".join(map(repr, unknown))}; its only key is "url"'
        )
    if "url" not in section:
        raise _config_error('storage.ohf is there but names no store: give {"url": "<store URL>"}')
    url = section["url"]
    if not isinstance(url, str) or not url.strip():
        got = repr(url) if isinstance(url, str) else type(url).__name__
        raise _config_error(f"storage.ohf.url must be a store URL (a non-empty string), got {got}")
    return url


def _config_error(text: str) -> Exception:
    from orb.domain.base.exceptions import ConfigurationError

    error: Exception = ConfigurationError(f"ORB storage 'ohf': {text}")
    return error


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
    try:
        config = resolve_config(url)
        path = sqlite_file(config)
        if path is not None:
            try:
                # resolved: through a symlink the file goes to its target's folder
                path.resolve().parent.mkdir(parents=True, exist_ok=True)
            except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
                raise _config_error(
                    f"cannot open {mask_url(url)}: cannot create the folder of {path} "
                    f"({getattr(exc, 'strerror', None) or exc})"
                ) from exc
            try:
                return sync.open_store(config)
            except SchemaOutOfDate:  # a new or older local file: bring it to head
                return sync.open_store(config, migrate=True)
        return sync.open_store(config)
    except SchemaNewerThanCode as exc:  # migrate cannot fix this: a newer package can
        raise _config_error(f"cannot use {mask_url(url)}: {exc}") from exc
    except SchemaOutOfDate as exc:
        raise _config_error(
            f"the store at {mask_url(url)} is not migrated; run "
            f"`ohf-persistence migrate --url '{mask_url(url)}'` first ({exc})"
        ) from exc
    except PersistenceError as exc:  # ConfigError (a bad URL) included
        raise _config_error(f"cannot open {mask_url(url)}: {exc}") from exc


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
        # ORB's typed config drops the ``ohf`` section: its raw config, in ORB's DI container,
        # says (without the container nothing does: see create_strategy).
        raw = _raw_storage_from_container()
        if raw is None:
            _log.warning(
                "ORB storage 'ohf': given ORB's typed configuration (which has no 'ohf' "
                "section) with ORB's DI container not running, so storage.ohf.url cannot be "
                "read; using $%s or the work-dir default. Build ORB's repositories through "
                "its container, or set $%s to the configured URL.",
                ENV_URL,
                ENV_URL,
            )
        elif "ohf" in raw:
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
