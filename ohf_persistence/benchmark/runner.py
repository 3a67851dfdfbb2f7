"""Running the bench: our store and the raw baseline phase by phase, then cleaning up.

Within a phase, ours and raw run interleaved in rounds: round k runs the same slice of calls on
both sides, back to back, ours first in even rounds and raw first in odd ones (A B, B A, ...).
Slices are short (a phase has up to ``TARGET_ROUNDS`` rounds), so a burst of load from
elsewhere on the machine hits a round or two, and the median ratio over rounds ignores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from ..config import mask_text, open_store, resolve_config
from ..ports import Store
from .cpu import Meter, process_cpu
from .dynamo_calls import SIMULATED_RTT, CallCounter, Minimum, simulated_latency
from .phases import NAMES, READS, OurPhases, Outcome, Slice, natural_calls
from .raw_sql import RawDriver, RawPhases, open_driver
from .report import PhaseResult, Report, RunsReport
from .workload import Workload, build

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


SLICE_SECONDS = 0.04  # our side's time per round: long enough to average the scheduler's
# time slices (a few ms) out, short enough that load from elsewhere hits both sides alike
MIN_ROUNDS = 60  # with a baseline, read phases repeat their items to get at least this many
MAX_PASSES = 50  # ... but never more passes than this over a read phase's items


async def measure(
    name: str,
    ours: Slice,
    raw: Slice | None,
    calls: int,
    bar: BarFactory,
    *,
    repeatable: bool = False,
    ours_cpu: Meter = process_cpu,
    raw_cpu: Meter = process_cpu,
) -> tuple[PhaseResult, Outcome, Outcome | None]:
    """Run a phase's ``calls`` in rounds, ours and raw interleaved, and time every slice.

    Each round runs the same calls on both sides; its size is adapted so that our side takes
    about SLICE_SECONDS. A ``repeatable`` (read-only) phase with a baseline goes on past its
    ``calls`` (more passes over the same items) until it has MIN_ROUNDS rounds.
    """
    gc.collect()  # start every phase from the same heap state
    ours_done, raw_done = Outcome(0, 0), Outcome(0, 0)
    rounds: list[tuple[float, float]] = []
    cpu_rounds: list[tuple[float, float]] = []
    round_calls: list[int] = []
    our_total = raw_total = 0.0
    min_rounds = MIN_ROUNDS if raw is not None and repeatable else 0
    limit = calls * MAX_PASSES if min_rounds else calls
    per_round = max(1, calls // 100)
    # A read phase of few calls (get_by_status: 10 statuses of very different answer sizes)
    # runs one call per round over whole passes: every run then takes its median over the same
    # mix of calls, instead of a mix that depends on how the slices happened to fall.
    single = 0 < calls < min_rounds
    if single:
        calls = limit = calls * math.ceil(min_rounds / calls)
    progress = bar(name, calls)
    wall = time.perf_counter

    async def timed(
        side: Slice, cpu: Meter, start: int, stop: int, into: Outcome
    ) -> tuple[float, float]:
        began_cpu = cpu()
        began = wall()
        into.add(await side(start, stop))
        seconds = wall() - began
        return seconds, cpu() - began_cpu

    try:
        done = 0
        while done < calls or (len(rounds) < min_rounds and done < limit):
            stop = min(done + per_round, calls if done < calls else limit)
            if raw is not None and len(rounds) % 2 == 1:
                raw_seconds, raw_spent = await timed(raw, raw_cpu, done, stop, raw_done)
            our_seconds, our_spent = await timed(ours, ours_cpu, done, stop, ours_done)
            if raw is not None and len(rounds) % 2 == 0:
                raw_seconds, raw_spent = await timed(raw, raw_cpu, done, stop, raw_done)
            our_total += our_seconds
            if raw is not None:
                raw_total += raw_seconds
                rounds.append((our_seconds, raw_seconds))
                cpu_rounds.append((our_spent, raw_spent))
                round_calls.append(stop - done)
            progress.update(min(stop, calls) - min(done, calls))
            done = stop
            per_round = max(1, round(SLICE_SECONDS * done / our_total)) if our_total else 1
            if single:
                per_round = 1
            if len(rounds) < min_rounds:  # leave calls for the rounds still needed
                per_round = min(per_round, max(1, (limit - done) // (min_rounds - len(rounds))))
    finally:
        progress.close()
    result = PhaseResult(
        name,
        ours_done.ops,
        our_total,
        ours_done.rows,
        baseline_seconds=raw_total if raw is not None else None,
        rounds=rounds,
        cpu_rounds=cpu_rounds,
        round_calls=round_calls,
    )
    return result, ours_done, (raw_done if raw is not None else None)


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
            table = f"bench_raw_machines_{w.prefix[6:-1]}"
            raw = open_driver(config.backend, config.url, table, own_file=True)
        try:
            if raw is not None:
                await raw.open()
                await raw.create()
                await raw.tidy()
            await _run(store, raw, w, report, bar)
        finally:
            await _cleanup(store, raw, w)
    if getattr(raw, "path", None) == ":memory:":
        report.notes.append("note: the raw baseline ran on its own :memory: database")
    return report


async def run_bench_runs(
    url: str, machines: int = 10_000, runs: int = 3, *, bar: BarFactory = no_bar
) -> RunsReport:
    """``runs`` consecutive benches (each with its own ids) and how far their ratios agree."""
    config = resolve_config(url)
    report = RunsReport(config.backend, machines)
    for _ in range(runs):
        report.runs.append(await run_bench(config.url, machines, bar=bar))
    return report


async def _run(
    store: Store, raw: RawDriver | None, w: Workload, report: Report, bar: BarFactory
) -> None:
    await store.templates.save_many(w.templates)
    await store.requests.save_many(w.requests)
    chunk = SAVE_CHUNKS.get(store.backend, 500)
    ours = OurPhases(store, w, chunk).by_name()
    theirs = RawPhases(raw, w, chunk).by_name() if raw else {}
    dynamo = store.backend == "dynamodb"
    counter = CallCounter(store) if dynamo else None
    minimum = Minimum(store) if dynamo else None
    calls = natural_calls(w, chunk)
    ours_cpu, raw_cpu, refresh = await raw.meters() if raw else (process_cpu, process_cpu, None)
    # The workload's own objects (and everything else alive now) leave the collector's view:
    # a full collection then walks only what the phases allocate, on both sides alike.
    gc.collect()
    gc.freeze()
    try:
        for name in NAMES:
            if dynamo and name == "delete":
                report.phases += await _concurrency(store, w, counter)
            before = counter.total() if counter else 0
            if refresh is not None:
                await refresh()  # the store may have opened connections since
            result, outcome, raw_outcome = await measure(
                name,
                ours[name],
                theirs.get(name),
                calls[name],
                bar,
                repeatable=name in READS,
                ours_cpu=ours_cpu,
                raw_cpu=raw_cpu,
            )
            if counter is not None and minimum is not None:
                result.api_calls = counter.total() - before
                result.min_api_calls = minimum.of(name, outcome)
            if raw_outcome is not None and (raw_outcome.ops, raw_outcome.rows) != (
                outcome.ops,
                outcome.rows,
            ):
                report.notes.append(
                    f"warning: {name}: raw did {raw_outcome.ops} ops / {raw_outcome.rows} "
                    f"rows, ours {outcome.ops} / {outcome.rows}"
                )
            report.phases.append(result)
    finally:
        gc.unfreeze()
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
            "bench cleanup (%s) failed: %s", what, mask_text(str(exc))
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
