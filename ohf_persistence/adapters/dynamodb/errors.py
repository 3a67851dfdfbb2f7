"""Translation of botocore and PynamoDB exceptions into the package's error hierarchy.

Every call into PynamoDB/botocore goes through ``Backend.call``, which uses ``translate`` so no
driver exception escapes; the original stays as ``__cause__``.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from pynamodb.exceptions import PynamoDBException, TableDoesNotExist

from ...domain.errors import (
    BackendUnavailable,
    PersistenceError,
    SchemaOutOfDate,
    ValidationError,
)

MIGRATE_HINT = "run `ohf-persistence migrate --url <this store's dynamodb:// URL>`"
THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    BotoCoreError,
    ClientError,
    PynamoDBException,
    UnicodeEncodeError,
)


def client_error(exc: BaseException) -> ClientError | None:
    """The botocore ClientError behind ``exc`` (PynamoDB wraps it in ``.cause``), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            return current
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return None


def error_code(exc: BaseException) -> str | None:
    found = client_error(exc)
    if found is None:
        return None
    code: str | None = found.response.get("Error", {}).get("Code")
    return code


def _root(exc: BaseException) -> BaseException:
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def translate(exc: BaseException, operation: str, tables: Any = ()) -> PersistenceError:
    """A package error for a driver exception (the caller raises it ``from exc``)."""
    if isinstance(exc, PersistenceError):
        return exc
    names = ", ".join(tables) if tables else "the store's tables"
    if isinstance(exc, TableDoesNotExist):
        return SchemaOutOfDate(f"DynamoDB table missing ({names}): {MIGRATE_HINT}")
    if isinstance(exc, UnicodeEncodeError):
        return ValidationError(f"DynamoDB {operation}: a string is not valid UTF-8 ({exc.reason})")
    found = client_error(exc)
    if found is not None:
        error = found.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        if code == "ResourceNotFoundException":
            return SchemaOutOfDate(
                f"DynamoDB {operation}: table or index not found ({names}): {MIGRATE_HINT}"
            )
        if code in THROTTLED:
            return BackendUnavailable(
                f"DynamoDB {operation}: {code} persisted after retries with backoff: {message}"
            )
        return PersistenceError(f"DynamoDB {operation} failed: {code}: {message}")
    root = _root(exc)
    if isinstance(root, ConnectionError | HTTPClientError | ConnectionClosedError):
        return BackendUnavailable(f"DynamoDB endpoint unreachable during {operation}: {root}")
    if isinstance(root, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return PersistenceError(f"DynamoDB credentials unavailable: {root}")
    if isinstance(root, NoRegionError):
        return PersistenceError(f"DynamoDB region not configured: {root}")
    return PersistenceError(f"DynamoDB {operation} failed: {type(root).__name__}: {root}")
