"""Declarative models of the three tables (the schema Alembic manages).

Column names are the entity field names, so a row maps to ``Entity.restore`` without renaming.
The repositories use the Core ``Table`` objects (``TABLES``); ORM instances are never created
on the read paths and never leave the adapter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, MetaData, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ...domain import Machine, Request, Template
from ...domain.entities import Entity
from .types import UTCDateTime, json_type, key_type, status_type, text_type

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _key() -> Mapped[str]:
    return mapped_column(key_type(), primary_key=True)


def _id(nullable: bool = True) -> Any:
    return mapped_column(key_type(), nullable=nullable)


def _text() -> Any:
    return mapped_column(text_type(), nullable=True)


def _json() -> Any:
    return mapped_column(json_type(), nullable=False)


def _when(nullable: bool = True) -> Any:
    return mapped_column(UTCDateTime(), nullable=nullable)


def _count() -> Mapped[int]:
    return mapped_column(Integer, nullable=False)


class _Common:
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime | None] = _when()
    updated_at: Mapped[datetime | None] = _when()


class TemplateRow(_Common, Base):
    __tablename__ = "templates"
    template_id: Mapped[str] = _key()
    name: Mapped[str | None] = _text()
    description: Mapped[str | None] = _text()
    provider_type: Mapped[str] = _id(nullable=False)
    provider_name: Mapped[str | None] = _text()
    provider_api: Mapped[str | None] = _text()
    max_number: Mapped[int] = _count()
    attributes: Mapped[dict[str, Any]] = _json()
    configuration: Mapped[dict[str, Any]] = _json()
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False)

    __table_args__ = (
        Index("ix_templates_provider_type", "provider_type", "template_id"),
        # GIN index for find_by_attributes' ``attributes @> :wanted`` (PostgreSQL only).
        Index("ix_templates_attributes", "attributes", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )


class RequestRow(_Common, Base):
    __tablename__ = "requests"
    request_id: Mapped[str] = _key()
    request_type: Mapped[str] = mapped_column(status_type(), nullable=False)
    template_id: Mapped[str | None] = _id()
    provider_type: Mapped[str | None] = _text()
    provider_name: Mapped[str | None] = _text()
    provider_api: Mapped[str | None] = _text()
    requested_count: Mapped[int] = _count()
    status: Mapped[str] = mapped_column(status_type(), nullable=False)
    status_message: Mapped[str | None] = _text()
    machine_ids: Mapped[list[str]] = _json()
    resource_ids: Mapped[list[str]] = _json()
    successful_count: Mapped[int] = _count()
    failed_count: Mapped[int] = _count()
    started_at: Mapped[datetime | None] = _when()
    completed_at: Mapped[datetime | None] = _when()
    first_status_check: Mapped[datetime | None] = _when()
    last_status_check: Mapped[datetime | None] = _when()
    deadline_at: Mapped[datetime | None] = _when()
    # ``metadata`` is reserved on declarative classes: the attribute is renamed, not the column.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", json_type(), nullable=False)
    error_details: Mapped[dict[str, Any]] = _json()
    provider_data: Mapped[dict[str, Any]] = _json()

    __table_args__ = (Index("ix_requests_status", "status", "request_id"),)


class MachineRow(_Common, Base):
    __tablename__ = "machines"
    machine_id: Mapped[str] = _key()
    name: Mapped[str | None] = _text()
    template_id: Mapped[str | None] = _id()
    request_id: Mapped[str | None] = _id()
    return_request_id: Mapped[str | None] = _id()
    provider_type: Mapped[str | None] = _text()
    provider_name: Mapped[str | None] = _text()
    provider_api: Mapped[str | None] = _text()
    resource_id: Mapped[str | None] = _text()
    instance_type: Mapped[str | None] = _text()
    image_id: Mapped[str | None] = _text()
    price_type: Mapped[str | None] = _text()
    private_ip: Mapped[str | None] = _text()
    public_ip: Mapped[str | None] = _text()
    private_dns_name: Mapped[str | None] = _text()
    public_dns_name: Mapped[str | None] = _text()
    subnet_id: Mapped[str | None] = _text()
    vpc_id: Mapped[str | None] = _text()
    security_group_ids: Mapped[list[str]] = _json()
    status: Mapped[str] = mapped_column(status_type(), nullable=False)
    status_reason: Mapped[str | None] = _text()
    launch_time: Mapped[datetime | None] = _when()
    provisioning_started_at: Mapped[datetime | None] = _when()
    termination_time: Mapped[datetime | None] = _when()
    tags: Mapped[dict[str, Any]] = _json()
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", json_type(), nullable=False)
    provider_data: Mapped[dict[str, Any]] = _json()

    __table_args__ = (
        Index("ix_machines_request_id", "request_id", "machine_id"),
        Index("ix_machines_return_request_id", "return_request_id", "machine_id"),
        Index("ix_machines_status", "status", "machine_id"),
    )


metadata = Base.metadata

TABLES: dict[type[Entity], Table] = {
    Template: TemplateRow.__table__,  # type: ignore[dict-item]
    Request: RequestRow.__table__,  # type: ignore[dict-item]
    Machine: MachineRow.__table__,  # type: ignore[dict-item]
}


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
            ddl_if = getattr(obj, "_ddl_if", None)
            wanted = getattr(ddl_if, "dialect", None)
            if wanted is not None and wanted != dialect:
                return False
        return True

    return include_object
