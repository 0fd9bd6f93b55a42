"""The embedded AWS emulator: moto's server running in a thread of this process.

Public API::

    DEFAULT_REGION = "eu-central-1"
    DEFAULT_PORT = 4566                      # or $BILLOW_MOTO_PORT
    MOTO_CONFIG: dict[str, Any]              # what is POSTed to /moto-api/config

    free_port(host: str = "127.0.0.1") -> int
    class Emulator:
        Emulator(port: int | None = None, *, host: str = "127.0.0.1",
                 region: str = DEFAULT_REGION, quiet: bool = True, set_environment: bool = True)
        start() -> None    # serve, reset (if first in process), configure, set client_environment()
        stop() -> None     # ...and put the environment back as it was
        reset() -> None                      # forget every resource, keep the configuration
        endpoint_url: str; port: int; host: str; region: str; running: bool
        client_environment() -> dict[str, str]
    class EnvironmentPatch:
        apply(values: Mapping[str, str]) -> None   # remembers what it replaced
        restore() -> None

moto keeps its state in module globals, so every emulator in one process serves the *same*
resources. Several may run at once (the e2e suite's stack and an integration test's stack in
one pytest worker); only the first one started in a process resets moto's state.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any, Final

from moto.server import ThreadedMotoServer

DEFAULT_REGION: Final = "eu-central-1"
DEFAULT_PORT: Final = 4566
# Step Functions runs the real ASL only when asked; Lambda must not try Docker (the hook in
# lambda_hook.py runs handlers in-process instead).
MOTO_CONFIG: Final[dict[str, Any]] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# Any non-empty value works with moto; fixed so that nothing real can ever be used by mistake.
FAKE_ACCESS_KEY_ID: Final = "testing"
FAKE_SECRET_ACCESS_KEY: Final = "testing"

logger = logging.getLogger(__name__)

_running_lock = threading.Lock()
_running_count = 0  # emulators alive in this process (they share moto's global state)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it: safe for parallel tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _remember_moto_services() -> None:
    """moto's server lists its own package directory (200 listdir/isdir calls) on every request,
    under the lock that routes requests: the list never changes while the process runs."""
    from moto import backends

    listing = backends.list_of_moto_modules
    if getattr(listing, "remembered", False):
        return
    services = tuple(listing())

    def list_of_moto_modules() -> tuple[str, ...]:
        return services

    list_of_moto_modules.remembered = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


_SQS_COUNTS = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }
)
_counting = threading.local()


def _cheap_sqs_attributes() -> None:
    """moto's ``Queue.attributes`` counts the queue's messages (three passes, each message's
    visibility worked out from the clock) every time it is read, and ``SendMessage`` reads it
    for one flag: each send costs as much as the queue is long, and a queue holding many
    waiting messages (a dead webhook endpoint's) slows every other send quadratically. The
    counts are computed only where they are asked for (``GetQueueAttributes`` naming them)."""
    from moto.core.utils import camelcase_to_underscores
    from moto.sqs import models as sqs_models

    queue_type = sqs_models.Queue
    original: Any = queue_type.__dict__["attributes"]  # the property object itself
    if getattr(original.fget, "billow_cheap", False):
        return

    def attributes(queue: Any) -> dict[str, Any]:
        if getattr(_counting, "on", False):
            return dict(original.fget(queue))
        names = list(queue.BASE_ATTRIBUTES)
        names += list(queue.FIFO_ATTRIBUTES) if queue.fifo_queue else []
        names += list(queue.KMS_ATTRIBUTES) if queue.kms_master_key_id else []
        result: dict[str, Any] = {}
        for name in names:
            if name not in _SQS_COUNTS:
                value = getattr(queue, camelcase_to_underscores(name))
                result[name] = str(value).lower() if isinstance(value, bool) else value
        if queue.policy:
            result["Policy"] = queue.policy
        if queue.redrive_policy:
            result["RedrivePolicy"] = json.dumps(queue.redrive_policy)
        return result

    attributes.billow_cheap = True  # type: ignore[attr-defined]
    queue_type.attributes = property(attributes)  # type: ignore[assignment, method-assign]
    backend_type = sqs_models.SQSBackend
    original_get = backend_type.get_queue_attributes

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
        # moto itself asks for MessageRetentionPeriod once per message it receives: only a
        # client asking for the counts (or All) pays for them.
        _counting.on = "All" in attribute_names or bool(_SQS_COUNTS & set(attribute_names))
        try:
            return original_get(self, queue_name, attribute_names)
        finally:
            _counting.on = False

    backend_type.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]


def _fix_start_execution_parameters() -> None:
    """moto's Step Functions interpreter passes a ``states:startExecution`` task's parameters
    to boto3 as written in ASL (``StateMachineArn``, ``Name``, ``Input``), where boto3 wants
    ``stateMachineArn``, ``name``, ``input``, and reads boto3's answers (``executionArn``) by
    the ASL names (``ExecutionArn``): every such task fails with ``States.Runtime``. AWS maps
    the names both ways; so does this patch, after moto's own normalisation (which turns
    ``Input`` into a JSON string). The billing cycle starts dunning steps this way
    (docs/local-stack.md)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_task,
    )

    task = sfn_task.StateTaskServiceSfn
    original = task._normalise_parameters
    if getattr(original, "billow_fixed", False):
        return

    def normalise(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original(self, parameters, boto_service_name, service_action_name)
        if service_action_name is None and self._get_boto_service_action() == "start_execution":
            for name in [key for key in parameters if key[:1].isupper()]:
                parameters[name[0].lower() + name[1:]] = parameters.pop(name)

    original_call = task._eval_service_task

    def call(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        original_call(self, env, *args, **kwargs)
        answer = env.stack[-1] if env.stack else None
        if isinstance(answer, dict):
            for name in [key for key in answer if key[:1].islower()]:
                answer[name[0].upper() + name[1:]] = answer.pop(name)

    normalise.billow_fixed = True  # type: ignore[attr-defined]
    task._normalise_parameters = normalise  # type: ignore[method-assign]
    task._eval_service_task = call  # type: ignore[method-assign]


class Emulator:
    """moto in server mode on ``host:port``, configured for Billow."""

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        region: str = DEFAULT_REGION,
        quiet: bool = True,
        set_environment: bool = True,
    ) -> None:
        if port is None:
            port = int(os.environ.get("BILLOW_MOTO_PORT") or DEFAULT_PORT)
        self.host = host
        self.region = region
        self._requested_port = port
        self._port = port
        self._quiet = quiet
        self._set_environment = set_environment
        self._env = EnvironmentPatch()
        self._server: ThreadedMotoServer | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        global _running_count
        if self._server is not None:
            return
        self._port = self._requested_port or free_port(self.host)
        # ThreadedMotoServer.start() waits forever if its thread cannot bind: check first.
        if not _port_is_free(self.host, self._port):
            raise OSError(f"port {self._port} on {self.host} is in use; set BILLOW_MOTO_PORT to another port")
        if self._quiet:
            # werkzeug logs every request of every boto3 call at INFO.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        _remember_moto_services()
        _fix_start_execution_parameters()
        _cheap_sqs_attributes()
        server = ThreadedMotoServer(ip_address=self.host, port=self._port, verbose=False)
        server.start()
        self._server = server
        with _running_lock:
            first = _running_count == 0
            _running_count += 1
        try:
            if first:
                self.reset()
            self._post("/moto-api/config", MOTO_CONFIG)
        except Exception:
            self.stop()
            raise
        if self._set_environment:
            # Every boto3 client created from now on, in any thread, talks to the emulator.
            self._env.apply(self.client_environment())
        logger.info("AWS emulator listening on %s", self.endpoint_url)

    def stop(self) -> None:
        global _running_count
        server, self._server = self._server, None
        if server is None:
            return
        self._env.restore()
        server.stop()
        with _running_lock:
            _running_count -= 1

    def reset(self) -> None:
        """Delete every emulated resource (moto keeps its configuration)."""
        self._post("/moto-api/reset", None)

    def client_environment(self) -> dict[str, str]:
        """What boto3 (and moto's Step Functions interpreter) need to talk to this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # The Step Functions interpreter calls back into moto on localhost:$MOTO_PORT.
            "MOTO_PORT": str(self._port),
        }

    def _post(self, path: str, body: Any) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(  # noqa: S310 - our own http:// endpoint
            self.endpoint_url + path,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()


class EnvironmentPatch:
    """Sets process environment variables and puts back exactly what was there before."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def apply(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            if name not in self._saved:
                self._saved[name] = os.environ.get(name)
            os.environ[name] = value

    def restore(self) -> None:
        for name, old in self._saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        self._saved.clear()
