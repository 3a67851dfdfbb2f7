"""Running the bench: our store and the raw baseline phase by phase, then cleaning up.

Ours and raw alternate per phase (ours first), so a burst of load from elsewhere on the machine
hits both sides of a ratio rather than one whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from ..config import mask_url, open_store, resolve_config
from ..domain import MachineStatus
from ..ports import Store
from . import phases
from .dynamo_calls import SIMULATED_RTT, CallCounter, Minimum, simulated_latency
from .phases import NAMES, Outcome, Tick
from .raw_sql import RawDriver, RawPhases, open_driver
from .report import PhaseResult, Report
from .workload import INSTANCE_ID_CHUNK, PAGE_SIZE, Workload, build

# Machines per save_many call (one unit of work each): SQL writes them as one multi-row INSERT,
# DynamoDB's transactions hold at most 100 items.
SAVE_CHUNKS = {"memory": 1_000, "sqlite": 500, "postgresql": 500, "dynamodb": 100}
CONCURRENT_READS = 50


class Bar(Protocol):
    def update(self, count: int, label: str | None = None) -> None: ...

    def close(self) -> None: ...


BarFactory = Callable[[str, int | None], Bar]


class _NoBar:
    def update(self, count: int, label: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def no_bar(label: str, total: int | None) -> Bar:
    return _NoBar()


def expected_ops(w: Workload) -> dict[str, int]:
    return {
        "save_many": w.size,
        "get_by_id": w.size,
        "get_by_request_id": len(w.requests),
        "get_by_status": len(MachineStatus),
        "get_by_instance_ids": math.ceil(w.size / INSTANCE_ID_CHUNK),
        "update_status": w.size,
        "page": max(1, math.ceil(w.size / PAGE_SIZE)),
        "delete": w.size,
    }


async def timed(
    run: Callable[[Tick], Awaitable[Outcome]], bar: BarFactory, label: str, total: int
) -> tuple[Outcome, float]:
    gc.collect()  # start every timed phase from the same heap state
    progress = bar(label, total)
    start = time.perf_counter()
    try:
        outcome = await run(progress.update)
    finally:
        seconds = time.perf_counter() - start
        progress.close()
    return outcome, seconds


async def run_bench(
    url: str,
    machines: int = 10_000,
    *,
    bar: BarFactory = no_bar,
    baseline: bool = True,
) -> Report:
    """Run the workload on the store at ``url`` (migrated first) and return the report."""
    config = resolve_config(url)
    w = build(machines)
    report = Report(config.backend, machines)
    async with open_store(config, migrate=True) as store:
        raw: RawDriver | None = None
        if baseline and config.backend in ("sqlite", "postgresql"):
            raw = open_driver(config.backend, config.url, f"bench_raw_machines_{w.prefix[6:-1]}")
        try:
            if raw is not None:
                await raw.open()
                await raw.create()
            await _run(store, raw, w, report, bar)
        finally:
            await _cleanup(store, raw, w)
    if getattr(raw, "path", None) == ":memory:":
        report.notes.append("note: the raw baseline ran on its own :memory: database")
    return report


async def _run(
    store: Store, raw: RawDriver | None, w: Workload, report: Report, bar: BarFactory
) -> None:
    await store.templates.save_many(w.templates)
    await store.requests.save_many(w.requests)
    ours = phases.for_store(store, w, SAVE_CHUNKS.get(store.backend, 500))
    theirs = RawPhases(raw, w, SAVE_CHUNKS[store.backend]).by_name() if raw else {}
    dynamo = store.backend == "dynamodb"
    counter = CallCounter(store) if dynamo else None
    minimum = Minimum(store) if dynamo else None
    totals = expected_ops(w)
    try:
        for name in NAMES:
            if dynamo and name == "delete":
                report.phases += await _concurrency(store, w, counter)
            before = counter.total() if counter else 0
            outcome, seconds = await timed(ours[name], bar, name, totals[name])
            result = PhaseResult(name, outcome.ops, seconds, outcome.rows)
            if counter is not None and minimum is not None:
                result.api_calls = counter.total() - before
                result.min_api_calls = minimum.of(name, outcome)
            if name in theirs:
                raw_outcome, result.baseline_seconds = await timed(
                    theirs[name], bar, f"raw {name}", totals[name]
                )
                if (raw_outcome.ops, raw_outcome.rows) != (outcome.ops, outcome.rows):
                    report.notes.append(
                        f"warning: {name}: raw did {raw_outcome.ops} ops / {raw_outcome.rows} "
                        f"rows, ours {outcome.ops} / {outcome.rows}"
                    )
            report.phases.append(result)
    finally:
        if counter is not None:
            counter.close()


async def _concurrency(store: Store, w: Workload, counter: CallCounter | None) -> list[PhaseResult]:
    """50 get_by_id one after another, then the same 50 at once (the thread pool at work);
    then both again with a simulated network round trip, because a local moto server answers
    from its own CPU and so hides what the pool does against a remote endpoint."""
    keys = w.lookup_order[:CONCURRENT_READS]
    results = []
    for rtt in (0.0, SIMULATED_RTT):
        suffix = f"_rtt{rtt * 1000:.0f}ms" if rtt else ""
        with simulated_latency(store, rtt):
            for mode in ("serial", "concurrent"):
                before = counter.total() if counter else 0
                gc.collect()
                start = time.perf_counter()
                if mode == "concurrent":
                    found = await asyncio.gather(*(store.machines.get_by_id(k) for k in keys))
                else:
                    found = [await store.machines.get_by_id(k) for k in keys]
                seconds = time.perf_counter() - start
                name = f"get_by_id_x{len(keys)}_{mode}{suffix}"
                result = PhaseResult(name, len(keys), seconds, sum(f is not None for f in found))
                if counter is not None:
                    result.api_calls, result.min_api_calls = counter.total() - before, len(keys)
                results.append(result)
    return results


@contextlib.contextmanager
def cleanup_step(what: str) -> Iterator[None]:
    """Cleanup also runs after a failed phase: its own error must not hide that first one, so
    it is reported as a warning instead of raised (never dropped silently)."""
    try:
        yield
    except Exception as exc:
        logging.getLogger("ohf_persistence").warning(
            "bench cleanup (%s) failed: %s", what, mask_url(str(exc))
        )


async def _cleanup(store: Store, raw: RawDriver | None, w: Workload) -> None:
    """Remove whatever of this run is left (everything, when a phase failed midway)."""
    with cleanup_step("machines"):
        if await store.machines.count(w.page_filters):
            for machine in w.machines:
                await store.machines.delete(machine.machine_id)
    with cleanup_step("requests and templates"):
        for request in w.requests:
            await store.requests.delete(request.request_id)
        for template in w.templates:
            await store.templates.delete(template.template_id)
    if raw is not None:
        try:
            await raw.drop()
        finally:
            await raw.close()
