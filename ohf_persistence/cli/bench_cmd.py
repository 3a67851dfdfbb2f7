"""bench: the Host Factory workload with raw-driver baselines (docs/performance.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..benchmark.runner import Bar, run_bench
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
        description="Runs save_many, get_by_id, get_by_request_id, get_by_status, "
        "get_by_instance_ids, update_status, page and delete on N machines with ids of its own "
        "(removed afterwards), migrating the schema first. On SQLite and PostgreSQL the same "
        "phases also run on the raw driver against a scratch table; on DynamoDB the API calls "
        "are counted. --scale times the keyed queries at N and at --scale-machines instead.",
    )
    p.add_argument(
        "--machines", type=_positive, default=10_000, help="workload size (default 10000)"
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
    p.set_defaults(func=bench)


def _bar(label: str, total: int | None) -> Bar:
    # Drawn only when stderr is a terminal, so --json output and logs stay clean.
    return Progress(label, total, sys.stderr)


async def bench(args: argparse.Namespace) -> int:
    config = store_config(args.url)
    report: Any
    if args.scale:
        if config.backend == "dynamodb":
            raise argparse.ArgumentTypeError("--scale runs on memory, SQLite and PostgreSQL")
        if args.scale_machines <= args.machines:
            raise argparse.ArgumentTypeError("--scale-machines must be larger than --machines")
        report = await run_scale(config.url, args.machines, args.scale_machines, bar=_bar)
    else:
        report = await run_bench(config.url, args.machines, bar=_bar)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.text())
    return 0
