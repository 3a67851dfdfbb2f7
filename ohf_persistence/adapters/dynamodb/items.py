"""Rows (dicts of entity field values) to PynamoDB items and back, plus item sizes and limits.

The model's attribute classes (``attributes.py``) are the only encoding: writes serialize a
model instance, reads deserialize one, so both directions always agree.
"""

from __future__ import annotations

from typing import Any

from ...domain.errors import ItemTooLarge
from ...storage import Row
from .models import KIND_ATTR, EntityModel

ITEM_LIMIT = 400 * 1024  # DynamoDB's item size limit, attribute names included
TRANSACTION_BYTES_LIMIT = 4 * 1024 * 1024
TRANSACTION_ACTIONS_LIMIT = 100


def to_model(em: EntityModel, row: Row) -> Any:
    return em.model(**{KIND_ATTR: em.entity.ENTITY_TYPE, **row})


def from_model(em: EntityModel, model: Any) -> Row:
    values = model.attribute_values
    return {name: values.get(name) for name in em.entity.FIELD_NAMES}


def from_item(em: EntityModel, item: dict[str, Any]) -> Row:
    return from_model(em, em.model.from_raw_data(item))


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """DynamoDB's size of a serialized item: attribute names plus values (numbers rounded up)."""
    size = 0
    for name, typed in item.items():
        size += len(name.encode())
        for kind, value in typed.items():
            if kind == "S":
                size += len(value.encode("utf-8", "surrogatepass"))
            elif kind == "N":
                size += len(value) // 2 + 2
            else:
                size += 1
    return size


def checked_item(em: EntityModel, row: Row) -> tuple[Any, int]:
    """The model instance for ``row`` and its size; ItemTooLarge over DynamoDB's limit."""
    model = to_model(em, row)
    size = item_size(model.serialize())
    if size > ITEM_LIMIT:
        raise too_large(em, row, size)
    return model, size


def too_large(em: EntityModel, row: Row, size: int | None = None) -> ItemTooLarge:
    """The error for ``row`` (its size computed when not given)."""
    if size is None:
        size = item_size(to_model(em, row).serialize())
    return ItemTooLarge(em.entity.ENTITY_TYPE, str(row[em.entity.KEY]), size, ITEM_LIMIT)


def is_size_refusal(exc: BaseException) -> bool:
    """DynamoDB refused a write because the item would exceed its size limit (nothing was
    written: the refusal is atomic)."""
    from .errors import client_error

    found = client_error(exc)
    if found is None:
        return False
    error = found.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "size" in error.get("Message", "")
