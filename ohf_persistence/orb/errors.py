"""Our errors as ORB's: ConcurrencyError (ORB retries on it), ORB's storage error types."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def translate(what: str) -> Iterator[None]:
    """Raise ORB's exception type for any of ours (ours stays as ``__cause__``)."""
    from orb.domain.base.exceptions import ConcurrencyError, EntityNotFoundError
    from orb.infrastructure.storage.exceptions import (
        ConnectionError,
        DatabaseError,
        DataIntegrityError,
        StorageError,
        TransactionError,
    )

    try:
        yield
    except ConcurrencyConflict as exc:
        raise ConcurrencyError(
            f"{what}: {exc}; re-read the entity, re-apply the change and retry",
            details={
                "entity_type": exc.entity_type,
                "entity_id": exc.key,
                "expected_version": exc.expected_version,
                "actual_version": exc.actual_version,
            },
        ) from exc
    except EntityNotFound as exc:
        raise EntityNotFoundError(exc.entity_type, exc.key) from exc
    except ValidationError as exc:
        text = f"{what}: {exc}"
        raise readable(DataIntegrityError(text, entity_type=exc.entity_type), text) from exc
    except BackendUnavailable as exc:
        raise readable(ConnectionError(f"{what}: {exc}"), f"{what}: {exc}") from exc
    except SchemaOutOfDate as exc:
        text = f"{what}: {exc}"
        raise readable(DatabaseError(text, storage_type="ohf"), text) from exc
    except TransactionTooLarge as exc:
        raise readable(TransactionError(f"{what}: {exc}"), f"{what}: {exc}") from exc
    except PersistenceError as exc:
        raise readable(StorageError(f"{what}: {exc}", cause=exc), f"{what}: {exc}") from exc
