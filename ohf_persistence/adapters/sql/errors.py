"""Translation of driver and SQLAlchemy exceptions into the package's errors.

Every adapter entry point runs under ``ErrorTranslator.guard`` (or calls ``translate``), so no
driver exception escapes; the original stays as ``__cause__``. Messages carry the masked URL
only, never a password.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Any

from sqlalchemy import exc as sa_exc

from ...config import StoreConfig, mask_url, sqlite_file
from ...domain.errors import (
    BackendUnavailable,
    ConcurrencyConflict,
    PersistenceError,
    SchemaOutOfDate,
    ValidationError,
)

MIGRATE_HINT = "run `ohf-persistence migrate --url {url}` (or `await ohf_persistence.migrate(url)`)"

# PostgreSQL SQLSTATE classes / codes that mean "cannot reach or use the server".
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57", "28")  # connection, resources, shutdown, auth
_PG_UNAVAILABLE_CODES = ("3D000",)  # database does not exist
_PG_SCHEMA_CODES = ("42P01", "42703")  # undefined table / column
_PG_CONFLICT_CODES = ("40001", "40P01", "23505", "55P03")  # serialization, deadlock, unique, lock


def _sqlstate(orig: BaseException) -> str | None:
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state is None and orig.__cause__ is not None:
        state = getattr(orig.__cause__, "sqlstate", None)
    return state if isinstance(state, str) else None


def _root(exc: BaseException) -> BaseException:
    """The driver exception below SQLAlchemy's and the asyncio adapters' wrappers."""
    orig: BaseException = exc
    for _ in range(4):
        inner = getattr(orig, "orig", None)
        if isinstance(inner, BaseException) and inner is not orig:
            orig = inner
            continue
        break
    cause = orig.__cause__
    # The asyncpg adapter wraps asyncpg's exception in its own DBAPI class.
    if cause is not None and type(orig).__module__.startswith("sqlalchemy"):
        return cause
    return orig


class ErrorTranslator:
    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        self.url = mask_url(url)
        self._secret = _password(url)
        self._file = sqlite_file(StoreConfig(backend, url)) if backend == "sqlite" else None

    def _scrub(self, text: str) -> str:
        """A driver message with the password taken out, should the driver have repeated it.
        Only a password that is a whole token is replaced: replacing every occurrence of a
        short one ("e", "1") garbles the message and, by the pattern of ``***``, tells it."""
        secret = self._secret
        if not secret or len(secret) < 4:
            return text
        pattern = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
        return re.sub(pattern, "***", text)

    def migrate_hint(self) -> str:
        return MIGRATE_HINT.format(url=self.url)

    def translate(self, exc: BaseException, entity_type: str | None = None) -> PersistenceError:
        if isinstance(exc, PersistenceError):
            return exc
        root = _root(exc)
        said = str(root).strip()
        named = f"{type(root).__name__}: {said}" if said else type(root).__name__
        detail = self._scrub(named.splitlines()[0][:300])
        where = f"{self.backend} at {self.url}"
        name = getattr(root, "sqlite_errorname", None)
        text = str(root).lower()
        if name == "SQLITE_BUSY_SNAPSHOT":
            # WAL: this transaction read an older snapshot than a later commit; retry it.
            return ConcurrencyConflict(
                entity_type or "entity",
                "",
                None,
                None,
                f"{where}: another connection committed first ({detail}); retry the unit of work",
            )
        if isinstance(root, sqlite3.OperationalError):
            if "no such table" in text or "no such column" in text:
                return SchemaOutOfDate(f"{where}: schema missing ({detail}); {self.migrate_hint()}")
            if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "database is locked" in text:
                return BackendUnavailable(
                    f"{where}: database stayed locked by another writer past the busy timeout "
                    f"({detail})"
                )
            if "unable to open" in text or name == "SQLITE_CANTOPEN":
                folder = None if self._file is None else self._file.resolve().parent
                if folder is not None and not folder.is_dir():
                    return BackendUnavailable(
                        f"{where}: cannot open the database file: its folder {folder} does "
                        f"not exist ({detail})"
                    )
                return BackendUnavailable(f"{where}: cannot open the database file ({detail})")
        if isinstance(root, UnicodeError):  # a string the database encoding cannot hold
            return ValidationError(f"{where}: value refused ({detail})")
        state = _sqlstate(root)
        if state is not None:
            if state in _PG_SCHEMA_CODES:
                return SchemaOutOfDate(f"{where}: schema missing ({detail}); {self.migrate_hint()}")
            if state in _PG_UNAVAILABLE_CODES or state[:2] in _PG_UNAVAILABLE_CLASSES:
                return BackendUnavailable(f"{where} is unavailable ({detail})")
            if state in _PG_CONFLICT_CODES:
                return ConcurrencyConflict(
                    entity_type or "entity", "", None, None, f"{where}: {detail}; retry"
                )
            if state[:2] == "22":  # data exception: a value the column cannot hold
                return ValidationError(f"{where}: value refused ({detail})")
        if isinstance(
            root, OSError | TimeoutError | asyncio.TimeoutError | sa_exc.TimeoutError
        ) or _is_connection_error(exc, root):
            return BackendUnavailable(f"{where} is unavailable ({detail})")
        if isinstance(exc, sa_exc.IntegrityError):
            return ConcurrencyConflict(
                entity_type or "entity", "", None, None, f"{where}: {detail}"
            )
        return PersistenceError(f"{where}: {detail}")

    def guard(self, entity_type: str | None = None) -> _Guard:
        return _Guard(self, entity_type)


def _is_connection_error(exc: BaseException, root: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.InterfaceError):
        return True
    module = type(root).__module__
    return module.startswith("asyncpg") and (
        "Connection" in type(root).__name__ or "Interface" in type(root).__name__
    )


def is_unique_violation(exc: BaseException) -> bool:
    """A write refused because its key is taken (SQLite or PostgreSQL)."""
    root = _root(exc)
    if isinstance(root, sqlite3.IntegrityError):
        return "UNIQUE constraint failed" in str(root)
    return _sqlstate(root) == "23505"


def _password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password
    except sa_exc.ArgumentError:
        return None


TRANSLATED: tuple[type[BaseException], ...] = (
    sa_exc.SQLAlchemyError,
    UnicodeError,
    sqlite3.Error,
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
)


class _Guard:
    """``async with translator.guard(): ...`` re-raises driver errors translated."""

    def __init__(self, translator: ErrorTranslator, entity_type: str | None) -> None:
        self._translator = translator
        self._entity_type = entity_type

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        # Never swallows: returns None (re-raise as is) or raises the translated error.
        if exc is None or isinstance(exc, PersistenceError) or not _translatable(exc):
            return
        raise self._translator.translate(exc, self._entity_type) from exc


def _translatable(exc: BaseException) -> bool:
    if isinstance(exc, TRANSLATED):
        return True
    return type(exc).__module__.startswith("asyncpg")
