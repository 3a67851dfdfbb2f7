"""Backend-neutral query pieces: filter parsing, in-Python evaluation, limits and cursors.

Every adapter parses filters here first, so an unknown field, suffix or mistyped value is
refused identically everywhere; adapters then translate the parsed ``Condition`` list into SQL
or DynamoDB expressions (values always bound, never text). ``matches`` is the reference
semantics (also used by the memory backend and by DynamoDB's unit-of-work overlay):
a stored NULL matches only ``field=None``.

Ranges (one rule for every backend, enforced here before any backend call):

- integer filter values may be any int: every int field holds 0..``MAX_COUNT``, so a value
  outside that range is rewritten into the in-range condition with the same answer (``_gte``
  2**70 matches nothing, ``_lt`` 2**70 matches every row) and never reaches a driver;
- datetime filter values must lie in the entities' accepted range (``DATETIME_MIN`` ..
  ``DATETIME_MAX``), else ``InvalidFilter`` naming the filter;
- ``limit`` / ``offset`` are ints >= 0 of any size; above ``MAX_ROWS`` they act as ``MAX_ROWS``
  (no call returns or skips more entities than that).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from .domain.entities import Entity, Machine
from .domain.errors import InvalidCursor, InvalidFilter, ValidationError
from .domain.validation import (
    MAX_COUNT,
    MAX_JSON_DEPTH,
    check_json_dict,
    datetime_problem,
    storable,
)

Op = Literal["eq", "in", "gt", "gte", "lt", "lte"]
SUFFIXES: dict[str, Op] = {"_in": "in", "_gte": "gte", "_lte": "lte", "_gt": "gt", "_lt": "lt"}
MAX_IN_VALUES = 100  # DynamoDB's IN takes at most 100 operands; one rule for every backend
MAX_PAGE_SIZE = 10_000
# Limits and offsets above this act as this (it fits every backend's integer parameters).
MAX_ROWS = 2**31 - 1
# Every int scalar field is a count: 0..MAX_COUNT on every backend (PostgreSQL INTEGER).
INT_FIELD_MIN, INT_FIELD_MAX = 0, MAX_COUNT


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: Op
    value: Any  # normalised: enums as members, datetimes aware UTC, "in" as a tuple


def parse_filters(entity: type[Entity], filters: Mapping[str, Any] | None) -> tuple[Condition, ...]:
    if filters is None:
        return ()
    if not isinstance(filters, Mapping):
        raise InvalidFilter(f"filters must be a mapping, got {type(filters).__name__}")
    return tuple(_parse_one(entity, key, value) for key, value in filters.items())


def _parse_one(entity: type[Entity], key: Any, value: Any) -> Condition:
    if not isinstance(key, str):
        raise InvalidFilter(f"filter keys must be str, got {key!r:.80}", field=str(key)[:80])
    scalars = entity.SCALARS
    op: Op
    if key in scalars:
        name, op = key, "eq"
    else:
        for suffix, suffix_op in SUFFIXES.items():
            if key.endswith(suffix) and key[: -len(suffix)] in scalars:
                name, op = key[: -len(suffix)], suffix_op
                break
        else:
            raise _unknown(entity, key)
    kind = scalars[name]
    if op == "in":
        if not isinstance(value, list | tuple | set | frozenset):
            raise InvalidFilter(f"filter {key!r} needs a list of values", field=key)
        if len(value) > MAX_IN_VALUES:
            raise InvalidFilter(f"filter {key!r} has more than {MAX_IN_VALUES} values", field=key)
        items = tuple(_typed(entity, key, name, item, allow_none=False) for item in value)
        if kind is int:  # an out-of-range int matches no stored value
            items = tuple(i for i in items if INT_FIELD_MIN <= i <= INT_FIELD_MAX)
        return Condition(name, op, tuple(sorted(set(items), key=str)))
    if op != "eq" and (kind is bool or issubclass(kind, StrEnum)):
        raise InvalidFilter(f"filter {key!r}: {name} can only be compared for equality", field=key)
    typed = _typed(entity, key, name, value, allow_none=op == "eq")
    if kind is int and typed is not None and not INT_FIELD_MIN <= typed <= INT_FIELD_MAX:
        return _int_outside(name, op, typed)
    return Condition(name, op, typed)


def _int_outside(name: str, op: Op, value: int) -> Condition:
    """The in-range condition equivalent to comparing a count field with an int outside
    INT_FIELD_MIN..INT_FIELD_MAX: it matches every row or none, so no driver ever sees an int
    its column type cannot bind (PostgreSQL INTEGER, SQLite's 64 bits)."""
    below = value < INT_FIELD_MIN
    matches_all = (op in ("gt", "gte") and below) or (op in ("lt", "lte") and not below)
    if matches_all:  # int count fields are never NULL
        return Condition(name, "gte", INT_FIELD_MIN)
    return Condition(name, "in", ())  # eq, or a comparison no stored value satisfies


def _unknown(entity: type[Entity], key: str) -> InvalidFilter:
    for name in entity.SCALARS:
        if key.startswith(name + "_"):
            suffix = key[len(name) :]
            return InvalidFilter(
                f"filter {key!r}: unknown suffix {suffix!r} for {entity.ENTITY_TYPE}.{name} "
                f"(known: {', '.join(SUFFIXES)})",
                field=key,
            )
    return InvalidFilter(
        f"filter {key[:80]!r}: {entity.ENTITY_TYPE} has no filterable field of that name "
        f"(filterable: {', '.join(sorted(entity.SCALARS))})",
        field=key[:80],
    )


def _typed(entity: type[Entity], key: str, name: str, value: Any, *, allow_none: bool) -> Any:
    kind = entity.SCALARS[name]
    if value is None:
        if allow_none and name in entity.NULLABLE:
            return None
        raise InvalidFilter(f"filter {key!r} cannot compare with None", field=key)
    if issubclass(kind, StrEnum):
        try:
            return kind(value)
        except ValueError as exc:
            allowed = ", ".join(m.value for m in kind)
            raise InvalidFilter(
                f"filter {key!r}: {value!r} is not one of: {allowed}", field=key
            ) from exc
    ok = (
        isinstance(value, bool)
        if kind is bool
        else isinstance(value, int) and not isinstance(value, bool)
        if kind is int
        else isinstance(value, kind)
    )
    if not ok:
        raise InvalidFilter(
            f"filter {key!r} needs a {kind.__name__}, got {type(value).__name__}", field=key
        )
    if kind is datetime:
        utc, problem = datetime_problem(value)
        if utc is None:
            raise InvalidFilter(f"filter {key!r}: {problem}", field=key)
        return utc
    if kind is str and not storable(value):
        raise InvalidFilter(
            f"filter {key!r}: value must not contain NUL characters or lone surrogates", field=key
        )
    return value


def matches(values: Mapping[str, Any], conditions: tuple[Condition, ...]) -> bool:
    """Reference semantics of a filter on one entity's field values."""
    for cond in conditions:
        stored = values[cond.field]
        if cond.op == "eq":
            if stored != cond.value or (stored is None) != (cond.value is None):
                return False
            continue
        if stored is None:
            return False
        if cond.op == "in":
            if stored not in cond.value:
                return False
        elif cond.op == "gt":
            if not stored > cond.value:
                return False
        elif cond.op == "gte":
            if not stored >= cond.value:
                return False
        elif cond.op == "lt":
            if not stored < cond.value:
                return False
        elif not stored <= cond.value:
            return False
    return True


def check_limit_offset(limit: Any, offset: Any) -> tuple[int | None, int]:
    """``limit`` / ``offset``: None or an int >= 0 of any size, clamped to MAX_ROWS."""
    for name, number in (("limit", limit), ("offset", offset)):
        if number is not None and (
            not isinstance(number, int) or isinstance(number, bool) or number < 0
        ):
            raise ValidationError(
                f"{name} must be an int >= 0 or None, got {number!r:.40}", field=name
            )
    return (None if limit is None else min(limit, MAX_ROWS)), min(offset or 0, MAX_ROWS)


def check_page_size(limit: Any) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"page limit must be an int from 1 to {MAX_PAGE_SIZE}", field="limit")
    return limit


def check_key(entity: type[Entity], key: Any) -> str:
    """Validate an id argument the way the entity validates its key."""
    checked: str = entity.VALIDATORS[entity.KEY](key, entity.KEY, entity.ENTITY_TYPE)
    return checked


# Cursors are signed so a tampered one is refused, and carry the query's fingerprint so a cursor
# from another query (or another entity type) is refused too. This is integrity, not secrecy.
_CURSOR_KEY = b"ohf_persistence.cursor.v1"


def _fingerprint(entity: type[Entity], conditions: tuple[Condition, ...]) -> str:
    parts = [
        [c.field, c.op, [str(x) for x in c.value] if c.op == "in" else str(c.value)]
        for c in sorted(conditions, key=lambda c: (c.field, c.op, str(c.value)))
    ]
    raw = json.dumps([entity.ENTITY_TYPE, parts], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_cursor(entity: type[Entity], conditions: tuple[Condition, ...], last_key: str) -> str:
    body = json.dumps({"q": _fingerprint(entity, conditions), "k": last_key}, separators=(",", ":"))
    raw = body.encode()
    sig = hmac.new(_CURSOR_KEY, raw, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(sig + raw).decode().rstrip("=")


def decode_cursor(entity: type[Entity], conditions: tuple[Condition, ...], cursor: Any) -> str:
    """The last key of the previous page, or InvalidCursor."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > 2048:
        raise InvalidCursor("cursor must be a non-empty str from a previous page", field="cursor")
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sig, raw = blob[:12], blob[12:]
        if not hmac.compare_digest(sig, hmac.new(_CURSOR_KEY, raw, hashlib.sha256).digest()[:12]):
            raise ValueError("bad signature")
        body = json.loads(raw)
        key, fingerprint = body["k"], body["q"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("cursor is malformed or was tampered with", field="cursor") from exc
    if fingerprint != _fingerprint(entity, conditions) or not isinstance(key, str):
        raise InvalidCursor(
            f"cursor belongs to another query than this {entity.ENTITY_TYPE} page", field="cursor"
        )
    return key


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality as every backend sees it: numbers compare numerically, bools are not
    numbers, lists compare in order, dicts by their keys."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def check_attributes(attributes: Any) -> dict[str, Any]:
    """The argument of ``find_by_attributes``: a dict of str keys to JSON values.

    A ``-0.0`` in the query is compared as ``0.0`` (equal numbers), although it cannot be
    stored."""
    try:
        return check_json_dict(_unsigned_zero(attributes), "attributes", "Template")
    except ValidationError as exc:
        raise InvalidFilter(str(exc), field="attributes") from exc


def _unsigned_zero(value: Any, depth: int = 0) -> Any:
    if depth > MAX_JSON_DEPTH:  # too deep: left as is for check_json_dict to refuse
        return value
    if isinstance(value, dict):
        return {k: _unsigned_zero(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsigned_zero(v, depth + 1) for v in value]
    return 0.0 if isinstance(value, float) and value == 0.0 else value


def check_instance_ids(ids: Any) -> list[str]:
    """The argument of ``get_by_instance_ids``: a sequence of machine ids (not one str)."""
    if isinstance(ids, str | bytes) or not hasattr(ids, "__iter__"):
        raise ValidationError("instance ids must be a list of str", field="instance_ids")
    return [check_key(Machine, i) for i in ids]


def attributes_match(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """``find_by_attributes``' rule: every wanted key is present and JSON-equal."""
    return all(k in stored and json_equal(stored[k], v) for k, v in wanted.items())
