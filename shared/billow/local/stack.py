"""The local stack in one object: emulator + Lambda hook + resources from the template + ticker.

Usage (what ``python -m billow.local`` does before serving HTTP)::

    from billow.local.stack import LocalAws

    with LocalAws() as aws:                 # or: aws = LocalAws().start(); ...; aws.stop()
        settings = get_settings()           # now names the emulator's tables, bus, bucket
        aws.invoke("OutboxRelayFunction", {...})

``start()`` (about a second on the project template; a first state machine in the process
adds about two more, moto's ASL parser being slow to import):

1. starts moto's server on 127.0.0.1:``port`` (``$BILLOW_MOTO_PORT``, default 4566; pass
   ``port=0`` for any free port) and points every boto3 client of the process at it
   (``AWS_ENDPOINT_URL``, fake credentials, ``AWS_DEFAULT_REGION``, ``MOTO_PORT``);
2. serialises moto's DynamoDB (billow.local.dynamodb_serial) and installs lambda_hook, so
   that invoking a function runs its handler in this process;
3. provisions the template's resources (provision.py);
4. puts the resolved ``Globals.Function.Environment`` into ``os.environ`` (secrets resolved),
   and the API function's own variables (``BILLOW_DOCUMENTS_FUNCTION``: the API asks the
   documents function through Lambda, as in AWS), and calls ``billow.settings.reset_settings()``;
5. starts the ticker for the template's schedules (unless ``ticker=False``).

``stop()`` undoes all of it, environment variables included, so tests can start and stop
stacks freely. boto3 clients created before ``start()`` keep the endpoint they were made with:
create (or reset: ``billow.adapters.aws.reset_clients()``) clients after it. moto's state is
process-wide: stacks started together in one process share it, so give them different
``stack_name`` values.

Public API::

    class LocalAws:
        LocalAws(template: str | Path | None = None, *, port: int | None = None,
                 region: str = DEFAULT_REGION, stack_name: str = DEFAULT_STACK_NAME,
                 parameters: Mapping[str, str] | None = None, ticker: bool = True,
                 tick_seconds: float | None = None, quiet: bool = True)
        start() -> LocalAws; stop() -> None; __enter__ / __exit__
        endpoint_url: str; port: int; region: str; template_path: Path
        stack: ProvisionedStack      # after start()
        ticker: Ticker | None        # after start(), None when disabled
        environment: dict[str, str]  # every variable start() set
        invoke(function: str, event: Any) -> InvocationResult   # logical id or name
        wait_for_streams(timeout: float = 10.0) -> bool          # stream triggers are async
        client(service_name: str) -> Any                         # a boto3 client on the emulator
    default_template_path() -> Path  # the repository's template.yaml
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from billow.local import lambda_hook
from billow.local.dynamodb_serial import serialise_moto_dynamodb
from billow.local.emulator import DEFAULT_REGION, Emulator, EnvironmentPatch
from billow.local.lambda_hook import InvocationResult
from billow.local.provision import DEFAULT_STACK_NAME, ProvisionedStack, provision
from billow.local.queue_poller import QueuePoller
from billow.local.ticker import Ticker
from billow.settings import reset_settings

logger = logging.getLogger(__name__)


def default_template_path() -> Path:
    # shared/billow/local/stack.py -> the repository root holds template.yaml
    return Path(__file__).resolve().parents[3] / "template.yaml"


class LocalAws:
    def __init__(
        self,
        template: str | Path | None = None,
        *,
        port: int | None = None,
        region: str = DEFAULT_REGION,
        stack_name: str = DEFAULT_STACK_NAME,
        parameters: Mapping[str, str] | None = None,
        ticker: bool = True,
        tick_seconds: float | None = None,
        quiet: bool = True,
    ) -> None:
        self.template_path = Path(template).resolve() if template else default_template_path()
        self.region = region
        self.stack_name = stack_name
        self._parameters = dict(parameters or {})
        self._use_ticker = ticker
        self._tick_seconds = tick_seconds
        self._emulator = Emulator(port, region=region, quiet=quiet)
        self._env = EnvironmentPatch()
        self._hooked = False
        self._stack: ProvisionedStack | None = None
        self.ticker: Ticker | None = None
        self.queue_poller: QueuePoller | None = None
        self.environment: dict[str, str] = {}

    @property
    def endpoint_url(self) -> str:
        return self._emulator.endpoint_url

    @property
    def port(self) -> int:
        return self._emulator.port

    @property
    def stack(self) -> ProvisionedStack:
        if self._stack is None:
            raise RuntimeError("the local stack is not started")
        return self._stack

    def start(self) -> LocalAws:
        if self._stack is not None:
            return self
        began = time.perf_counter()
        try:
            self._emulator.start()  # also points boto3 at it (AWS_ENDPOINT_URL, ...)
            self.environment.update(self._emulator.client_environment())
            # One DynamoDB action at a time, as DynamoDB behaves per item (see dynamodb_serial).
            serialise_moto_dynamodb()
            lambda_hook.install()
            self._hooked = True
            self._stack = provision(
                self.template_path,
                region=self.region,
                stack_name=self.stack_name,
                parameters=self._parameters,
                endpoint_url=self.endpoint_url,
            )
            self._apply_env(self._stack.environment)
            self._apply_env(self._api_environment(self._stack))
            if self._use_ticker:
                self.ticker = Ticker(self._stack.schedules, tick_seconds=self._tick_seconds)
                self.ticker.start()
            self.queue_poller = QueuePoller(
                self._stack.queues, endpoint_url=self.endpoint_url, region=self.region
            )
            self.queue_poller.start()
        except BaseException:
            self.stop()
            raise
        logger.info(
            "local stack %s up on %s in %.2f s",
            self.stack_name,
            self.endpoint_url,
            time.perf_counter() - began,
        )
        return self

    def stop(self) -> None:
        if self.queue_poller is not None:
            self.queue_poller.stop()
            self.queue_poller = None
        if self.ticker is not None:
            self.ticker.stop()
            self.ticker = None
        if self._stack is not None:
            for function in self._stack.functions.values():
                lambda_hook.unregister(function.function_name)
            self._stack = None
        if self._hooked:
            lambda_hook.uninstall()
            self._hooked = False
        self._env.restore()
        self._emulator.stop()
        self.environment = {}
        reset_settings()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def invoke(self, function: str, event: Any) -> InvocationResult:
        """Run a function's handler in-process (by logical id or physical name)."""
        return lambda_hook.invoke(self.stack.function(function).function_name, event)

    def wait_for_streams(self, timeout: float = 10.0) -> bool:
        """Wait until the DynamoDB stream batches queued so far have been handled."""
        return lambda_hook.wait_for_streams(timeout)

    def client(self, service_name: str) -> Any:
        return boto3.session.Session(region_name=self.region).client(  # type: ignore[call-overload]
            service_name, endpoint_url=self.endpoint_url
        )

    @staticmethod
    def _api_environment(stack: ProvisionedStack) -> dict[str, str]:
        """The API function's own variables beyond the Globals (BILLOW_DOCUMENTS_FUNCTION):
        the local HTTP API runs in this process, and with them it asks the documents function
        through Lambda's Invoke (moto, then the hook) as it does in AWS."""
        api = stack.functions.get("ApiFunction")
        if api is None:
            return {}
        return {k: v for k, v in api.environment.items() if k not in stack.environment}

    def _apply_env(self, values: Mapping[str, str]) -> None:
        self._env.apply(values)
        self.environment.update(values)
        reset_settings()
