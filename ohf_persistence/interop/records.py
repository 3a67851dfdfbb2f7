"""Entities as plain JSON values: our own lossless JSON Lines records and datetime text.

A record is ``{"type": "machine", "id": key, "version": n, "data": {field: value}}`` where
``data`` holds every other field: datetimes as ISO 8601 UTC text with microseconds, enums as
their strings, containers as they are. Decoding validates every field (``from_dict``), so a
record that decodes is one every backend accepts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..domain import Machine, Request, Template, ValidationError
from ..domain.entities import ENTITY_TYPES, Entity
from ..domain.validation import datetime_problem

TYPES_BY_NAME: dict[str, type[Entity]] = {
    "template": Template,
    "request": Request,
    "machine": Machine,
}
TYPE_NAMES: dict[type[Entity], str] = {cls: name for name, cls in TYPES_BY_NAME.items()}
# Parents first: the order an import writes in (and the reverse of the order it undoes in).
DATETIME_FIELDS: dict[type[Entity], frozenset[str]] = {
    cls: frozenset(n for n, t in cls.SCALARS.items() if t is datetime) for cls in ENTITY_TYPES
}
FORMAT_HEADER = {"format": "ohf-persistence-jsonl", "format_version": 1}

# fromisoformat in 3.11 accepts "Z" and any offset; this pattern keeps out the odd forms it
# also accepts (week dates, no separators) that no ORB or ohf_persistence writer produces.
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_datetime(text: Any, field: str, entity: str) -> datetime:
    """ISO 8601 text to an aware UTC datetime; naive text is UTC (ORB writes all three forms)."""
    if not isinstance(text, str) or not _ISO.match(text):
        raise ValidationError(
            f"{entity}.{field}: expected an ISO 8601 datetime, got {text!r:.60}",
            field=field,
            entity_type=entity,
        )
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"{entity}.{field}: {exc}", field=field, entity_type=entity) from exc
    utc, problem = datetime_problem(parsed)  # the domain's range, not a raw OverflowError
    if utc is None:
        raise ValidationError(f"{entity}.{field}: {problem}", field=field, entity_type=entity)
    return utc


def entity_to_data(entity: Entity) -> dict[str, Any]:
    """Every field as a JSON value (containers are copies)."""
    data = entity.to_dict()
    for name, value in data.items():
        if isinstance(value, datetime):
            data[name] = format_datetime(value)
        elif isinstance(value, StrEnum):
            data[name] = value.value
    return data


def entity_to_record(entity: Entity) -> dict[str, Any]:
    data = entity_to_data(entity)
    version = data.pop("version")
    key = data.pop(entity.KEY)
    return {"type": TYPE_NAMES[type(entity)], "id": key, "version": version, "data": data}


def data_to_entity(cls: type[Entity], data: dict[str, Any]) -> Entity:
    """Validate and build; datetime text is parsed first. Raises ValidationError."""
    values = dict(data)
    for name in DATETIME_FIELDS[cls]:
        if values.get(name) is not None:
            values[name] = parse_datetime(values[name], name, cls.ENTITY_TYPE)
    return cls.from_dict(values)


def record_to_entity(record: Any) -> Entity:
    """A JSON Lines record back to its entity (with the record's version)."""
    if not isinstance(record, dict):
        raise ValidationError(f"a record must be a JSON object, got {type(record).__name__}")
    kind = record.get("type")
    cls = TYPES_BY_NAME.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValidationError(
            f"record type {kind!r} is not one of: {', '.join(TYPES_BY_NAME)}", field="type"
        )
    key, version, data = record.get("id"), record.get("version"), record.get("data")
    if key is None:
        raise ValidationError(f"{cls.ENTITY_TYPE} record has no 'id'", field=cls.KEY)
    if not isinstance(data, dict):
        raise ValidationError(f"{cls.ENTITY_TYPE} record 'data' must be an object", field="data")
    if cls.KEY in data or "version" in data:
        raise ValidationError(
            f"{cls.ENTITY_TYPE} record repeats 'id' or 'version' inside 'data'", field="data"
        )
    return data_to_entity(cls, {**data, cls.KEY: key, "version": version})


def record_key(record: Any) -> str | None:
    """The id of a (possibly invalid) record, for error reports."""
    if isinstance(record, dict):
        key = record.get("id")
        if isinstance(key, str):
            return key
    return None
