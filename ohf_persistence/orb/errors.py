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
        raise DataIntegrityError(f"{what}: {exc}", entity_type=exc.entity_type) from exc
    except BackendUnavailable as exc:
        raise ConnectionError(f"{what}: {exc}") from exc
    except SchemaOutOfDate as exc:
        raise DatabaseError(f"{what}: {exc}", storage_type="ohf") from exc
    except TransactionTooLarge as exc:
        raise TransactionError(f"{what}: {exc}") from exc
    except PersistenceError as exc:
        raise StorageError(f"{what}: {exc}", cause=exc) from exc
