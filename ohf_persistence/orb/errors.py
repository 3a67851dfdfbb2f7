"""Our errors as ORB's: ConcurrencyError (ORB retries on it), ORB's storage error types."""

from __future__ import annotations

from ..domain import (
    BackendUnavailable,
    ConcurrencyConflict,
    EntityNotFound,
    PersistenceError,
    SchemaOutOfDate,
    TransactionTooLarge,
    ValidationError,
)


def readable(exc: Exception, message: str) -> Exception:
    """ORB's storage errors pass "Storage" as their message and the text as the error code;
    keep both, but make ``str(exc)`` the text an operator needs."""
    exc.args = (message,)
    exc.message = message  # type: ignore[attr-defined]
    return exc


def orb_error(what: str, exc: PersistenceError) -> Exception:
    """ORB's exception for one of ours (ORB's modules imported only when one is raised)."""
    from orb.domain.base.exceptions import ConcurrencyError, EntityNotFoundError
    from orb.infrastructure.storage.exceptions import (
        ConnectionError,
        DatabaseError,
        DataIntegrityError,
        StorageError,
        TransactionError,
    )

    text = f"{what}: {exc}"
    if isinstance(exc, ConcurrencyConflict):
        conflict: Exception = ConcurrencyError(
            f"{text}; re-read the entity, re-apply the change and retry",
            details={
                "entity_type": exc.entity_type,
                "entity_id": exc.key,
                "expected_version": exc.expected_version,
                "actual_version": exc.actual_version,
            },
        )
        return conflict
    if isinstance(exc, EntityNotFound):
        missing: Exception = EntityNotFoundError(exc.entity_type, exc.key)
        return missing
    if isinstance(exc, ValidationError):
        return readable(DataIntegrityError(text, entity_type=exc.entity_type), text)
    if isinstance(exc, BackendUnavailable):
        return readable(ConnectionError(text), text)
    if isinstance(exc, SchemaOutOfDate):
        return readable(DatabaseError(text, storage_type="ohf"), text)
    if isinstance(exc, TransactionTooLarge):
        return readable(TransactionError(text), text)
    return readable(StorageError(text, cause=exc), text)
