"""Entity builders and helpers shared by the contract suite."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..domain import Machine, MachineStatus, Request, RequestStatus, RequestType, Template
from ..domain.entities import Entity
from ..ports import Repository, Store, UnitOfWork

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def make_template(template_id: str = "tpl-1", **values: Any) -> Template:
    defaults: dict[str, Any] = {
        "name": f"Template {template_id}",
        "provider_api": "EC2Fleet",
        "max_number": 10,
        "attributes": {"type": ["String", "X86_64"], "ncpus": ["Numeric", "2"]},
        "configuration": {"image_id": "ami-0123", "instance_types": {"m5.large": 1}},
    }
    return Template(template_id=template_id, **{**defaults, **values})


def make_request(request_id: str = "req-1", **values: Any) -> Request:
    defaults: dict[str, Any] = {
        "request_type": RequestType.ACQUIRE,
        "template_id": "tpl-1",
        "requested_count": 2,
        "metadata": {"source": "contract"},
    }
    return Request(request_id=request_id, **{**defaults, **values})


def make_machine(machine_id: str = "i-1", **values: Any) -> Machine:
    defaults: dict[str, Any] = {
        "name": f"host-{machine_id}",
        "template_id": "tpl-1",
        "request_id": "req-1",
        "instance_type": "m5.large",
        "private_ip": "10.0.0.1",
        "security_group_ids": ["sg-1"],
        "tags": {"Name": machine_id},
    }
    return Machine(machine_id=machine_id, **{**defaults, **values})


Builder = Callable[..., Entity]
KINDS: dict[str, Builder] = {
    "templates": make_template,
    "requests": make_request,
    "machines": make_machine,
}


def repo(holder: Store | UnitOfWork, kind: str) -> Repository[Any]:
    result: Repository[Any] = getattr(holder, kind)
    return result


async def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Everything stored, as plain values, for 'nothing changed' checks."""
    return {kind: [e.to_dict() for e in await repo(store, kind).get_all()] for kind in KINDS}


__all__ = [
    "KINDS",
    "T0",
    "MachineStatus",
    "RequestStatus",
    "make_machine",
    "make_request",
    "make_template",
    "repo",
    "snapshot",
]
