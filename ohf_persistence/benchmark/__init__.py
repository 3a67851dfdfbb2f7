"""``ohf-persistence bench``: the Host Factory workload against raw-driver baselines in
interleaved rounds, DynamoDB call counts, the scaling run and the cold-start run
(docs/performance.md). Nothing here imports the command line (``ohf_persistence.cli``)."""

from .cold_start import run_cold_start
from .report import TARGET_RATIO, PhaseResult, Report, RunsReport
from .runner import run_bench, run_bench_runs
from .scale import run_scale
from .workload import Workload, build

__all__ = [
    "TARGET_RATIO",
    "PhaseResult",
    "Report",
    "RunsReport",
    "Workload",
    "build",
    "run_bench",
    "run_bench_runs",
    "run_cold_start",
    "run_scale",
]
