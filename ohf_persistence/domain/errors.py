"""The one error hierarchy every backend raises.

Driver exceptions never escape the package: adapters translate them into these classes and keep
the original as ``__cause__``.
"""

from __future__ import annotations


class PersistenceError(Exception):
    """Base class of every error raised by ohf_persistence."""


class EntityNotFound(PersistenceError):
    """An entity that had to exist does not."""

    def __init__(self, entity_type: str, key: str) -> None:
        self.entity_type = entity_type
        self.key = key
        super().__init__(f"{entity_type} {key!r} not found")


class ConcurrencyConflict(PersistenceError):
    """The stored version is not the one the caller expected; nothing was written."""

    def __init__(
        self,
        entity_type: str,
        key: str,
        expected_version: int | None,
        actual_version: int | None,
        message: str | None = None,
    ) -> None:
        self.entity_type = entity_type
        self.key = key
        self.expected_version = expected_version
        self.actual_version = actual_version
        if message is None:
            actual = "absent" if actual_version is None else f"version {actual_version}"
            message = (
                f"{entity_type} {key!r}: expected stored version {expected_version}, found {actual}"
            )
        super().__init__(message)


class AlreadyExists(ConcurrencyConflict):
    """An insert (``version == 0``) found the key already taken."""

    def __init__(self, entity_type: str, key: str, actual_version: int | None = None) -> None:
        super().__init__(
            entity_type,
            key,
            0,
            actual_version,
            f"{entity_type} {key!r} already exists",
        )


class InvalidStatusTransition(PersistenceError):
    """A status change the transition rules refuse; nothing was written."""

    def __init__(self, entity_type: str, key: str, current: str, requested: str) -> None:
        self.entity_type = entity_type
        self.key = key
        self.current = current
        self.requested = requested
        super().__init__(
            f"{entity_type} {key!r}: status {current!r} cannot change to {requested!r}"
        )


class ValidationError(PersistenceError, ValueError):
    """A value was refused before anything was written."""

    def __init__(self, message: str, *, field: str | None = None, entity_type: str | None = None):
        self.field = field
        self.entity_type = entity_type
        super().__init__(message)


class InvalidFilter(ValidationError):
    """A filter names an unknown field or suffix, or carries a value of the wrong type."""


class ConfigError(ValidationError):
    """The store configuration is malformed or names an unsupported backend."""


class InvalidCursor(ValidationError):
    """A paging cursor was tampered with, is malformed, or belongs to another query."""


class TransactionTooLarge(PersistenceError):
    """A unit of work exceeds what the backend can commit atomically; nothing was sent."""


class ItemTooLarge(ValidationError):
    """One entity is larger than the backend's item limit (DynamoDB: 400 KB)."""

    def __init__(self, entity_type: str, key: str, size: int, limit: int) -> None:
        self.key = key
        self.size = size
        self.limit = limit
        super().__init__(
            f"{entity_type} {key!r} is {size} bytes, over the {limit}-byte item limit",
            entity_type=entity_type,
        )


class BackendUnavailable(PersistenceError):
    """The backend refused or timed out the connection."""


class SchemaOutOfDate(PersistenceError):
    """The schema is missing or not at this code's head revision."""


class SchemaNewerThanCode(SchemaOutOfDate):
    """The database was migrated by a newer ohf-persistence (a revision this code does not
    know): upgrade the package; ``migrate`` refuses, reading may still work."""

    def __init__(self, message: str, *, revision: str) -> None:
        super().__init__(message)
        self.revision = revision


class ForeignTables(SchemaOutOfDate):
    """The database holds tables (or indexes, views, types) named like ohf_persistence's that
    ohf_persistence did not create (no schema revision). Nothing touches them: ``migrate``
    would fail half-way on them and opening a store would read someone else's data. A
    ``SchemaOutOfDate``, so existing handlers of "no schema" still catch it."""

    def __init__(self, where: str, names: list[str]) -> None:
        self.names = names
        super().__init__(
            f"{where} holds tables that are not ohf_persistence's: {', '.join(names)} (named "
            "like its own, but the database has no ohf_persistence schema revision); "
            "ohf_persistence will not touch them: use a different database (on PostgreSQL, or "
            "a schema of its own, first in the role's search_path); nothing was changed"
        )


class StoreClosed(PersistenceError):
    """The store was closed: no repository or unit-of-work call works after ``close()``."""


__all__ = [
    "AlreadyExists",
    "BackendUnavailable",
    "ConcurrencyConflict",
    "ConfigError",
    "EntityNotFound",
    "ForeignTables",
    "InvalidCursor",
    "InvalidFilter",
    "InvalidStatusTransition",
    "ItemTooLarge",
    "PersistenceError",
    "SchemaNewerThanCode",
    "SchemaOutOfDate",
    "StoreClosed",
    "TransactionTooLarge",
    "ValidationError",
]
