"""Cold start of the API function: import-and-init time in a fresh interpreter vs. a hello world.

Each measurement is the wall time of a new interpreter (the project's venv Python) that loads a
handler module by file path, as the Lambda runtime does, with the environment a deployed
function has (template.yaml Globals, region, fake credentials; nothing calls AWS at import).
The bare interpreter start-up, measured the same way with an empty module, is subtracted.
The reference is a minimal hello-world handler importing the same libraries: boto3 with a
DynamoDB client, Powertools' APIGatewayHttpResolver (validation on, one route), a pydantic
model, Powertools Logger and Metrics. Target: API / hello world <= 1.2 (medians of 10).
"""

from __future__ import annotations

import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.performance.registry import ROOT, Target, figure, main

RUNS = 10
WARMUP_RUNS = 2  # per variant, untimed: they also fill the bytecode cache
IMPORTTIME_RUNS = 3
TOP = 10
TARGET_RATIO = 1.2
API_APP = ROOT / "functions" / "api" / "app.py"
MARKER = "--- billow-bench: loading handler ---"

# Loads a handler module by file path like the Lambda runtime, then optionally calls
# "module:function" targets (work the real function defers to its first request), then exits
# without finalisation: unloading hundreds of modules is not part of a cold start.
RUNNER = f"""\
import importlib
import importlib.util
import os
import sys

sys.stderr.write({MARKER!r} + "\\n")
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
for target in sys.argv[2:]:
    name, _, function = target.partition(":")
    getattr(importlib.import_module(name), function)()
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # a Lambda container does not tear the interpreter down after init
"""

HELLO_WORLD = '''\
"""The smallest function using the same libraries as the API function."""

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

logger = Logger(service="hello")
metrics = Metrics(namespace="Hello", service="hello")
dynamodb = boto3.client("dynamodb")
app = APIGatewayHttpResolver(enable_validation=True)


class Greeting(BaseModel):
    name: str


@app.post("/hello")
def hello(greeting: Greeting) -> dict:
    return {"message": f"hello {greeting.name}"}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
'''

# Deferred by the API function to its first request; the hello world does it at import.
FIRST_USE = ("billow.adapters.aws:dynamodb_client", "billow.api.idempotency:_persistence")


@dataclass(frozen=True)
class Variant:
    name: str
    module: Path
    calls: tuple[str, ...] = ()


def lambda_environment(tmp: Path) -> dict[str, str]:
    """What a deployed ApiFunction sees (template.yaml Globals), with fake credentials."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        # /opt/python of the Billow layer; the dependency layer is the venv's site-packages.
        "PYTHONPATH": str(ROOT / "shared"),
        # Bytecode cached outside the repository, filled by the warm-up runs.
        "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
        "LAMBDA_TASK_ROOT": str(API_APP.parent),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": "billow-ApiFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCHMARKFAKEKEY",
        "AWS_SECRET_ACCESS_KEY": "benchmark-fake-secret",
        "AWS_SESSION_TOKEN": "benchmark-fake-token",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "BILLOW_TABLE": "billow-prod",
        "BILLOW_IDEMPOTENCY_TABLE": "billow-prod-idempotency",
        "BILLOW_EVENT_BUS": "billow-prod",
        "BILLOW_DOCUMENTS_BUCKET": "billow-prod-documents",
        "BILLOW_CURSOR_SECRET": "benchmark-cursor-secret",
        "BILLOW_STAGE": "prod",
        "POWERTOOLS_SERVICE_NAME": "billow",
        "POWERTOOLS_METRICS_NAMESPACE": "Billow",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def _command(runner: Path, variant: Variant, *flags: str) -> list[str]:
    return [sys.executable, *flags, str(runner), str(variant.module), *variant.calls]


@dataclass(frozen=True)
class Sample:
    wall_ms: float
    cpu_ms: float  # user + system time of the child: less sensitive to other load on the machine


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_once(runner: Path, variant: Variant, env: dict[str, str]) -> Sample:
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    completed = subprocess.run(
        _command(runner, variant), env=env, cwd=runner.parent, capture_output=True, text=True, check=False
    )
    wall_ms = (time.perf_counter() - started) * 1000
    cpu_ms = (_children_cpu_s() - cpu_before) * 1000
    if completed.returncode != 0:
        raise RuntimeError(f"{variant.name} failed to load:\n{completed.stderr[-3000:]}")
    return Sample(wall_ms=wall_ms, cpu_ms=cpu_ms)


@dataclass(frozen=True)
class ImportRow:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def _parse_importtime(stderr: str) -> list[ImportRow]:
    """``-X importtime`` rows printed after the runner's marker (the handler's own imports)."""
    rows: list[ImportRow] = []
    seen_marker = False
    for line in stderr.splitlines():
        if line.strip() == MARKER:
            seen_marker = True
            continue
        match = _IMPORTTIME.match(line)
        if seen_marker and match:
            depth = (len(match.group(3)) - 1) // 2
            rows.append(ImportRow(match.group(4), int(match.group(1)), int(match.group(2)), depth))
    return rows


def _importtime(runner: Path, variant: Variant, env: dict[str, str]) -> list[list[ImportRow]]:
    runs = []
    for _ in range(IMPORTTIME_RUNS):
        completed = subprocess.run(
            _command(runner, variant, "-X", "importtime"),
            env=env,
            cwd=runner.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{variant.name} failed under -X importtime:\n{completed.stderr[-3000:]}")
        runs.append(_parse_importtime(completed.stderr))
    return runs


def _importers(rows: list[ImportRow]) -> dict[str, str]:
    """Within which import each module was first imported (importtime prints children first).

    Importing ``a.b.c`` imports the package ``a.b`` first, so a package shows up within the
    import of its submodule that was asked for.
    """
    parents: dict[str, str] = {}
    for index, row in enumerate(rows):
        for later in rows[index + 1 :]:
            if later.depth < row.depth:
                parents[row.module] = later.module if later.depth == row.depth - 1 else "?"
                break
        else:
            parents[row.module] = "(the handler module)"
    return parents


def _import_report(api_runs: list[list[ImportRow]], hello_runs: list[list[ImportRow]]) -> dict[str, Any]:
    self_us: dict[str, list[int]] = defaultdict(list)
    cumulative_us: dict[str, list[int]] = defaultdict(list)
    for rows in api_runs:
        for row in rows:
            self_us[row.module].append(row.self_us)
            cumulative_us[row.module].append(row.cumulative_us)
    importers = _importers(api_runs[0])

    def ms(values: list[int]) -> float:
        return round(statistics.median(values) / 1000, 1)

    slowest = sorted(cumulative_us, key=lambda m: statistics.median(cumulative_us[m]), reverse=True)[:TOP]
    by_package: dict[str, float] = defaultdict(float)
    for module, values in self_us.items():
        by_package[module.split(".")[0]] += statistics.median(values) / 1000
    hello_modules = {row.module for row in hello_runs[0]}
    extra: dict[str, list[float]] = defaultdict(list)
    for module, values in self_us.items():
        if module not in hello_modules:
            extra[".".join(module.split(".")[:2])].append(statistics.median(values) / 1000)
    return {
        "top_cumulative": [
            {
                "module": module,
                "cumulative_ms": ms(cumulative_us[module]),
                "self_ms": ms(self_us[module]),
                "first_imported_within": importers.get(module, "?"),
            }
            for module in slowest
        ],
        "self_time_by_top_level_package_ms": {
            package: round(total, 1)
            for package, total in sorted(by_package.items(), key=lambda item: -item[1])[:TOP]
        },
        "not_imported_by_hello_world": [
            {"modules": prefix, "count": len(values), "self_ms": round(sum(values), 1)}
            for prefix, values in sorted(extra.items(), key=lambda item: -sum(item[1]))[:TOP]
        ],
        "note": (
            f"python -X importtime, medians of {IMPORTTIME_RUNS} runs (importtime itself adds "
            "overhead); cumulative includes the module's own imports"
        ),
    }


def _net_medians(samples: dict[str, list[Sample]], metric: str) -> dict[str, float]:
    """Median of each variant minus the median of the empty module (the bare interpreter)."""
    medians = {name: statistics.median(getattr(s, metric) for s in runs) for name, runs in samples.items()}
    return {name: value - medians["empty"] for name, value in medians.items()} | {"empty": medians["empty"]}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="billow-cold-start-") as directory:
        tmp = Path(directory)
        runner = tmp / "runner.py"
        runner.write_text(RUNNER)
        empty = tmp / "empty_handler.py"
        empty.write_text("")
        hello = tmp / "hello_world.py"
        hello.write_text(HELLO_WORLD)
        env = lambda_environment(tmp)
        variants = [
            Variant("empty", empty),
            Variant("hello_world", hello),
            Variant("api", API_APP),
            Variant("api_with_first_use_clients", API_APP, FIRST_USE),
        ]
        for _ in range(WARMUP_RUNS):
            for variant in variants:
                _run_once(runner, variant, env)
        samples: dict[str, list[Sample]] = {variant.name: [] for variant in variants}
        for _ in range(RUNS):  # interleaved, so drift in machine load hits every variant alike
            for variant in variants:
                samples[variant.name].append(_run_once(runner, variant, env))
        imports = _import_report(_importtime(runner, variants[2], env), _importtime(runner, variants[1], env))

    wall = _net_medians(samples, "wall_ms")
    cpu = _net_medians(samples, "cpu_ms")
    return {
        "description": __doc__.strip().splitlines()[0] if __doc__ else "",
        "ratio": figure(
            wall["api"] / wall["hello_world"],
            "API / hello world (net wall-time medians)",
            Target("<=", TARGET_RATIO),
        ),
        "api_ms": figure(wall["api"], "ms", meaning="net import-and-init of functions/api/app.py"),
        "hello_world_ms": figure(wall["hello_world"], "ms", meaning="net import-and-init of the hello world"),
        "interpreter_start_ms": figure(wall["empty"], "ms", meaning="subtracted from both"),
        "ratio_with_first_use_clients": figure(
            wall["api_with_first_use_clients"] / wall["hello_world"],
            "API with clients / hello world",
            meaning=(
                "like for like: the API function also builds the boto3 DynamoDB client and the "
                "idempotency store it otherwise builds on its first request, as the hello world "
                f"does at import ({wall['api_with_first_use_clients']:.0f} ms net)"
            ),
        ),
        "cpu_time": {
            "ratio": figure(cpu["api"] / cpu["hello_world"], "API / hello world (net CPU-time medians)"),
            "api_ms": round(cpu["api"], 1),
            "hello_world_ms": round(cpu["hello_world"], 1),
            "api_with_first_use_clients_ms": round(cpu["api_with_first_use_clients"], 1),
            "interpreter_start_ms": round(cpu["empty"], 1),
            "meaning": "user + system time of the child; steadier than wall time on a busy machine",
        },
        "wall_ms_gross": {
            name: {
                "median": round(statistics.median(s.wall_ms for s in runs), 1),
                "min": round(min(s.wall_ms for s in runs), 1),
                "max": round(max(s.wall_ms for s in runs), 1),
            }
            for name, runs in samples.items()
        },
        "runs": RUNS,
        "interpreter": sys.executable,
        "slowest_imports_of_api": imports,
    }


if __name__ == "__main__":
    main(run)
