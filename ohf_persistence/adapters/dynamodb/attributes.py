"""PynamoDB attribute types that round-trip every entity value exactly.

* JSON dicts and lists are stored as one compact JSON string: DynamoDB numbers would turn
  ``1.0`` into ``1`` (and Decimal into float), a string keeps the exact Python value.
* Datetimes are fixed-width ISO-8601 UTC strings with microseconds, so string comparison in
  filter expressions (``_gt`` / ``_lt``) is chronological comparison.
* Enums are stored as their string values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.constants import STRING

from ...domain.validation import to_utc

_DT_LEN = len("2024-01-01T00:00:00.000000Z")


def format_datetime(value: datetime) -> str:
    value = to_utc(value)
    # strftime("%Y") does not zero-pad years below 1000 everywhere: format by hand.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}Z"
    )


def parse_datetime(text: str) -> datetime:
    if len(text) != _DT_LEN or not text.endswith("Z"):
        raise ValueError(f"not an ohf_persistence timestamp: {text!r}")
    return datetime.strptime(text[:-1], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class UTCDateTimeText(Attribute[datetime]):
    attr_type = STRING

    def serialize(self, value: datetime) -> str:
        return format_datetime(value)

    def deserialize(self, value: str) -> datetime:
        return parse_datetime(value)


class JSONText(Attribute[Any]):
    attr_type = STRING

    def serialize(self, value: Any) -> str:
        return dump_json(value)

    def deserialize(self, value: str) -> Any:
        return json.loads(value)


class EnumText(Attribute[StrEnum]):
    attr_type = STRING

    def __init__(self, enum: type[StrEnum], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enum = enum

    def serialize(self, value: StrEnum | str) -> str:
        return self.enum(value).value

    def deserialize(self, value: str) -> StrEnum:
        return self.enum(value)
