"""The benchmark registry: discovery, figures with targets and verdicts, and the runner.

A benchmark is a module ``tests/performance/bench_<name>.py`` that exposes ``def run() -> dict``
returning JSON-serialisable figures, and ends with::

    if __name__ == "__main__":
        main(run)

so that ``PYTHONPATH=shared:. .venv/bin/python -m tests.performance.bench_<name>`` prints its
figures as JSON. ``run_all.py`` finds every such module (no list to keep up to date) and runs each
in a fresh interpreter, so that one benchmark's imports, caches and heap never skew another's.

Headline numbers are built with :func:`figure`; a figure with a :class:`Target` carries a
``"verdict"`` of ``"pass"`` or ``"fail"``, one without a target ``"no target"``. The verdict of a
benchmark is ``"fail"`` when any figure in it fails, ``"pass"`` when at least one passes and none
fails, and ``"no target"`` otherwise (:func:`overall_verdict`).
"""

from __future__ import annotations

import contextlib
import json
import operator
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

PERFORMANCE_DIR = Path(__file__).resolve().parent
ROOT = PERFORMANCE_DIR.parents[1]
PACKAGE = "tests.performance"
PREFIX = "bench_"

PASS = "pass"
FAIL = "fail"
NO_TARGET = "no target"
ERROR = "error"

Comparison = Literal["<=", "<", ">=", ">", "=="]
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Target:
    """A figure's goal, e.g. ``Target("<=", 1.2)``."""

    comparison: Comparison
    limit: float

    def met_by(self, value: float) -> bool:
        return _COMPARE[self.comparison](value, self.limit)

    def __str__(self) -> str:
        limit = int(self.limit) if float(self.limit).is_integer() else self.limit
        return f"{self.comparison} {limit}"


def figure(value: float, unit: str, target: Target | None = None, **details: Any) -> dict[str, Any]:
    """A headline number with its unit, its target (if any) and the verdict next to it."""
    rounded = round(value, 2) if isinstance(value, float) else value
    verdict = NO_TARGET if target is None else (PASS if target.met_by(value) else FAIL)
    return {
        "value": rounded,
        "unit": unit,
        "target": None if target is None else str(target),
        "verdict": verdict,
        **details,
    }


def _verdicts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        verdict = node.get("verdict")
        if verdict in (PASS, FAIL):
            yield verdict
        for value in node.values():
            yield from _verdicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _verdicts(value)


def overall_verdict(result: dict[str, Any]) -> str:
    verdicts = set(_verdicts(result))
    if FAIL in verdicts:
        return FAIL
    return PASS if PASS in verdicts else NO_TARGET


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    path: Path

    @property
    def timeout_s(self) -> float | None:
        """A module's own ``TIMEOUT_S = <number>`` (read without importing it), if any."""
        import ast

        for node in ast.parse(self.path.read_text()).body:
            named = isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "TIMEOUT_S" for t in node.targets
            )
            value = getattr(node, "value", None)
            if named and isinstance(value, ast.Constant) and isinstance(value.value, int | float):
                return float(value.value)
        return None

    @property
    def description(self) -> str:
        """The first line of the module docstring, read without importing the module."""
        import ast

        docstring = ast.get_docstring(ast.parse(self.path.read_text()))
        return (docstring or "").strip().splitlines()[0] if docstring else ""


def discover() -> dict[str, Benchmark]:
    """Every ``bench_*.py`` next to this file, keyed by its name without the prefix."""
    found: dict[str, Benchmark] = {}
    for path in sorted(PERFORMANCE_DIR.glob(f"{PREFIX}*.py")):
        name = path.stem.removeprefix(PREFIX)
        found[name] = Benchmark(name=name, module=f"{PACKAGE}.{path.stem}", path=path)
    return found


def select(available: dict[str, Benchmark], only: list[str] | None) -> list[Benchmark]:
    """The benchmarks named in ``only`` (``cold_start`` or ``bench_cold_start``), or all."""
    if not only:
        return list(available.values())
    chosen: list[Benchmark] = []
    for raw in only:
        for name in (part.strip() for part in raw.split(",")):
            if not name:
                continue
            key = name.removeprefix(PREFIX).removesuffix(".py")
            if key not in available:
                known = ", ".join(available) or "none"
                raise SystemExit(f"unknown benchmark {name!r}; known: {known}")
            if available[key] not in chosen:
                chosen.append(available[key])
    return chosen


def main(run: Callable[[], dict[str, Any]]) -> None:
    """Entry point of one benchmark module: its figures as JSON on stdout, nothing else.

    Powertools writes logs and EMF metrics to stdout; while the benchmark runs, stdout is
    redirected to stderr so that stdout holds exactly one JSON document.
    """
    with contextlib.redirect_stdout(sys.stderr):
        result = run()
    print(json.dumps(result, indent=2))
