"""Initial schema: templates, requests, machines and the indexes of every port query.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written by hand (the types are spelled out here, not imported from the package, so this
revision keeps meaning the same DDL whatever later code does). ``alembic check`` compares it
with ``ohf_persistence.adapters.sql.models``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(name: str, nullable: bool = False) -> sa.Column[str]:
    # Keys and ids order by code point on both databases: COLLATE "C" on PostgreSQL.
    kind = sa.String(255).with_variant(postgresql.VARCHAR(255, collation="C"), "postgresql")
    return sa.Column(name, kind, nullable=nullable)


def _text(name: str) -> sa.Column[str]:
    kind = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
    return sa.Column(name, kind, nullable=True)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False)


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _int(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False)


def _status(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(32), nullable=False)


def _common() -> list[sa.Column[object]]:
    return [_int("version"), _when("created_at"), _when("updated_at")]  # type: ignore[list-item]


def upgrade() -> None:
    op.create_table(
        "templates",
        _key("template_id"),
        _text("name"),
        _text("description"),
        _key("provider_type"),
        _text("provider_name"),
        _text("provider_api"),
        _int("max_number"),
        _json("attributes"),
        _json("configuration"),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_common(),
        sa.PrimaryKeyConstraint("template_id", name="pk_templates"),
    )
    op.create_index("ix_templates_provider_type", "templates", ["provider_type", "template_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_templates_attributes", "templates", ["attributes"], postgresql_using="gin"
        )

    op.create_table(
        "requests",
        _key("request_id"),
        _status("request_type"),
        _key("template_id", nullable=True),
        _text("provider_type"),
        _text("provider_name"),
        _text("provider_api"),
        _int("requested_count"),
        _status("status"),
        _text("status_message"),
        _json("machine_ids"),
        _json("resource_ids"),
        _int("successful_count"),
        _int("failed_count"),
        _when("started_at"),
        _when("completed_at"),
        _when("first_status_check"),
        _when("last_status_check"),
        _when("deadline_at"),
        _json("metadata"),
        _json("error_details"),
        _json("provider_data"),
        *_common(),
        sa.PrimaryKeyConstraint("request_id", name="pk_requests"),
    )
    op.create_index("ix_requests_status", "requests", ["status", "request_id"])

    op.create_table(
        "machines",
        _key("machine_id"),
        _text("name"),
        _key("template_id", nullable=True),
        _key("request_id", nullable=True),
        _key("return_request_id", nullable=True),
        *[
            _text(name)
            for name in (
                "provider_type",
                "provider_name",
                "provider_api",
                "resource_id",
                "instance_type",
                "image_id",
                "price_type",
                "private_ip",
                "public_ip",
                "private_dns_name",
                "public_dns_name",
                "subnet_id",
                "vpc_id",
            )
        ],
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
        sa.PrimaryKeyConstraint("machine_id", name="pk_machines"),
    )
    op.create_index("ix_machines_request_id", "machines", ["request_id", "machine_id"])
    op.create_index(
        "ix_machines_return_request_id", "machines", ["return_request_id", "machine_id"]
    )
    op.create_index("ix_machines_status", "machines", ["status", "machine_id"])


def downgrade() -> None:
    op.drop_table("machines")
    op.drop_table("requests")
    op.drop_table("templates")
