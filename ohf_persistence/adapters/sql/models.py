"""The three tables (Core ``Table`` objects: the schema Alembic manages).

Column names are the entity field names, so a row maps to its entity without renaming. Plain
Core keeps the ORM out of the import graph: opening a store imports only what a call needs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, Table

from ...domain import Machine, Request, Template
from ...domain.entities import Entity
from .internals import ddl_if_dialect
from .types import UTCDateTime, json_type, key_type, status_type, text_type

# The Alembic revision this code's tables correspond to. Opening a store compares the database's
# ``alembic_version`` with it without importing Alembic; tests/test_sql_layout.py checks that it
# is the head of migrations/ (add a revision -> update this).
SCHEMA_HEAD = "0001"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _key(name: str) -> Column[Any]:
    return Column(name, key_type(), primary_key=True)


def _id(name: str, nullable: bool = True) -> Column[Any]:
    return Column(name, key_type(), nullable=nullable)


def _text(name: str) -> Column[Any]:
    return Column(name, text_type(), nullable=True)


def _json(name: str) -> Column[Any]:
    return Column(name, json_type(), nullable=False)


def _when(name: str, nullable: bool = True) -> Column[Any]:
    return Column(name, UTCDateTime(), nullable=nullable)


def _count(name: str) -> Column[Any]:
    return Column(name, Integer, nullable=False)


def _status(name: str) -> Column[Any]:
    return Column(name, status_type(), nullable=False)


def _common() -> list[Column[Any]]:
    return [Column("version", Integer, nullable=False), _when("created_at"), _when("updated_at")]


templates = Table(
    "templates",
    metadata,
    _key("template_id"),
    _text("name"),
    _text("description"),
    _id("provider_type", nullable=False),
    _text("provider_name"),
    _text("provider_api"),
    _count("max_number"),
    _json("attributes"),
    _json("configuration"),
    Column("is_active", Boolean, nullable=False),
    *_common(),
    Index("ix_templates_provider_type", "provider_type", "template_id"),
    # GIN index for find_by_attributes' ``attributes @> :wanted`` (PostgreSQL only; its
    # ``postgresql_using`` is set by postgresql_options(): a dialect keyword here would import
    # the PostgreSQL dialect on every SQLite store).
    Index("ix_templates_attributes", "attributes").ddl_if(dialect="postgresql"),
)

requests = Table(
    "requests",
    metadata,
    _key("request_id"),
    _status("request_type"),
    _id("template_id"),
    _text("provider_type"),
    _text("provider_name"),
    _text("provider_api"),
    _count("requested_count"),
    _status("status"),
    _text("status_message"),
    _json("machine_ids"),
    _json("resource_ids"),
    _count("successful_count"),
    _count("failed_count"),
    _when("started_at"),
    _when("completed_at"),
    _when("first_status_check"),
    _when("last_status_check"),
    _when("deadline_at"),
    _json("metadata"),
    _json("error_details"),
    _json("provider_data"),
    *_common(),
    Index("ix_requests_status", "status", "request_id"),
)

machines = Table(
    "machines",
    metadata,
    _key("machine_id"),
    _text("name"),
    _id("template_id"),
    _id("request_id"),
    _id("return_request_id"),
    _text("provider_type"),
    _text("provider_name"),
    _text("provider_api"),
    _text("resource_id"),
    _text("instance_type"),
    _text("image_id"),
    _text("price_type"),
    _text("private_ip"),
    _text("public_ip"),
    _text("private_dns_name"),
    _text("public_dns_name"),
    _text("subnet_id"),
    _text("vpc_id"),
    _json("security_group_ids"),
    _status("status"),
    _text("status_reason"),
    _when("launch_time"),
    _when("provisioning_started_at"),
    _when("termination_time"),
    _json("tags"),
    _json("metadata"),
    _json("provider_data"),
    *_common(),
    Index("ix_machines_request_id", "request_id", "machine_id"),
    Index("ix_machines_return_request_id", "return_request_id", "machine_id"),
    Index("ix_machines_status", "status", "machine_id"),
)


def postgresql_options() -> None:
    """Complete the PostgreSQL-only parts of the tables (idempotent). Called whenever a
    PostgreSQL database is opened (engine.Database), so Alembic and DDL see them."""
    gin = next(ix for ix in templates.indexes if ix.name == "ix_templates_attributes")
    if gin.dialect_kwargs.get("postgresql_using") != "gin":
        gin.dialect_kwargs["postgresql_using"] = "gin"


TABLES: dict[type[Entity], Table] = {Template: templates, Request: requests, Machine: machines}


def _check_columns() -> None:
    # Every entity field must be a column of the same name (rows map to entities by name).
    for entity, table in TABLES.items():
        if set(table.c.keys()) != set(entity.FIELD_NAMES):
            missing = set(entity.FIELD_NAMES) ^ set(table.c.keys())
            raise RuntimeError(f"{table.name} columns differ from {entity.__name__}: {missing}")


_check_columns()


def include_object_for(dialect: str) -> Any:
    """Alembic ``include_object`` hook: skip indexes that exist on another dialect only
    (Alembic's autogenerate does not honour ``ddl_if``)."""

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "index" and not reflected and isinstance(obj, Index):
            wanted = ddl_if_dialect(obj)
            if wanted is not None and wanted != dialect:
                return False
        return True

    return include_object
