"""Field validators shared by the entities.

The rules are deliberately the intersection of what every backend stores exactly (SQLite JSON,
PostgreSQL JSONB, DynamoDB), so one value is either accepted everywhere or refused everywhere:
no NUL characters (PostgreSQL text cannot hold them) and no lone surrogates (not UTF-8, so
neither PostgreSQL nor DynamoDB can store them), finite floats other than ``-0.0`` (JSONB keeps
no sign on zero), 64-bit ints, nesting depth at most 32 (DynamoDB's limit), str dict keys, and
datetimes from ``DATETIME_MIN`` to ``DATETIME_MAX`` (PostgreSQL's driver turns Python's
``datetime.min`` / ``datetime.max`` into -infinity / infinity; the one-day margin keeps every
accepted value convertible to any time zone without overflow).

Accepted values are normalised to the exact built-in types: a subclass of ``str`` / ``int`` /
``float`` / ``dict`` / ``list`` / ``datetime`` (a ``StrEnum`` or ``IntEnum`` member, an
``OrderedDict``, a ``defaultdict`` ...) becomes the plain value every SQL and DynamoDB read
returns, so the in-memory backend gives back the same types. ``bool`` stays ``bool``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from operator import countOf
from typing import Any, TypeVar

from .errors import ValidationError

MAX_ID_LENGTH = 255
MAX_COUNT = 2**31 - 1
MAX_JSON_DEPTH = 32
JSON_INT_MIN = -(2**63)
JSON_INT_MAX = 2**63 - 1
# The one accepted range of datetimes (UTC, inclusive), identical on every backend.
DATETIME_MIN = datetime(1, 1, 2, tzinfo=UTC)
DATETIME_MAX = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)

_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# Characters no backend can store in a string: NUL and lone UTF-16 surrogates.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


Validator = Callable[[Any, str, str], Any]
E = TypeVar("E", bound=StrEnum)


def _fail(entity: str, field: str, message: str) -> ValidationError:
    return ValidationError(f"{entity}.{field}: {message}", field=field, entity_type=entity)


def plain_str(value: str) -> str:
    """``value`` as an exact ``str`` (a subclass's own ``__str__`` is bypassed)."""
    return value if type(value) is str else str.__str__(value)


def _as_str(value: Any, field: str, entity: str) -> str:
    """A value that is not exactly a str: a subclass's plain str (a StrEnum member's value,
    whatever its ``__str__`` says), anything else refused."""
    if not isinstance(value, str):
        raise _fail(entity, field, f"must be a str, got {type(value).__name__}")
    return str.__str__(value)


def _as_int(value: Any, field: str, entity: str) -> int:
    """A value that is not exactly an int: a subclass's plain int (an IntEnum member's value),
    anything else (bool included) refused."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(entity, field, f"must be an int, got {type(value).__name__}")
    return int.__int__(value)


def check_id(value: Any, field: str, entity: str) -> str:
    text: str = value if type(value) is str else _as_str(value, field, entity)
    if not 1 <= len(text) <= MAX_ID_LENGTH:
        raise _fail(entity, field, f"must be 1-{MAX_ID_LENGTH} characters, got {len(text)}")
    if _CONTROL.search(text):
        raise _fail(entity, field, "must not contain control characters or lone surrogates")
    return text


def check_optional_id(value: Any, field: str, entity: str) -> str | None:
    return None if value is None else check_id(value, field, entity)


def check_text(value: Any, field: str, entity: str) -> str:
    text: str = value if type(value) is str else _as_str(value, field, entity)
    if not storable(text):
        raise _fail(entity, field, "must not contain NUL characters or lone surrogates")
    return text


def check_optional_text(value: Any, field: str, entity: str) -> str | None:
    return None if value is None else check_text(value, field, entity)


def check_count(value: Any, field: str, entity: str) -> int:
    number: int = value if type(value) is int else _as_int(value, field, entity)
    if not 0 <= number <= MAX_COUNT:
        raise _fail(entity, field, f"must be between 0 and {MAX_COUNT}, got {number}")
    return number


def check_bool(value: Any, field: str, entity: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(entity, field, f"must be a bool, got {type(value).__name__}")
    return value


def to_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC.

    Raises OverflowError when the conversion leaves Python's range (``datetime.min`` at +05:00);
    ``datetime_problem`` is the checked form."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def datetime_problem(value: datetime) -> tuple[datetime | None, str | None]:
    """``(value in UTC, None)`` if ``value`` is in the accepted range, else ``(None, why)``."""
    try:
        utc = to_utc(value)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not DATETIME_MIN <= utc <= DATETIME_MAX:
        return None, (
            f"{value.isoformat()} is outside the accepted range "
            f"{DATETIME_MIN.isoformat()} to {DATETIME_MAX.isoformat()}"
        )
    return utc, None


def check_datetime(value: Any, field: str, entity: str) -> datetime:
    # Fast path (every stamp the package makes): an aware UTC datetime inside the range.
    if type(value) is datetime and value.tzinfo is UTC and DATETIME_MIN <= value <= DATETIME_MAX:
        return value
    if not isinstance(value, datetime):
        raise _fail(entity, field, f"must be a datetime, got {type(value).__name__}")
    utc, problem = datetime_problem(value)
    if utc is None:
        raise _fail(entity, field, str(problem))
    if type(utc) is not datetime:  # a subclass (pandas' Timestamp, ...): the plain datetime
        utc = datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=UTC)
    return utc


def check_optional_datetime(value: Any, field: str, entity: str) -> datetime | None:
    return None if value is None else check_datetime(value, field, entity)


def check_enum(enum: type[E]) -> Callable[[Any, str, str], E]:
    allowed = ", ".join(m.value for m in enum)

    def check(value: Any, field: str, entity: str) -> E:
        if isinstance(value, enum):
            return value
        if isinstance(value, str):
            try:
                return enum(value)
            except ValueError:
                pass
        raise _fail(entity, field, f"{value!r} is not one of: {allowed}")

    return check


def check_str_list(value: Any, field: str, entity: str) -> list[str]:
    # One pass in C for the common case (``_all_storable``); a problem is then found again
    # below for its message.
    if type(value) is list and _all_storable(value):
        return value
    if not isinstance(value, list):
        raise _fail(entity, field, f"must be a list of str, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, str) or not storable(item):
            raise _fail(entity, field, f"items must be storable str, got {item!r:.80}")
    return [plain_str(item) for item in value]  # a list subclass, str subclasses: plain


def check_json_dict(value: Any, field: str, entity: str) -> dict[str, Any]:
    if type(value) is dict and _plainly_storable(value):
        return value
    if not isinstance(value, dict):
        raise _fail(entity, field, f"must be a dict, got {type(value).__name__}")
    problem = json_problem(value, 0)
    if problem:
        raise _fail(entity, field, problem)
    result: dict[str, Any] = plain_json(value)
    return result


def plainly_storable(str_lists: Iterable[Any], dicts: Iterable[Any]) -> bool:
    """True when every value would pass ``check_str_list`` / ``check_json_dict``, decided in
    one quick pass over all of them (an entity's containers at once; see ``_plainly_storable``).
    False means "not sure": check each value with its own function for the answer."""
    strings: list[str] = []
    for value in str_lists:
        if type(value) is not list:
            return False
        strings += value  # join below refuses any item that is not a str
    for value in dicts:
        if type(value) is not dict:
            return False
        if value:
            strings += value
            if not _walk(value.values(), 1, strings):
                return False
    return _all_storable(strings)


def _plainly_storable(value: dict[str, Any]) -> bool:
    """True when ``json_problem(value, 0)`` is None, decided in one quick pass: only plain
    ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` are looked at, and every
    string (keys included) is collected and searched once. False means "not sure":
    ``json_problem`` then walks the value again for the message (so no result changes)."""
    if not value:
        return True
    strings = list(value)  # the keys: join below refuses any that is not a str
    if not _walk(value.values(), 1, strings):
        return False
    return _all_storable(strings)


def _all_storable(strings: list[str]) -> bool:
    """Every item an exact str, none holding a character no backend can store (one search)."""
    try:
        if _UNSTORABLE.search("".join(strings)) is not None:
            return False
    except TypeError:  # an item that is not a str
        return False
    # join also takes str subclasses (a StrEnum member ...), which must be made plain.
    return countOf(map(type, strings), str) == len(strings)


def _walk(items: Any, depth: int, strings: list[str]) -> bool:
    for item in items:
        kind = type(item)
        if kind is str:
            strings.append(item)
        elif kind is int:
            if not JSON_INT_MIN <= item <= JSON_INT_MAX:
                return False
        elif kind is dict:
            if depth >= MAX_JSON_DEPTH:
                return False
            strings.extend(item)
            if not _walk(item.values(), depth + 1, strings):
                return False
        elif kind is list:
            if depth >= MAX_JSON_DEPTH or not _walk(item, depth + 1, strings):
                return False
        elif kind is float:
            if not math.isfinite(item) or (item == 0.0 and math.copysign(1.0, item) < 0):
                return False
        elif item is not None and kind is not bool:
            return False
    return True


def json_problem(value: Any, depth: int) -> str | None:
    """Why ``value`` is not a JSON value every backend stores exactly, or None."""
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and not storable(value):
            return "strings must not contain NUL characters or lone surrogates"
        return None
    if isinstance(value, int):
        if not JSON_INT_MIN <= value <= JSON_INT_MAX:
            return f"int {value} is outside the 64-bit range"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"float {value} is not finite"
        if value == 0.0 and math.copysign(1.0, value) < 0:
            return "float -0.0 is not stored exactly by every backend (use 0.0)"
        return None
    if depth >= MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"dict keys must be str, got {type(key).__name__}"
            if not storable(key):
                return "dict keys must not contain NUL characters or lone surrogates"
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
        if type(value) is not dict or any(type(k) is not str for k in value):
            # str subclasses may hash apart yet be the same text: plain, one would be lost
            seen: set[str] = set()
            for key in map(plain_str, value):
                if key in seen:
                    return f"two dict keys are the same text {key!r} (once made plain str)"
                seen.add(key)
        return None
    if isinstance(value, list):
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return f"{type(value).__name__} is not a JSON value"


def plain_json(value: Any) -> Any:
    """A copy of a value ``json_problem`` accepted, made of the exact built-in types only (what
    SQL and DynamoDB reads return): an ``IntEnum`` member becomes its int, a ``StrEnum`` member
    or other str subclass its str, an ``OrderedDict`` a dict, a list subclass a list."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return plain_str(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return {plain_str(k): plain_json(v) for k, v in value.items()}
    return [plain_json(v) for v in value]


def json_copy(value: Any) -> Any:
    """Deep copy of a JSON value (much cheaper than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value
