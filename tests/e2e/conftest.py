"""Starts the real local stack (`python -m billow.local`) and talks HTTP to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.gocardless_server import GoCardlessServer
from tests.support.stripe_server import StripeServer

ROOT = Path(__file__).resolve().parents[2]
DEV_KEY = "bk_test_e2e_fixed_development_key_0001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def data(self) -> Any:
        return self.json()["data"]

    @property
    def code(self) -> str | None:
        return self.json().get("code")


@dataclass
class Http:
    base: str
    key: str | None
    default_headers: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.key:
            all_headers["Authorization"] = f"Bearer {self.key}"
        all_headers.update(headers or {})
        request = urllib.request.Request(  # noqa: S310 - the base is always http://127.0.0.1
            self.base + path, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                return HttpResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, dict(error.headers), error.read())

    def post_data(self, path: str, body: Any, *, status: int = 201) -> Any:
        """POST with a fresh Idempotency-Key; the answer's ``data`` once its status is checked."""
        response = self.request("POST", path, body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert response.status == status, response.body
        return response.data

    def get_data(self, path: str) -> Any:
        response = self.request("GET", path)
        assert response.status == 200, response.body
        return response.data


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    base: str
    state_dir: Path
    env: dict[str, str]
    startup_seconds: float
    output: list[str]

    def state(self) -> Any:
        return json.loads((self.state_dir / "local.json").read_text())

    def env_endpoint(self) -> str:
        return str(self.state()["endpoint_url"])

    def table_name(self) -> str:
        return str(self.state()["env"]["BILLOW_TABLE"])

    def client(self, key: str | None = DEV_KEY) -> Http:
        return Http(self.base, key)

    def cli(self, *args: str) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "billow", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise
        return self.process.returncode


def start_stack(tmp: Path, extra_env: dict[str, str] | None = None) -> RunningStack:
    port, moto_port = free_port(), free_port()
    env = {
        **os.environ,
        **(extra_env or {}),
        "PYTHONPATH": f"{ROOT / 'shared'}",
        "BILLOW_PORT": str(port),
        "BILLOW_MOTO_PORT": str(moto_port),
        "BILLOW_DEV_API_KEY": DEV_KEY,
        "BILLOW_STATE_DIR": str(tmp),
        "PYTHONUNBUFFERED": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    for name in ("AWS_ENDPOINT_URL", "BILLOW_TABLE", "BILLOW_IDEMPOTENCY_TABLE"):
        env.pop(name, None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "billow.local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:  # the banner precedes uvicorn's socket by a moment
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    if process.poll() is not None or not any("Billow is running" in line for line in output):
        process.kill()
        raise AssertionError("the local stack did not start:\n" + "".join(output))
    # Keep draining output so the child never blocks on a full pipe.
    import threading

    threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    return RunningStack(process, base, tmp, env, time.perf_counter() - started, output)


@dataclass
class Providers:
    """Local servers speaking Stripe's and GoCardless's HTTP APIs, which the stack's gateway
    adapters are pointed at (their SDKs' base URL overrides)."""

    stripe: StripeServer
    gocardless: GoCardlessServer


@pytest.fixture(scope="session")
def providers() -> Iterator[Providers]:
    with StripeServer() as stripe_api, GoCardlessServer() as gocardless_api:
        yield Providers(stripe_api, gocardless_api)


@pytest.fixture(scope="session")
def reference_sources() -> Iterator[dict[str, str]]:
    """A local ECB and TEDB: the stack's ticker fires the FX and VAT rate refreshes from the
    start, and a test run must never reach the real services."""
    from billow.adapters.vat.bundled_rates import load_bundled_eu_vat_rates
    from tests.support.ecb_server import EcbServer
    from tests.support.tedb_server import TedbServer
    from tests.support.vies_server import ViesServer

    with (
        EcbServer() as ecb,
        TedbServer(load_bundled_eu_vat_rates()) as tedb,
        ViesServer(REGISTERED_VAT_IDS) as vies,
    ):
        yield {
            "BILLOW_ECB_BASE_URL": ecb.url,
            "BILLOW_TEDB_BASE_URL": tedb.url,
            "BILLOW_VIES_BASE_URL": vies.url,
        }


# The EU VAT IDs the local VIES knows (the e2e tests' seller and its French business customer).
REGISTERED_VAT_IDS = {
    "DE136695976": ("Wolkig Software GmbH", "Berlin"),
    "FR40303265045": ("Nuage SAS", "Paris"),
}


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, providers: Providers, reference_sources: dict[str, str]
) -> Iterator[RunningStack]:
    extra = {
        "BILLOW_STRIPE_API_BASE": providers.stripe.url,
        "BILLOW_GOCARDLESS_API_BASE": providers.gocardless.url,
        **reference_sources,
    }
    running = start_stack(tmp_path_factory.mktemp("billow-state"), extra)
    yield running
    assert running.stop() == 0, "".join(running.output)


@pytest.fixture
def http(stack: RunningStack) -> Http:
    return stack.client()
