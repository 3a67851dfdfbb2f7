"""PynamoDB models, generated per store.

A PynamoDB model class carries its table name, endpoint, region and credentials in ``Meta``
and caches its connection on the class, so every store builds its own classes: two stores with
different tables or endpoints in one process never share a model.

Layout of each table (see docs/dynamodb.md): the entity key is the hash key; every entity field
is an attribute of the same name (absent when None); ``ohf_kind`` holds the entity type so the
``by_key`` index (hash ``ohf_kind``, range = entity key) lists the whole table in key order.
The other global secondary indexes have the queried field as hash key and the entity key as
range key, so each Query comes back sorted by key. Every index projects all attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pynamodb.attributes import Attribute, BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from ...domain import Machine, Request, Template
from ...domain.entities import ENTITY_TYPES, Entity
from .attributes import EnumText, JSONText, UTCDateTimeText
from .settings import DynamoSettings

KIND_ATTR = "ohf_kind"
KEY_INDEX = "by_key"
# field -> index name, per entity: the fields the ports query by
INDEXED_FIELDS: dict[type[Entity], tuple[str, ...]] = {
    Template: ("provider_type",),
    Request: ("status",),
    Machine: ("request_id", "return_request_id", "status"),
}


def index_name(field: str) -> str:
    return f"by_{field}"


@dataclass(frozen=True)
class EntityModel:
    """One entity's model class, its table and its indexes (field -> index name)."""

    entity: type[Entity]
    model: Any  # a generated subclass of pynamodb.models.Model
    table_name: str
    indexes: dict[str, str]

    def index(self, name: str) -> Any:
        return self.model._indexes[name]

    @property
    def all_index_names(self) -> tuple[str, ...]:
        return (KEY_INDEX, *self.indexes.values())


def _attribute(entity: type[Entity], name: str) -> Attribute[Any]:
    if name == entity.KEY:
        return UnicodeAttribute(hash_key=True)
    if name in entity.CONTAINERS:
        return JSONText(null=True)
    kind = entity.SCALARS[name]
    if issubclass(kind, StrEnum):
        return EnumText(kind, null=True)
    if kind is bool:
        return BooleanAttribute(null=True)
    if kind is int:
        return NumberAttribute(null=True)
    if kind is datetime:
        return UTCDateTimeText(null=True)
    return UnicodeAttribute(null=True)


def _index(name: str, hash_field: str, key_field: str) -> GlobalSecondaryIndex[Any]:
    meta = type("Meta", (), {"index_name": name, "projection": AllProjection()})
    cls = type(
        f"Index_{name}",
        (GlobalSecondaryIndex,),
        {
            "Meta": meta,
            hash_field: UnicodeAttribute(hash_key=True),
            key_field: UnicodeAttribute(range_key=True),
        },
    )
    index: GlobalSecondaryIndex[Any] = cls()
    return index


def _meta(settings: DynamoSettings, table_name: str) -> type:
    values: dict[str, Any] = {
        "table_name": table_name,
        "region": settings.region,
        "host": settings.endpoint_url,
        "connect_timeout_seconds": settings.connect_timeout,
        "read_timeout_seconds": settings.read_timeout,
        "max_retry_attempts": settings.max_retry_attempts,
        "max_pool_connections": settings.max_pool_connections,
        "billing_mode": "PAY_PER_REQUEST",
    }
    return type("Meta", (), values)


def build_models(settings: DynamoSettings) -> dict[type[Entity], EntityModel]:
    """Fresh model classes for one store."""
    tables = dict(zip(ENTITY_TYPES, settings.tables, strict=True))
    built: dict[type[Entity], EntityModel] = {}
    for entity in ENTITY_TYPES:
        namespace: dict[str, Any] = {
            "Meta": _meta(settings, tables[entity]),
            KIND_ATTR: UnicodeAttribute(),
            "__module__": __name__,
        }
        for name in entity.FIELD_NAMES:
            namespace[name] = _attribute(entity, name)
        indexes = {KEY_INDEX: _index(KEY_INDEX, KIND_ATTR, entity.KEY)}
        for field in INDEXED_FIELDS[entity]:
            indexes[index_name(field)] = _index(index_name(field), field, entity.KEY)
        namespace.update(indexes)
        model = type(f"{entity.ENTITY_TYPE}Model", (Model,), namespace)
        built[entity] = EntityModel(
            entity=entity,
            model=model,
            table_name=tables[entity],
            indexes={field: index_name(field) for field in INDEXED_FIELDS[entity]},
        )
    return built
