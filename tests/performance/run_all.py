"""Run every benchmark (``make bench``) and print one JSON document keyed by benchmark name.

    PYTHONPATH=shared .venv/bin/python tests/performance/run_all.py [--only NAME ...] [--list]

Benchmarks are the ``tests/performance/bench_*.py`` modules (see ``registry.py`` to add one).
Each runs in a fresh interpreter, one after the other; progress goes to stderr, the JSON to
stdout. Every benchmark's entry starts with its ``verdict`` (``pass``, ``fail``, ``no target``
or ``error``) and ``elapsed_s``, then its figures, each with its target and verdict.

Exit status: 1 when a benchmark crashed or timed out (or, with ``--strict``, missed a target).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"
for entry in (str(SHARED), str(ROOT)):  # `make bench` sets PYTHONPATH=shared only
    if entry not in sys.path:
        sys.path.insert(0, entry)

from tests.performance.registry import (  # noqa: E402 - needs the path set up above
    ERROR,
    FAIL,
    Benchmark,
    discover,
    overall_verdict,
    select,
)

DEFAULT_TIMEOUT_S = 170.0


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(SHARED), str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def run_benchmark(benchmark: Benchmark, timeout_s: float) -> dict[str, Any]:
    """Run one benchmark module in its own interpreter and return its entry in the report."""
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", benchmark.module],
            cwd=ROOT,
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        raw = expired.stderr or ""
        stderr = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        return {
            "verdict": ERROR,
            "elapsed_s": round(time.perf_counter() - started, 1),
            "error": f"timed out after {timeout_s:.0f} s",
            "stderr_tail": stderr[-2000:],
        }
    elapsed_s = round(time.perf_counter() - started, 1)
    if completed.returncode != 0:
        return {
            "verdict": ERROR,
            "elapsed_s": elapsed_s,
            "error": f"exit status {completed.returncode}",
            "stderr_tail": completed.stderr[-4000:],
        }
    try:
        result = json.loads(completed.stdout)
    except ValueError as exc:
        return {
            "verdict": ERROR,
            "elapsed_s": elapsed_s,
            "error": f"stdout is not one JSON document: {exc}",
            "stdout_head": completed.stdout[:2000],
        }
    if not isinstance(result, dict):
        return {"verdict": ERROR, "elapsed_s": elapsed_s, "error": "run() did not return a dict"}
    figures = {key: value for key, value in result.items() if key not in ("verdict", "elapsed_s")}
    return {"verdict": overall_verdict(result), "elapsed_s": elapsed_s, **figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this benchmark (repeatable or comma-separated; e.g. cold_start)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds allowed per benchmark"
    )
    args = parser.parse_args(argv)

    available = discover()
    if args.list:
        for benchmark in available.values():
            print(f"{benchmark.name}\t{benchmark.description}")
        return 0

    report: dict[str, Any] = {}
    for benchmark in select(available, args.only):
        print(f"[bench] {benchmark.name} ...", file=sys.stderr, flush=True)
        entry = run_benchmark(benchmark, max(args.timeout, benchmark.timeout_s or 0))
        report[benchmark.name] = entry
        print(f"[bench] {benchmark.name}: {entry['verdict']} in {entry['elapsed_s']} s", file=sys.stderr)
    print(json.dumps(report, indent=2))

    verdicts = {entry["verdict"] for entry in report.values()}
    if ERROR in verdicts or (args.strict and FAIL in verdicts):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
