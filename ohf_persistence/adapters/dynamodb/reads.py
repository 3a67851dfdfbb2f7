"""Synchronous read operations (run in worker threads): GetItem, BatchGetItem and index Queries.

A parsed filter becomes a ``Plan``: which index to Query (an eq/in condition on an indexed
field picks that field's index, anything else the ``by_key`` index, which holds the whole table
under one hash key), the key range (from the cursor and filters on the entity key), and a
FilterExpression for the other conditions. Each index's range key is the entity key, so results
arrive in key order and a page or a limit stops reading early. No read issues a Scan.
Every row is also checked with ``query.matches`` (the reference semantics): conditions that
cannot go into an expression (on the index's own key attributes) are evaluated there.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ...domain.errors import BackendUnavailable
from ...query import Condition, matches
from ...storage import Row, key_range
from .items import from_item, from_model
from .models import KEY_INDEX, EntityModel

BATCH_GET_LIMIT = 100
BATCH_GET_ATTEMPTS = 8


@dataclass(frozen=True)
class Plan:
    index: str
    hash_values: tuple[str, ...]
    range_condition: Any  # pynamodb Condition on the entity key, or None
    filter_condition: Any  # pynamodb Condition, or None
    conditions: tuple[Condition, ...]
    exact: bool  # the expressions alone decide membership (Select=COUNT may be used)
    empty: bool = False  # provably no results: no call needed
    # Rows the key condition may return only to be dropped here: BETWEEN is inclusive, so an
    # exclusive bound (a page's cursor) can come back once; asked for on top of ``want``.
    slack: int = 0


def _scalar(value: Any) -> Any:
    return getattr(value, "value", value)  # enums as their string values


def _expression(attr: Any, cond: Condition) -> Any:
    if cond.op == "eq":
        return attr.does_not_exist() if cond.value is None else attr == cond.value
    if cond.op == "in":
        return attr.is_in(*cond.value)
    return {"gt": attr.__gt__, "gte": attr.__ge__, "lt": attr.__lt__, "lte": attr.__le__}[cond.op](
        cond.value
    )


def plan(em: EntityModel, conditions: tuple[Condition, ...], after: str | None) -> Plan:
    key = em.entity.KEY
    chosen = next(
        (
            c
            for c in conditions
            if c.field in em.indexes and c.op in ("eq", "in") and c.value is not None
        ),
        None,
    )
    hash_values: tuple[str, ...]
    if chosen is None:
        index, hash_values = KEY_INDEX, (em.entity.ENTITY_TYPE,)
    else:
        index = em.indexes[chosen.field]
        raw = chosen.value if chosen.op == "in" else (chosen.value,)
        # An index key is never an empty string (DynamoDB refuses them), so "" matches nothing.
        hash_values = tuple(v for v in (str(_scalar(x)) for x in raw) if v)
    exact, empty, filters, slack = True, not hash_values, [], 0
    lower, upper = key_range(key, conditions, after)
    for cond in conditions:
        if cond is chosen:
            continue
        if cond.field == key:
            exact = False  # range bounds below are inclusive; matches() applies the rest
            continue
        if chosen is not None and cond.field == chosen.field:
            exact = False  # the index hash key cannot appear in a FilterExpression
            continue
        if cond.op == "in" and not cond.value:
            empty = True
            continue
        filters.append(_expression(getattr(em.model, cond.field), cond))
    key_attr = getattr(em.model, key)
    range_condition = None
    if lower is not None and lower[0] == "":
        lower = None  # every key is > "" (keys are never empty)
    if upper is not None and (upper[0] == "" or (lower is not None and upper[0] < lower[0])):
        empty = True
    elif lower is not None and upper is not None:
        range_condition = key_attr.between(lower[0], upper[0])
        slack = (not lower[1]) + (not upper[1])
    elif lower is not None:
        range_condition = key_attr >= lower[0] if lower[1] else key_attr > lower[0]
    elif upper is not None:
        range_condition = key_attr <= upper[0] if upper[1] else key_attr < upper[0]
    filter_condition = None
    for expr in filters:
        filter_condition = expr if filter_condition is None else filter_condition & expr
    return Plan(
        index, hash_values, range_condition, filter_condition, conditions, exact, empty, slack
    )


def _rows(
    em: EntityModel, plan_: Plan, hash_value: str, after: str | None, want: int | None
) -> Iterator[Row]:
    # Without a filter, ask DynamoDB for exactly what is needed; with one, read 1 MB pages.
    page_size = None if want is None or plan_.filter_condition is not None else want + plan_.slack
    results = em.index(plan_.index).query(
        hash_value,
        range_key_condition=plan_.range_condition,
        filter_condition=plan_.filter_condition,
        page_size=page_size,
        scan_index_forward=True,
    )
    key = em.entity.KEY
    for model in results:
        row = from_model(em, model)
        if (after is None or row[key] > after) and matches(row, plan_.conditions):
            yield row


def query_rows(em: EntityModel, plan_: Plan, after: str | None, want: int | None) -> list[Row]:
    """Matching rows after ``after`` in key order, at most ``want`` (None: all)."""
    if plan_.empty or want == 0:
        return []
    streams = [_rows(em, plan_, value, after, want) for value in plan_.hash_values]
    key = em.entity.KEY
    merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda r: r[key])
    found: list[Row] = []
    for row in merged:
        found.append(row)
        if want is not None and len(found) >= want:
            break
    return found


def count_rows(em: EntityModel, plan_: Plan) -> int:
    """Select=COUNT Queries; only for exact plans."""
    if plan_.empty:
        return 0
    index = em.index(plan_.index)
    return sum(
        index.count(
            value,
            range_key_condition=plan_.range_condition,
            filter_condition=plan_.filter_condition,
        )
        for value in plan_.hash_values
    )


def get_row(em: EntityModel, key: str) -> Row | None:
    try:
        model = em.model.get(key, consistent_read=True)
    except em.model.DoesNotExist:
        return None
    return from_model(em, model)


def batch_get_rows(em: EntityModel, keys: Sequence[str]) -> dict[str, Row]:
    """Consistent BatchGetItem in chunks of 100; UnprocessedKeys retried with backoff."""
    connection = em.model._get_connection().connection
    key_name, found = em.entity.KEY, {}
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        todo = [{key_name: {"S": k}} for k in keys[start : start + BATCH_GET_LIMIT]]
        for attempt in range(BATCH_GET_ATTEMPTS):
            request = {em.table_name: {"Keys": todo, "ConsistentRead": True}}
            data = connection.dispatch("BatchGetItem", {"RequestItems": request})
            for item in data.get("Responses", {}).get(em.table_name, []):
                row = from_item(em, item)
                found[row[key_name]] = row
            todo = data.get("UnprocessedKeys", {}).get(em.table_name, {}).get("Keys") or []
            if not todo:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        else:
            raise BackendUnavailable(
                f"DynamoDB BatchGetItem on {em.table_name}: keys still unprocessed after "
                f"{BATCH_GET_ATTEMPTS} attempts with backoff (throttled)"
            )
    return found
