"""ORB's ``find_by_criteria`` on our indexed queries, checked the way ORB's strategies check."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from ..domain import Machine, Template
from ..domain.entities import Entity
from ..ports import Repository

Query = Callable[[Repository[Any]], Coroutine[Any, Any, list[Entity]]]


def indexed_query(cls: type[Entity], criteria: Mapping[str, Any]) -> Query:
    """The narrowest of our queries that holds every record matching ``criteria``."""
    by_key = criteria.get(cls.KEY)
    if isinstance(by_key, str):

        async def one(repo: Repository[Any]) -> list[Entity]:
            found = await repo.get_by_id(by_key)
            return [] if found is None else [found]

        return one
    for name in ("request_id", "return_request_id", "status"):
        value = criteria.get(name)
        if not isinstance(value, str) or (name != "status" and cls is not Machine):
            continue
        if name == "status" and cls is Template:
            continue

        async def indexed(repo: Repository[Any], name: str = name, value: str = value) -> list[Any]:
            if name == "request_id":
                return list(await repo.get_by_request_id(value))  # type: ignore[attr-defined]
            if name == "return_request_id":
                return list(await repo.get_by_return_request_id(value))  # type: ignore[attr-defined]
            try:
                return list(await repo.get_by_status(value))  # type: ignore[attr-defined]
            except ValueError:  # not one of our statuses: nothing can match
                return []

        return indexed
    filters = _scalar_filters(cls, criteria)

    async def scan(repo: Repository[Any]) -> list[Entity]:
        return list(await repo.get_all(filters or None))

    return scan


# ORB's ``version`` and ``updated_at`` are not our store's (interop/orb.py keeps ORB's apart):
# criteria on them are checked on the ORB records only.
ORBS_OWN = ("version", "updated_at")


def _scalar_filters(cls: type[Entity], criteria: Mapping[str, Any]) -> dict[str, Any]:
    """The criteria our filters can take as they are (str / bool / int on scalar fields)."""
    renames = {"max_instances": "max_number"} if cls is Template else {}
    out: dict[str, Any] = {}
    for name, value in criteria.items():
        if name in ORBS_OWN:
            continue
        ours = renames.get(name, name)
        kind = cls.SCALARS.get(ours)
        if kind is None or value is None or isinstance(value, list | dict):
            continue
        # bool is an int in Python: an int field must not take True, nor a bool field 1
        if isinstance(value, kind) and (kind is bool) == isinstance(value, bool):
            out[ours] = value
    return out


def matches(record: Mapping[str, Any], criteria: Mapping[str, Any]) -> bool:
    """ORB's ``BaseStorageStrategy._matches_criteria`` (plus the JSON strategy's ``$in``)."""
    for name, value in criteria.items():
        if "." in name:
            current: Any = record
            *path, last = name.split(".")
            for part in path:
                if not isinstance(current, Mapping) or part not in current:
                    return False
                current = current[part]
            if not isinstance(current, Mapping) or last not in current or current[last] != value:
                return False
        elif isinstance(value, Mapping) and "$in" in value:
            if name not in record or record[name] not in value["$in"]:
                return False
        elif isinstance(record.get(name), list) and not isinstance(value, list):
            if value not in record[name]:
                return False
        elif name not in record or record[name] != value:
            return False
    return True
