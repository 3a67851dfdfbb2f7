"""The Host Factory workload: templates, requests of 20 machines, and the machines themselves.

Every id starts with a per-run prefix, so a bench can run against a store that already holds
data (its own rows are found by key range and removed at the end) and two runs never collide.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..domain import Machine, MachineStatus, Request, RequestStatus, RequestType, Template

MACHINES_PER_REQUEST = 20
TEMPLATE_COUNT = 3
INSTANCE_ID_CHUNK = 1_000
PAGE_SIZE = 100
# One machine in RARE_EVERY gets the rare status (a fixed share, so the scaling run's answer
# for it has the same size at 10k and at 1M: background rows never take it).
RARE_STATUS = MachineStatus.UNKNOWN
RARE_EVERY = 500
UPDATE_TARGET = MachineStatus.TERMINATED
UPDATE_REASON = "bench: terminated"
# One machine in SINGLE_EVERY (the last ones) is written by the per-call save_new phase, one
# autocommitted save each; the others by save_many.
SINGLE_EVERY = 5
# Initial statuses, weighted like a busy cluster; none is final, so every machine may move to
# UPDATE_TARGET.
_STATUS_CYCLE: tuple[MachineStatus, ...] = (
    *(MachineStatus.RUNNING,) * 14,
    MachineStatus.PENDING,
    MachineStatus.PENDING,
    MachineStatus.LAUNCHING,
    MachineStatus.LAUNCHING,
    MachineStatus.STOPPING,
    MachineStatus.STOPPED,
)
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def new_prefix() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}-"


def machine_id(prefix: str, index: int) -> str:
    # Zero-padded so key order is creation order and a prefix range holds exactly one run.
    return f"{prefix}i{index:08d}"


def request_id(prefix: str, index: int) -> str:
    return f"{prefix}req{index:07d}"


def key_range(prefix: str) -> tuple[str, str]:
    """[low, high) bounds of every machine id of the run with this prefix."""
    return prefix + "i", prefix + "j"


def initial_status(index: int) -> MachineStatus:
    if index % RARE_EVERY == RARE_EVERY // 2:
        return RARE_STATUS
    return _STATUS_CYCLE[index % len(_STATUS_CYCLE)]


def make_template(prefix: str, index: int) -> Template:
    return Template(
        template_id=f"{prefix}tpl{index}",
        name=f"bench template {index}",
        provider_type="aws",
        provider_name="aws-default",
        provider_api="EC2Fleet",
        max_number=1_000,
        attributes={"type": ["String", "X86_64"], "ncpus": ["Numeric", str(2 ** (index + 1))]},
        configuration={"instance_type": f"m5.{['large', 'xlarge', '2xlarge'][index % 3]}"},
    )


def make_request(prefix: str, index: int, template_id: str, ids: list[str]) -> Request:
    return Request(
        request_id=request_id(prefix, index),
        request_type=RequestType.ACQUIRE,
        template_id=template_id,
        provider_name="aws-default",
        provider_api="EC2Fleet",
        requested_count=len(ids),
        status=RequestStatus.IN_PROGRESS,
        machine_ids=ids,
        resource_ids=[f"fleet-{index:012x}"],
        metadata={"user": "hf", "bench": True},
    )


def make_machine(
    prefix: str,
    index: int,
    *,
    template_id: str | None,
    request: str | None,
    status: MachineStatus | None = None,
) -> Machine:
    launched = _EPOCH + timedelta(seconds=index)
    return Machine(
        machine_id=machine_id(prefix, index),
        name=f"host-{index:08d}",
        template_id=template_id,
        request_id=request,
        provider_name="aws-default",
        provider_api="EC2Fleet",
        resource_id=f"fleet-{index // MACHINES_PER_REQUEST:012x}",
        instance_type="m5.large",
        image_id="ami-0123456789abcdef0",
        price_type="ondemand",
        private_ip=f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}",
        private_dns_name=f"ip-10-{index >> 16 & 255}-{index >> 8 & 255}-{index & 255}.ec2.internal",
        subnet_id="subnet-0a1b2c3d",
        vpc_id="vpc-0a1b2c3d",
        security_group_ids=["sg-0a1b2c3d"],
        status=initial_status(index) if status is None else status,
        launch_time=launched,
        tags={"Name": f"host-{index:08d}", "owner": "hostfactory"},
        provider_data={"availability_zone": "us-east-1a", "weight": 1},
        created_at=launched,
        updated_at=launched,
    )


@dataclass
class Workload:
    prefix: str
    templates: list[Template]
    requests: list[Request]
    machines: list[Machine]
    # get_by_id order: shuffled with a fixed seed, so primary-key reads are not sequential.
    lookup_order: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.machines)

    @property
    def singles(self) -> list[Machine]:
        """The machines save_new writes one call each (the last fifth)."""
        return self.machines[len(self.bulk) :]

    @property
    def bulk(self) -> list[Machine]:
        """The machines save_many writes."""
        return self.machines[: self.size - self.size // SINGLE_EVERY]

    @property
    def key_range(self) -> tuple[str, str]:
        return key_range(self.prefix)

    @property
    def page_filters(self) -> dict[str, Any]:
        low, high = self.key_range
        return {"machine_id_gte": low, "machine_id_lt": high}

    def instance_id_chunks(self) -> Iterator[list[str]]:
        for start in range(0, len(self.lookup_order), INSTANCE_ID_CHUNK):
            yield self.lookup_order[start : start + INSTANCE_ID_CHUNK]

    def status_counts(self) -> dict[MachineStatus, int]:
        counts = dict.fromkeys(MachineStatus, 0)
        for machine in self.machines:
            counts[machine.status] += 1
        return counts


def build(machines: int, prefix: str | None = None, seed: int = 0) -> Workload:
    """``machines`` machines in requests of 20, round-robin over a few templates."""
    if machines < 1:
        raise ValueError("the workload needs at least one machine")
    prefix = prefix or new_prefix()
    templates = [make_template(prefix, t) for t in range(TEMPLATE_COUNT)]
    requests: list[Request] = []
    built: list[Machine] = []
    for start in range(0, machines, MACHINES_PER_REQUEST):
        index = start // MACHINES_PER_REQUEST
        template = templates[index % TEMPLATE_COUNT].template_id
        ids = [machine_id(prefix, i) for i in range(start, min(start + 20, machines))]
        request = make_request(prefix, index, template, ids)
        requests.append(request)
        built.extend(
            make_machine(prefix, i, template_id=template, request=request.request_id)
            for i in range(start, start + len(ids))
        )
    order = [m.machine_id for m in built]
    random.Random(seed).shuffle(order)
    return Workload(prefix, templates, requests, built, order)


def background(prefix: str, start: int, count: int) -> list[Machine]:
    """Filler machines for the scaling run: never in the rare status, in their own requests."""
    return [
        make_machine(
            prefix,
            i,
            template_id=None,
            request=request_id(prefix, i // MACHINES_PER_REQUEST),
            status=MachineStatus.TERMINATED if i % 2 else MachineStatus.RUNNING,
        )
        for i in range(start, start + count)
    ]


def public_ip(index: int) -> str:
    """The value save_changed gives a machine's ``public_ip`` (one field changed per save)."""
    return f"54.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
