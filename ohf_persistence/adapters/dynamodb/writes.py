"""Synchronous conditional writes (run in worker threads).

Versions are enforced by condition expressions, never by read-then-write: an insert requires
``attribute_not_exists(key)``, an update ``version = :expected``; ``update_status`` is one
UpdateItem guarded by ``attribute_exists(key) AND status IN (allowed sources)``. A failed
condition asks for the stored item (ReturnValuesOnConditionCheckFailure=ALL_OLD) to report the
actual version; when the endpoint does not return it, one consistent GetItem is made for the
error message only (the write itself has already been refused atomically).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ...domain.entities import utcnow
from ...domain.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyConflict,
    InvalidStatusTransition,
    ItemTooLarge,
    TransactionTooLarge,
)
from ...storage import ANY_VERSION, Row
from .errors import THROTTLED, error_code
from .items import (
    ITEM_LIMIT,
    TRANSACTION_ACTIONS_LIMIT,
    TRANSACTION_BYTES_LIMIT,
    checked_item,
    from_item,
    is_size_refusal,
    item_size,
    too_large,
)
from .models import EntityModel
from .reads import get_row

STATUS_ATTEMPTS = 3


@dataclass(frozen=True)
class Action:
    """One staged write: ``row`` None deletes; ``expected`` None means "must not exist"."""

    em: EntityModel
    key: str
    expected: int | None
    row: Row | None


def _condition(em: EntityModel, expected: int | None) -> Any:
    if expected is None:
        return getattr(em.model, em.entity.KEY).does_not_exist()
    if expected == ANY_VERSION:
        return None
    return em.model.version == expected


def _failure_item(exc: BaseException) -> dict[str, Any] | None:
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ClientError) and "Item" in current.response:
            item: dict[str, Any] = current.response["Item"]
            return item
        current = current.__cause__
    return None


def _stored(em: EntityModel, key: str, item: dict[str, Any] | None) -> Row | None:
    return from_item(em, item) if item else get_row(em, key)


def conflict(
    em: EntityModel, key: str, expected: int | None, item: dict[str, Any] | None
) -> ConcurrencyConflict:
    stored = _stored(em, key, item)
    actual = None if stored is None else stored["version"]
    if expected is None:
        return AlreadyExists(em.entity.ENTITY_TYPE, key, actual)
    return ConcurrencyConflict(em.entity.ENTITY_TYPE, key, expected, actual)


def _put_kwargs(action: Action) -> tuple[dict[str, Any], int]:
    em = action.em
    if action.row is None:
        model = em.model(**{em.entity.KEY: action.key})
        kwargs = model.get_delete_kwargs_from_instance(
            condition=_condition(em, action.expected),
            return_values_on_condition_failure="ALL_OLD",
            add_version_condition=False,
        )
        return {"Delete": kwargs}, item_size(kwargs["Key"])
    model, size = checked_item(em, action.row)
    kwargs = model.get_save_kwargs_from_instance(
        condition=_condition(em, action.expected),
        return_values_on_condition_failure="ALL_OLD",
    )
    return {"Put": kwargs}, size


def put(connection: Any, action: Action) -> None:
    """One conditional PutItem (or DeleteItem) outside a transaction."""
    request, _size = _put_kwargs(action)
    operation, kwargs = next(iter(request.items()))
    try:
        connection.dispatch(f"{operation}Item", kwargs)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise conflict(action.em, action.key, action.expected, _failure_item(exc)) from exc
        if action.row is not None and is_size_refusal(exc):
            raise too_large(action.em, action.row) from exc
        raise


def delete(em: EntityModel, key: str) -> bool:
    """Unconditional DeleteItem; True when an item was removed."""
    model = em.model(**{em.entity.KEY: key})
    kwargs = model.get_delete_kwargs_from_instance(add_version_condition=False)
    kwargs["ReturnValues"] = "ALL_OLD"
    data = em.model._get_connection().connection.dispatch("DeleteItem", kwargs)
    return bool(data.get("Attributes"))


def update_status(
    em: EntityModel,
    key: str,
    status: Any,
    sources: Iterable[Any],
    note_field: str,
    note: str | None,
) -> bool:
    """One conditional UpdateItem; False when the item does not exist. A change that would
    take the item over 400 KB is refused by DynamoDB atomically (nothing written) and raised
    as ItemTooLarge."""
    model_cls, allowed = em.model, sorted(sources)
    actions = [
        model_cls.status.set(status),
        model_cls.version.set(model_cls.version + 1),
        model_cls.updated_at.set(utcnow()),
    ]
    if note is not None:
        actions.append(getattr(model_cls, note_field).set(note))
    key_attr = getattr(model_cls, em.entity.KEY)
    condition = key_attr.exists() & model_cls.status.is_in(*allowed)
    kwargs = model_cls(**{em.entity.KEY: key}).get_update_kwargs_from_instance(
        actions=actions,
        condition=condition,
        return_values_on_condition_failure="ALL_OLD",
        add_version_condition=False,
    )
    connection = model_cls._get_connection().connection
    for _attempt in range(STATUS_ATTEMPTS):
        try:
            connection.dispatch("UpdateItem", kwargs)
            return True
        except ClientError as exc:
            if is_size_refusal(exc):
                raise _status_too_large(em, key, status, note_field, note) from exc
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            stored = _stored(em, key, _failure_item(exc))
            if stored is None:
                return False
            if stored["status"] not in allowed:
                raise InvalidStatusTransition(
                    em.entity.ENTITY_TYPE, key, stored["status"], status
                ) from exc
            # Read after the refusal shows an allowed status: it changed in between; retry.
    raise ConcurrencyConflict(
        em.entity.ENTITY_TYPE,
        key,
        None,
        None,
        f"{em.entity.ENTITY_TYPE} {key!r}: status kept "
        f"changing concurrently; update_status gave up after {STATUS_ATTEMPTS} attempts",
    )


def _status_too_large(
    em: EntityModel, key: str, status: Any, note_field: str, note: str | None
) -> ItemTooLarge:
    # Only for the message: the size the item would have had.
    row = get_row(em, key) or {em.entity.KEY: key}
    row = {**row, "status": status, **({note_field: note} if note is not None else {})}
    try:
        return too_large(em, row)
    except Exception:
        return ItemTooLarge(em.entity.ENTITY_TYPE, key, ITEM_LIMIT + 1, ITEM_LIMIT)


def build_transaction(actions: Sequence[Action]) -> list[dict[str, Any]]:
    """TransactItems for ``actions``; TransactionTooLarge before anything is sent."""
    if len(actions) > TRANSACTION_ACTIONS_LIMIT:
        raise TransactionTooLarge(
            f"a DynamoDB transaction holds at most {TRANSACTION_ACTIONS_LIMIT} writes; "
            f"this unit of work has {len(actions)} (commit smaller units)"
        )
    seen: set[tuple[str, str]] = set()
    items, total = [], 0
    for action in actions:
        target = (action.em.table_name, action.key)
        if target in seen:
            raise TransactionTooLarge(
                f"a DynamoDB transaction cannot write {action.em.entity.ENTITY_TYPE} "
                f"{action.key!r} twice"
            )
        seen.add(target)
        item, size = _put_kwargs(action)
        items.append(item)
        total += size
    if total > TRANSACTION_BYTES_LIMIT:
        raise TransactionTooLarge(
            f"a DynamoDB transaction holds at most {TRANSACTION_BYTES_LIMIT} bytes; "
            f"this unit of work writes about {total}"
        )
    return items


def transact(connection: Any, actions: Sequence[Action], items: list[dict[str, Any]]) -> None:
    """One TransactWriteItems; a cancellation is reported for the first failing item."""
    # The token makes botocore's retries of this very request idempotent.
    request = {"TransactItems": items, "ClientRequestToken": str(uuid.uuid4())}
    try:
        connection.dispatch("TransactWriteItems", request)
    except ClientError as exc:
        if error_code(exc) != "TransactionCanceledException":
            raise
        reasons = list(getattr(exc, "cancellation_reasons", None) or [])
        for action, reason in zip(actions, reasons, strict=False):
            if reason is None:
                continue
            name, key = action.em.entity.ENTITY_TYPE, action.key
            if reason.code == "ConditionalCheckFailed":
                raise conflict(action.em, key, action.expected, reason.raw_item) from exc
            if reason.code == "TransactionConflict":
                raise ConcurrencyConflict(
                    name,
                    key,
                    action.expected,
                    None,
                    f"{name} {key!r}: a concurrent transaction was writing it; nothing written",
                ) from exc
            if reason.code in THROTTLED or reason.code == "ThrottlingError":
                raise BackendUnavailable(
                    f"DynamoDB throttled the transaction on {name} {key!r}; nothing written"
                ) from exc
        raise
