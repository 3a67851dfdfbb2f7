"""``demo``: a Host Factory round trip on a real store, printed as a table of timed steps.

Templates are upserted (same ids every run); requests and machines get fresh ids, so the demo
can run any number of times against one database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..config import open_store
from ..domain import ConcurrencyConflict, Machine, MachineStatus, Request, RequestStatus, Template
from ..ports import Store
from ..text import table
from .common import common_options, shown, store_config

T = TypeVar("T")
# DynamoDB's TransactWriteItems limit (100) minus the request saved in the same unit of work
DYNAMODB_MAX_MACHINES = 99
MAX_MACHINES = 100_000  # a demo, not a load test (that is `bench`); its machines stay stored

SAMPLE_TEMPLATES = [
    Template(
        "demo-ec2fleet-m5",
        name="EC2Fleet m5 spot",
        provider_api="EC2Fleet",
        max_number=100,
        attributes={
            "type": ["String", "X86_64"],
            "ncpus": ["Numeric", "2"],
            "nram": ["Numeric", "8192"],
        },
        configuration={
            "image_id": "ami-0demo0000000001",
            "machine_types": {"m5.large": 1, "m5.xlarge": 2},
            "subnet_ids": ["subnet-0demo1", "subnet-0demo2"],
            "security_group_ids": ["sg-0demo"],
            "price_type": "spot",
            "tags": {"team": "hpc"},
        },
    ),
    Template(
        "demo-runinstances-c5",
        name="RunInstances c5 on-demand",
        provider_api="RunInstances",
        max_number=20,
        attributes={
            "type": ["String", "X86_64"],
            "ncpus": ["Numeric", "4"],
            "nram": ["Numeric", "8192"],
        },
        configuration={"image_id": "ami-0demo0000000002", "instance_type": "c5.xlarge"},
    ),
    Template(
        "demo-asg-m6g",
        name="ASG Graviton",
        provider_api="ASG",
        max_number=50,
        attributes={
            "type": ["String", "ARM64"],
            "ncpus": ["Numeric", "2"],
            "nram": ["Numeric", "8192"],
        },
        configuration={"image_id": "ami-0demo0000000003", "machine_types": {"m6g.large": 1}},
    ),
]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common_options()],
        help="migrate, then run an acquire and a return request through the store",
    )
    p.add_argument("--machines", type=int, default=24, help="machines to acquire (default 24)")
    p.add_argument("--returns", type=int, default=8, help="machines to return (default 8)")
    p.set_defaults(func=run)


class _Steps:
    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.notes: list[str] = []
        # what this run may have written (ids), removed again if the run fails part-way
        self.requests: list[str] = []
        self.machines: list[str] = []

    async def run(
        self, what: str, count: int | Callable[[T], int], action: Callable[[], Awaitable[T]]
    ) -> T:
        start = time.perf_counter()
        result = await action()
        millis = (time.perf_counter() - start) * 1000
        if not isinstance(count, int):
            count = count(result)
        self.rows.append([len(self.rows) + 1, what, count, f"{millis:.1f} ms"])
        return result


def _instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


UPSERT_ATTEMPTS = 20


async def _upsert_templates(store: Store) -> None:
    """Read-modify-write of the sample templates; demos running at once on one database race
    on them, so a conflict (a newer version, or an insert that lost) is read again and retried:
    the upsert is idempotent."""
    for attempt in range(UPSERT_ATTEMPTS):
        try:
            await _upsert_templates_once(store)
            return
        except ConcurrencyConflict:  # AlreadyExists included
            if attempt == UPSERT_ATTEMPTS - 1:
                raise
            await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # spread retries


async def _upsert_templates_once(store: Store) -> None:
    async with store.unit_of_work() as uow:
        for sample in SAMPLE_TEMPLATES:
            stored = await uow.templates.get_by_id(sample.template_id)
            if stored is None:
                await uow.templates.save(sample.copy())
                continue
            for name in ("name", "provider_api", "max_number", "attributes", "configuration"):
                setattr(stored, name, getattr(sample, name))
            stored.is_active = True
            await uow.templates.save(stored)
        await uow.commit()


async def run(args: argparse.Namespace) -> int:
    if not 1 <= args.machines <= MAX_MACHINES:
        # checked before anything is written (a huge count failed after the templates)
        raise argparse.ArgumentTypeError(
            f"--machines must be 1 … {MAX_MACHINES:,} (for volume, use `ohf-persistence bench`)"
        )
    if not 1 <= args.returns <= args.machines:
        raise argparse.ArgumentTypeError("need 1 <= --returns <= --machines")
    config = store_config(args.url)
    if config.backend == "dynamodb" and args.machines > DYNAMODB_MAX_MACHINES:
        # refused before anything is written, rather than failing part-way at the first
        # unit of work that exceeds the limit
        raise argparse.ArgumentTypeError(
            f"on DynamoDB a unit of work holds at most 100 writes: the demo records the "
            f"machines and their request in one, so --machines must be at most "
            f"{DYNAMODB_MAX_MACHINES}"
        )
    steps = _Steps()
    print(f"ohf-persistence demo on {shown(config)}\n")
    start = time.perf_counter()
    store = await steps.run("open store, migrate schema to head", 1, lambda: _open(config))
    try:
        await _scenario(store, steps, args.machines, args.returns)
    except BaseException:
        await _undo(store, steps)
        raise
    finally:
        await store.close()
    print(table(["#", "step", "items", "time"], steps.rows, right=[0, 2, 3]))
    print()
    for note in steps.notes:
        print(note)
    print(
        f"{args.machines} machines acquired, {args.returns} returned, "
        f"{args.machines - args.returns} still running"
    )
    print(f"total {(time.perf_counter() - start) * 1000:.0f} ms")
    return 0


async def _undo(store: Store, steps: _Steps) -> None:
    """A failed run leaves none of its requests and machines behind (the sample templates
    are shared by every run and stay). Best effort: the original error is what is reported."""
    try:
        for machine_id in steps.machines:
            await store.machines.delete(machine_id)
        for request_id in steps.requests:
            await store.requests.delete(request_id)
    except Exception as exc:  # cleanup must not hide the demo's own error
        print(f"demo: could not remove this run's data: {exc}", file=sys.stderr)


async def _open(config: Any) -> Store:
    store: Store = await open_store(config, migrate=True)
    return store


async def _scenario(store: Store, steps: _Steps, count: int, returns: int) -> None:
    template = SAMPLE_TEMPLATES[0].template_id
    await steps.run(
        "upsert sample templates", len(SAMPLE_TEMPLATES), lambda: _upsert_templates(store)
    )
    acquire = Request.new(
        "acquire", template_id=template, requested_count=count, provider_api="EC2Fleet"
    )
    steps.requests.append(acquire.request_id)
    await steps.run("create acquire request", 1, lambda: store.requests.save(acquire))
    machines = [
        Machine(
            _instance_id(),
            name=f"host-{i}",
            template_id=template,
            request_id=acquire.request_id,
            instance_type="m5.large",
            provider_api="EC2Fleet",
        )
        for i in range(count)
    ]
    ids = [m.machine_id for m in machines]
    steps.machines += ids

    async def record_machines() -> None:
        async with store.unit_of_work() as uow:
            await uow.machines.save_many(machines)
            acquire.machine_ids = ids
            acquire.change_status(RequestStatus.IN_PROGRESS, "instances requested")
            await uow.requests.save(acquire)
            await uow.commit()

    await steps.run(
        "record pending machines, request in_progress (1 unit of work)", count, record_machines
    )

    async def launch() -> None:
        for machine_id in ids:
            await store.machines.update_status(machine_id, MachineStatus.LAUNCHING)

    await steps.run("update_status pending -> launching (one call each)", count, launch)

    async def running() -> None:
        async with store.unit_of_work() as uow:
            found = await uow.machines.get_by_request_id(acquire.request_id)
            for machine in found:
                machine.change_status(MachineStatus.RUNNING, "instance running")
            await uow.machines.save_many(found)
            request = await uow.requests.get_by_id(acquire.request_id)
            if request is None:
                raise RuntimeError(f"demo: request {acquire.request_id} vanished")
            request.successful_count = len(found)
            request.change_status(RequestStatus.COMPLETE, f"{len(found)} machines running")
            await uow.requests.save(request)
            await uow.commit()

    await steps.run("launching -> running, request complete (1 unit of work)", count, running)
    chosen = ids[:returns]
    ret = Request.new("return", template_id=template, requested_count=returns, machine_ids=chosen)
    steps.requests.append(ret.request_id)

    async def create_return() -> None:
        async with store.unit_of_work() as uow:
            ret.change_status(RequestStatus.IN_PROGRESS, "terminating")
            await uow.requests.save(ret)
            found = await uow.machines.get_by_instance_ids(chosen)
            for machine in found:
                machine.return_request_id = ret.request_id
                machine.change_status(MachineStatus.TERMINATED, "returned by Host Factory")
            await uow.machines.save_many(found)
            await uow.commit()

    await steps.run("create return request, its machines terminated", returns, create_return)

    async def returned() -> None:
        for machine in await store.machines.get_by_return_request_id(ret.request_id):
            await store.machines.update_status(machine.machine_id, MachineStatus.RETURNED)
        await store.requests.update_status(ret.request_id, RequestStatus.COMPLETE, "all returned")

    await steps.run("terminated -> returned, return request complete", returns, returned)
    running_now = await steps.run(
        "query machines running (all runs)", len, lambda: store.machines.get_by_status("running")
    )
    await steps.run("query active requests", len, store.requests.get_active_requests)
    steps.notes += [f"acquire request {acquire.request_id}", f"return request  {ret.request_id}"]
    mine = [m for m in running_now if m.request_id == acquire.request_id]
    if len(mine) != count - returns:
        raise RuntimeError(
            f"demo check failed: {len(mine)} running machines, expected {count - returns}"
        )
