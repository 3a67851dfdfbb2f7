"""bench: the Host Factory workload with raw-driver baselines (docs/performance.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..benchmark.cold_start import run_cold_start
from ..benchmark.runner import Bar, run_bench, run_bench_runs
from ..benchmark.scale import run_scale
from ..interop import Progress
from .common import common_options, store_config


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        parents=[common_options(json_output=True)],
        help="measure the Host Factory workload (and the raw driver's speed on SQL)",
        description="Runs save_many, save_new, save_changed, get_by_id, get_by_request_id, "
        "get_by_status, get_by_instance_ids, update_status, page and delete on N machines with "
        "ids of its own (removed afterwards), migrating the schema first. On SQLite and "
        "PostgreSQL the same phases also run on the raw driver against a scratch table, "
        "interleaved with ours in rounds; the ratio is the median over rounds. On DynamoDB the "
        "API calls are counted. --scale times the keyed queries at N and at --scale-machines "
        "instead; --cold-start times fresh processes that open the SQLite store and answer one "
        "call, next to the floor of the raw driver.",
    )
    p.add_argument(
        "--machines", type=_positive, default=10_000, help="workload size (default 10000)"
    )
    p.add_argument(
        "--runs",
        type=_positive,
        default=1,
        help="consecutive runs; with more than one, also how far their ratios agree",
    )
    p.add_argument(
        "--scale",
        action="store_true",
        help="scaling run: keyed queries at --machines vs --scale-machines stored machines",
    )
    p.add_argument(
        "--scale-machines",
        type=_positive,
        default=1_000_000,
        help="machines in the large store of --scale (default 1000000)",
    )
    p.add_argument(
        "--cold-start",
        action="store_true",
        help="fresh-process timing on a SQLite file: ours vs python + sqlalchemy + aiosqlite",
    )
    p.add_argument(
        "--rounds",
        type=_positive,
        default=20,
        help="--cold-start: processes per side (default 20)",
    )
    p.set_defaults(func=bench)


def _bar(label: str, total: int | None) -> Bar:
    # Drawn only when stderr is a terminal, so --json output and logs stay clean.
    return Progress(label, total, sys.stderr)


async def bench(args: argparse.Namespace) -> int:
    config = store_config(args.url)
    report: Any
    if args.scale and args.cold_start:
        raise argparse.ArgumentTypeError("--scale and --cold-start are separate runs")
    if args.scale:
        if config.backend == "dynamodb":
            raise argparse.ArgumentTypeError("--scale runs on memory, SQLite and PostgreSQL")
        if args.scale_machines <= args.machines:
            raise argparse.ArgumentTypeError("--scale-machines must be larger than --machines")
        report = await run_scale(config.url, args.machines, args.scale_machines, bar=_bar)
    elif args.cold_start:
        try:
            report = await run_cold_start(config.url, args.machines, args.rounds)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    elif args.runs > 1:
        report = await run_bench_runs(config.url, args.machines, args.runs, bar=_bar)
    else:
        report = await run_bench(config.url, args.machines, bar=_bar)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.text())
    return 0
