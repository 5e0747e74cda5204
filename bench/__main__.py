"""Runs every ``bench/bench_*.py`` module's ``run(report)`` and prints one table.

A module calls ``report(name, value, unit, baseline_name, baseline_value, target=None,
higher_is_better=True)``; the ratio column is value ÷ baseline (or baseline ÷ value when lower is
better), so 1.0 means "as fast as the bare baseline". ``python -m bench audit`` runs one module.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    module: str
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    target: str | None
    higher_is_better: bool

    @property
    def ratio(self) -> float:
        if not self.baseline_value or not self.value:
            return 0.0
        return self.value / self.baseline_value if self.higher_is_better else self.baseline_value / self.value


def _fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:,.2f}"
    return f"{v:.4f}"


def main(argv: list[str]) -> int:
    wanted = set(argv)
    rows: list[Row] = []
    folder = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(folder)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        short = info.name.removeprefix("bench_")
        if wanted and short not in wanted:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        started = time.perf_counter()
        print(f"# {short} …", file=sys.stderr, flush=True)

        def report(name, value, unit, baseline_name, baseline_value, target=None, higher_is_better=True,
                   _m=short):
            row = Row(_m, name, float(value), unit, baseline_name, float(baseline_value), target, higher_is_better)
            rows.append(row)
            print(f"  {name}: {_fmt(row.value)} {unit}  (baseline {baseline_name}: {_fmt(row.baseline_value)};"
                  f" ratio {row.ratio:.2f}{'; target ' + target if target else ''})", file=sys.stderr, flush=True)

        module.run(report)
        print(f"# {short} done in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)

    header = ("area", "figure", "value", "unit", "baseline (same run)", "baseline", "ratio", "target")
    table = [header] + [
        (r.module, r.name, _fmt(r.value), r.unit, r.baseline_name, _fmt(r.baseline_value), f"{r.ratio:.2f}",
         r.target or "")
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
