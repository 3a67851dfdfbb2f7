"""Bench results: one ``PhaseResult`` per phase, the JSON document and the text table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TARGET_RATIO = 0.5  # DESIGN.md: ours >= 0.5x the raw driver in every phase with a baseline


@dataclass
class PhaseResult:
    """``ops`` counts repository calls, except ``save_many`` which counts machines written."""

    name: str
    ops: int
    seconds: float
    rows: int = 0  # entities written or returned (text output only)
    baseline_seconds: float | None = None
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
    def ratio(self) -> float | None:
        baseline = self.baseline_ops_per_s
        return None if baseline is None else self.ops_per_s / baseline

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ops": self.ops,
            "seconds": self.seconds,
            "ops_per_s": self.ops_per_s,
            "baseline_ops_per_s": self.baseline_ops_per_s,
            "ratio": self.ratio,
            "api_calls": self.api_calls,
            "min_api_calls": self.min_api_calls,
        }


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
            "phases": [phase.to_json() for phase in self.phases],
        }

    def missed(self) -> list[PhaseResult]:
        """Phases with a baseline whose ratio is under the target."""
        return [p for p in self.phases if p.ratio is not None and p.ratio < TARGET_RATIO]

    def text(self) -> str:
        from ..cli.common import table

        with_baseline = any(p.baseline_seconds is not None for p in self.phases)
        with_calls = any(p.api_calls is not None for p in self.phases)
        headers = ["phase", "ops", "rows", "seconds", "ops/s"]
        if with_baseline:
            headers += ["raw ops/s", "ratio"]
        if with_calls:
            headers += ["api calls", "minimum"]
        rows: list[list[str]] = []
        for p in self.phases:
            row = [p.name, str(p.ops), str(p.rows), f"{p.seconds:.3f}", f"{p.ops_per_s:,.0f}"]
            if with_baseline:
                base, ratio = p.baseline_ops_per_s, p.ratio
                row += [
                    "-" if base is None else f"{base:,.0f}",
                    "-"
                    if ratio is None
                    else f"{ratio:.2f}" + (" !" if ratio < TARGET_RATIO else ""),
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
                f"target: ratio >= {TARGET_RATIO} in every phase with a baseline; "
                + ("met" if not missed else "missed in " + ", ".join(p.name for p in missed))
            )
        lines += self.notes
        return "\n".join(lines)


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)
