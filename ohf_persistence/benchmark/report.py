"""Bench results: one ``PhaseResult`` per phase, the JSON document and the text table.

A phase with a raw baseline is measured in rounds: each round runs the same slice of calls on
our store and on the raw driver, back to back (the order alternates from round to round). The
phase's ratio is the **median over rounds** of ``raw seconds / our seconds`` for that slice
(= our ops/s over raw ops/s), and its spread is given by the rounds' quartiles and extremes:
one burst of load from elsewhere on the machine spoils one round, not the ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..text import table

TARGET_RATIO = 0.8  # DESIGN.md: ours >= 0.8x the raw driver in every phase with a baseline
AGREEMENT = 0.1  # DESIGN.md / issue 12: repeated runs agree within +-0.1 per phase


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile); all three equal for a single value."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


@dataclass
class PhaseResult:
    """``ops`` counts repository calls, except ``save_many`` which counts machines written.

    ``rounds`` holds (our seconds, raw seconds) per round for phases with a baseline; the
    totals ``seconds`` / ``baseline_seconds`` are their sums.
    """

    name: str
    ops: int
    seconds: float
    rows: int = 0  # entities written or returned
    baseline_seconds: float | None = None
    rounds: list[tuple[float, float]] = field(default_factory=list)
    # (our CPU seconds, raw CPU seconds) of this process per round: a second view, blind to
    # time the scheduler gave to other processes (on PostgreSQL it leaves out the server's work)
    cpu_rounds: list[tuple[float, float]] = field(default_factory=list)
    round_calls: list[int] = field(default_factory=list)  # calls per side in each round
    api_calls: int | None = None
    min_api_calls: int | None = None

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else float("inf")

    @property
    def baseline_ops_per_s(self) -> float | None:
        if self.baseline_seconds is None:
            return None
        return self.ops / self.baseline_seconds if self.baseline_seconds > 0 else float("inf")

    @property
    def round_ratios(self) -> list[float]:
        """Per round: raw CPU seconds / our CPU seconds for the same calls."""
        return _ratios(self.cpu_rounds)

    @property
    def spread(self) -> tuple[float, float, float, float, float] | None:
        """(min, first quartile, median, third quartile, max) of the round ratios."""
        return _spread(self.round_ratios) if self.baseline_seconds is not None else None

    @property
    def ratio(self) -> float | None:
        """The phase's ratio: median over rounds of raw CPU time / our CPU time."""
        spread = self.spread
        return None if spread is None else spread[2]

    @property
    def wall_spread(self) -> tuple[float, float, float, float, float] | None:
        """The same from wall-clock time (raw seconds / our seconds per round)."""
        return _spread(_ratios(self.rounds)) if self.baseline_seconds is not None else None

    def to_json(self) -> dict[str, Any]:
        lo, q1, median, q3, hi = self.spread or (None,) * 5
        wall = self.wall_spread or (None,) * 5
        return {
            "name": self.name,
            "ops": self.ops,
            "rows": self.rows,
            "seconds": self.seconds,
            "ops_per_s": self.ops_per_s,
            "baseline_seconds": self.baseline_seconds,
            "baseline_ops_per_s": self.baseline_ops_per_s,
            "ratio": median,
            "ratio_min": lo,
            "ratio_q1": q1,
            "ratio_q3": q3,
            "ratio_max": hi,
            "wall_ratio": wall[2],
            "wall_ratio_q1": wall[1],
            "wall_ratio_q3": wall[3],
            "rounds": len(self.rounds),
            "round_calls": self.round_calls,
            "round_seconds": [list(r) for r in self.rounds],
            "round_cpu_seconds": [list(r) for r in self.cpu_rounds],
            "api_calls": self.api_calls,
            "min_api_calls": self.min_api_calls,
        }


def _ratios(pairs: Sequence[tuple[float, float]]) -> list[float]:
    return [raw / ours for ours, raw in pairs if ours > 0 and raw > 0]


def _spread(ratios: Sequence[float]) -> tuple[float, float, float, float, float] | None:
    if not ratios:
        return None
    q1, median, q3 = quartiles(ratios)
    return min(ratios), q1, median, q3, max(ratios)


@dataclass
class Report:
    backend: str
    machines: int
    phases: list[PhaseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "machines": self.machines,
            "target_ratio": TARGET_RATIO,
            "phases": [phase.to_json() for phase in self.phases],
            "notes": list(self.notes),
        }

    def missed(self) -> list[PhaseResult]:
        """Phases with a baseline whose ratio is under the target."""
        return [p for p in self.phases if p.ratio is not None and p.ratio < TARGET_RATIO]

    def text(self) -> str:
        with_baseline = any(p.baseline_seconds is not None for p in self.phases)
        with_calls = any(p.api_calls is not None for p in self.phases)
        headers = ["phase", "ops", "rows", "seconds", "ops/s"]
        if with_baseline:
            headers += ["raw ops/s", "ratio", "q1-q3", "min-max", "wall ratio", "rounds"]
        if with_calls:
            headers += ["api calls", "minimum"]
        rows: list[list[str]] = []
        for p in self.phases:
            row = [p.name, str(p.ops), str(p.rows), f"{p.seconds:.3f}", f"{p.ops_per_s:,.0f}"]
            if with_baseline:
                base, spread = p.baseline_ops_per_s, p.spread
                row.append("-" if base is None else f"{base:,.0f}")
                wall = p.wall_spread
                if spread is None or wall is None:
                    row += ["-", "-", "-", "-", "-"]
                else:
                    lo, q1, median, q3, hi = spread
                    mark = " !" if median < TARGET_RATIO else ""
                    row += [
                        f"{median:.2f}{mark}",
                        f"{q1:.2f}-{q3:.2f}",
                        f"{lo:.2f}-{hi:.2f}",
                        f"{wall[2]:.2f}",
                        str(len(p.rounds)),
                    ]
            if with_calls:
                row += [_opt(p.api_calls), _opt(p.min_api_calls)]
            rows.append(row)
        lines = [
            f"backend {self.backend}, {self.machines:,} machines",
            table(headers, rows, right=range(1, len(headers))),
        ]
        missed = self.missed()
        if with_baseline:
            lines.append(
                "ratio = median over rounds of raw/our CPU time for the same calls (this "
                "process, plus PostgreSQL's backends); wall ratio = the same from wall-clock "
                f"time. Target >= {TARGET_RATIO} in every phase with a baseline: "
                + ("met" if not missed else "missed in " + ", ".join(p.name for p in missed))
            )
        lines += self.notes
        return "\n".join(lines)


@dataclass
class RunsReport:
    """Several consecutive runs of the same bench and how far their ratios agree."""

    backend: str
    machines: int
    runs: list[Report] = field(default_factory=list)

    def ratios(self) -> dict[str, list[float]]:
        """Each phase's ratio in every run (phases with a baseline only)."""
        out: dict[str, list[float]] = {}
        for run in self.runs:
            for p in run.phases:
                if p.ratio is not None:
                    out.setdefault(p.name, []).append(p.ratio)
        return out

    def agreement(self) -> dict[str, dict[str, Any]]:
        """Per phase: the runs' ratios, their median and range, and whether every run lies
        within +-AGREEMENT of that median."""
        out: dict[str, dict[str, Any]] = {}
        for name, ratios in self.ratios().items():
            median = statistics.median(ratios)
            out[name] = {
                "ratios": ratios,
                "median": median,
                "range": max(ratios) - min(ratios),
                "agree": all(abs(r - median) <= AGREEMENT for r in ratios),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "machines": self.machines,
            "target_ratio": TARGET_RATIO,
            "agreement_within": AGREEMENT,
            "runs": [run.to_json() for run in self.runs],
            "agreement": self.agreement(),
        }

    def text(self) -> str:
        agreement = self.agreement()
        headers = ["phase", *(f"run {i + 1}" for i in range(len(self.runs))), "median", "range"]
        rows = []
        for name, a in agreement.items():
            mark = "" if a["agree"] else " !"
            rows.append(
                [
                    name,
                    *(f"{r:.2f}" for r in a["ratios"]),
                    f"{a['median']:.2f}",
                    f"{a['range']:.2f}{mark}",
                ]
            )
        disagree = [name for name, a in agreement.items() if not a["agree"]]
        lines = [run.text() + "\n" for run in self.runs]
        lines += [
            f"ratios of {len(self.runs)} consecutive runs ({self.backend}, "
            f"{self.machines:,} machines)",
            table(headers, rows, right=range(1, len(headers))),
            f"every run within +-{AGREEMENT} of the median: "
            + ("yes" if not disagree else "no, in " + ", ".join(disagree)),
        ]
        return "\n".join(lines)


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)
