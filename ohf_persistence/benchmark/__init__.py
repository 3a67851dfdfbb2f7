"""``ohf-persistence bench``: the Host Factory workload, raw-driver baselines, DynamoDB call
counts and the scaling run (docs/performance.md)."""

from .report import TARGET_RATIO, PhaseResult, Report
from .runner import run_bench
from .workload import Workload, build

__all__ = ["TARGET_RATIO", "PhaseResult", "Report", "Workload", "build", "run_bench"]
