"""Run Lambda handlers in this process whenever the emulator invokes a function.

moto can only run Lambda code in Docker; without it an invoke just echoes its input. This
module patches two of moto's private methods (moto is pinned and a test proves the patch still
works):

* ``moto.awslambda.models.LambdaFunction._invoke_lambda(self, event)`` - returns
  ``(payload_str, errored, logs)``; every invocation path ends here: a direct ``Invoke``, a
  Step Functions task, an SQS or a DynamoDB Streams event-source mapping.
* ``moto.awslambda_simple.models.LambdaSimpleBackend.invoke`` - with ``use_docker: false``
  moto answers ``Invoke`` from this echo backend without reaching ``_invoke_lambda``; the
  patch sends it down the normal path.

The patched ``_invoke_lambda`` looks the function up in a registry (function name -> code
directory + handler), imports the handler file **by path under a module name unique to the
function** (every handler is called ``app.py``, so ``import app`` would collide), and calls it
with the event and a small fake Lambda context. An exception becomes ``errored=True`` with
AWS's error payload (``errorMessage``, ``errorType``, ``stackTrace``), so Step Functions
``Retry``/``Catch`` on the exception's class name work as in AWS.

moto ignores an event-source mapping's ``FilterCriteria``; the hook applies them (EventBridge
pattern syntax: exact values, ``prefix``, ``suffix``, ``anything-but``, ``exists``,
``numeric``, ``equals-ignore-case``).

DynamoDB stream records are delivered **asynchronously**, as in AWS: moto calls the mapped
function from inside the write (PutItem, UpdateItem, ...), so the hook only queues the batch
and a background thread ("billow-streams", one for the process, in order) runs the handler
after the write has returned. Running it inside the write would deadlock as soon as the handler
writes to DynamoDB itself while moto's DynamoDB is serialised (billow.local.dynamodb_serial).
Tests wait for the queue with :func:`wait_for_streams`. Each stream record reaches a function
once (moto would re-send records still pending when a handler writes to its own table), and
consecutive queued batches for one function are merged, like a batching window.

moto emits stream records for each write of a ``TransactWriteItems`` as it goes, even when a
later condition cancels the transaction (AWS emits none). A third patch, of
``moto.dynamodb.models.DynamoDBBackend.transact_write_items``, holds the records a transaction
causes until it commits, then queues them, and drops them when it is cancelled - so an outbox
event is never published for a rolled-back change.

Public API::

    @dataclass(frozen=True)
    class HandlerSpec:
        function_name: str; code_dir: Path; handler: str
        timeout: int = 3; memory_size: int = 128; function_arn: str = ""
        module_name: str                    # property: the unique name it is imported as
    @dataclass(frozen=True)
    class InvocationResult:
        payload: str; errored: bool
        value: Any                          # property: the payload parsed as JSON
    class LocalLambdaContext                 # what the handler gets as ``context``

    register(function_name: str, code_dir: str | Path, handler: str, *, timeout: int = 3,
             memory_size: int = 128, function_arn: str = "") -> HandlerSpec
    unregister(function_name: str) -> None
    registered() -> dict[str, HandlerSpec]
    handler_module(function_name: str) -> ModuleType        # imports it if needed
    invoke(function_name: str, event: Any) -> InvocationResult   # run a handler directly
    wait_for_streams(timeout: float = 10.0) -> bool   # True once queued stream batches ran
    install() -> None; uninstall() -> None; installed() -> bool  # reference counted
    matches_pattern(pattern: Mapping[str, Any], data: Any) -> bool
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import queue
import re
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]

_lock = threading.RLock()
_registry: dict[str, HandlerSpec] = {}
_modules: dict[str, ModuleType] = {}  # by HandlerSpec.module_name
# One lock per handler module, apart from _lock: an import that calls the emulator (which may
# invoke another function through this hook) must not block every other invocation.
_import_locks: dict[str, threading.Lock] = {}
_install_count = 0
_originals: dict[str, Any] = {}
# Stream invocations caused by the TransactWriteItems running in this thread (None: none runs).
_transaction = threading.local()
# (function name, stream eventID) already delivered; bounded so a long session stays small.
_delivered: OrderedDict[tuple[str, str], None] = OrderedDict()
_DELIVERED_MAX = 50_000


@dataclass(frozen=True)
class HandlerSpec:
    """Where a function's code lives, as the template says (CodeUri + Handler)."""

    function_name: str
    code_dir: Path
    handler: str
    timeout: int = 3
    memory_size: int = 128
    function_arn: str = ""

    @property
    def module_name(self) -> str:
        # Unique per function *and* code location, and a valid identifier.
        safe = re.sub(r"\W", "_", self.function_name)
        digest = hashlib.sha1(str(self.code_dir).encode(), usedforsecurity=False).hexdigest()[:8]
        return f"_billow_lambda_{safe}_{digest}"

    @property
    def handler_file(self) -> Path:
        module_path, _, _ = self.handler.rpartition(".")
        return self.code_dir.joinpath(*module_path.replace("/", ".").split(".")).with_suffix(".py")

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


_Batch = tuple[HandlerSpec, str, Any]  # a stream batch: (function, region, event with "Records")


@dataclass(frozen=True)
class InvocationResult:
    payload: str
    errored: bool

    @property
    def value(self) -> Any:
        return json.loads(self.payload) if self.payload else None


class LocalLambdaContext:
    """The attributes and method of the Lambda context object that code commonly reads."""

    def __init__(self, spec: HandlerSpec, region: str = "") -> None:
        self.function_name = spec.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.function_arn or (
            f"arn:aws:lambda:{region or 'local'}:123456789012:function:{spec.function_name}"
        )
        self.memory_limit_in_mb = spec.memory_size
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.function_name}"
        self.log_stream_name = f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# ---------------------------------------------------------------- registry


def register(
    function_name: str,
    code_dir: str | Path,
    handler: str,
    *,
    timeout: int = 3,
    memory_size: int = 128,
    function_arn: str = "",
) -> HandlerSpec:
    spec = HandlerSpec(
        function_name=function_name,
        code_dir=Path(code_dir).resolve(),
        handler=handler,
        timeout=timeout,
        memory_size=memory_size,
        function_arn=function_arn,
    )
    with _lock:
        _registry[function_name] = spec
    return spec


def unregister(function_name: str) -> None:
    with _lock:
        _registry.pop(function_name, None)


def registered() -> dict[str, HandlerSpec]:
    with _lock:
        return dict(_registry)


def handler_module(function_name: str) -> ModuleType:
    """The module a function's handler lives in, imported now if no invoke has done it yet."""
    with _lock:
        spec = _registry.get(function_name)
    if spec is None:
        raise KeyError(f"no local handler registered for function {function_name!r}")
    _load_handler(spec)
    return _modules[spec.module_name]


def _load_handler(spec: HandlerSpec) -> Handler:
    with _lock:
        import_lock = _import_locks.setdefault(spec.module_name, threading.Lock())
    with import_lock:  # one import per module even when invocations arrive together
        module = _modules.get(spec.module_name)
        if module is None:
            path = spec.handler_file
            if not path.is_file():
                raise _RuntimeError("Runtime.ImportModuleError", f"No module file {path}")
            import_spec = importlib.util.spec_from_file_location(spec.module_name, path)
            if import_spec is None or import_spec.loader is None:
                raise _RuntimeError("Runtime.ImportModuleError", f"Cannot import {path}")
            module = importlib.util.module_from_spec(import_spec)
            # In sys.modules so that typing.get_type_hints, dataclasses and pickle find it.
            sys.modules[spec.module_name] = module
            try:
                import_spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[spec.module_name]
                # What the Lambda runtime reports when a handler module fails to import.
                raise _RuntimeError(
                    "Runtime.ImportModuleError", f"Unable to import module '{path.stem}': {exc}"
                ) from exc
            except BaseException:
                del sys.modules[spec.module_name]
                raise
            with _lock:
                _modules[spec.module_name] = module
    handler = getattr(module, spec.handler_attribute, None)
    if not callable(handler):
        raise _RuntimeError(
            "Runtime.HandlerNotFound",
            f"Handler '{spec.handler_attribute}' missing on module '{spec.handler_file.stem}'",
        )
    return handler  # type: ignore[no-any-return]


class _RuntimeError(Exception):
    """A failure of the (emulated) Lambda runtime rather than of the handler."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _error_payload(exc: BaseException, request_id: str) -> str:
    error_type = exc.error_type if isinstance(exc, _RuntimeError) else type(exc).__name__
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(exc.__traceback__),
        }
    )


def _run(spec: HandlerSpec, event: Any, region: str = "") -> InvocationResult:
    context = LocalLambdaContext(spec, region)
    try:
        handler = _load_handler(spec)
        result = handler(event, context)
    except Exception as exc:
        logger.warning(
            "function %s failed: %s: %s", spec.function_name, type(exc).__name__, exc, exc_info=True
        )
        return InvocationResult(_error_payload(exc, context.aws_request_id), errored=True)
    try:
        payload = json.dumps(result)
    except (TypeError, ValueError) as exc:
        marshal = _RuntimeError("Runtime.MarshalError", f"Unable to marshal response: {exc}")
        return InvocationResult(_error_payload(marshal, context.aws_request_id), errored=True)
    _warn_on_batch_failures(spec, event, result)
    return InvocationResult(payload, errored=False)


def invoke(function_name: str, event: Any) -> InvocationResult:
    """Run a registered function's handler now, in this thread (used by the ticker)."""
    with _lock:
        spec = _registry.get(function_name)
    if spec is None:
        raise KeyError(f"no local handler registered for function {function_name!r}")
    return _run(spec, event)


def _warn_on_batch_failures(spec: HandlerSpec, event: Any, result: Any) -> None:
    records = _records(event) or []
    # SQS failures come back through the local queue poller; stream failures do not.
    from_sqs = bool(records) and all(r.get("eventSource") == "aws:sqs" for r in records)
    if isinstance(result, dict) and result.get("batchItemFailures") and records and not from_sqs:
        logger.warning(
            "function %s reported %d batch item failures; the local emulator does not redeliver them",
            spec.function_name,
            len(result["batchItemFailures"]),
        )


# ---------------------------------------------------------------- event-source filtering


def _records(event: Any) -> list[Any] | None:
    records = event.get("Records") if isinstance(event, dict) else None
    return records if isinstance(records, list) else None


def _filters_for(function: Any, source_arn: str) -> list[dict[str, Any]] | None:
    """The filter patterns of ``function``'s mappings from ``source_arn`` (None: no mapping)."""
    from moto.awslambda.utils import get_backend

    backend = get_backend(function.account_id, function.region)
    mappings = [
        esm
        for esm in backend.list_event_source_mappings(source_arn, "")
        if esm.function_arn.split(":")[6] == function.function_name
    ]
    if not mappings:
        return None
    patterns: list[dict[str, Any]] = []
    for esm in mappings:
        for item in (esm.filter_criteria or {}).get("Filters", []):
            patterns.append(json.loads(item["Pattern"]))
    return patterns


def _matchable(record: dict[str, Any]) -> dict[str, Any]:
    # Lambda matches an SQS body that holds JSON as an object, else as a string.
    if record.get("eventSource") == "aws:sqs" and isinstance(record.get("body"), str):
        try:
            return {**record, "body": json.loads(record["body"])}
        except ValueError:
            return record
    return record


def _first_delivery(function_name: str, record: dict[str, Any]) -> bool:
    event_id = record.get("eventID")
    if record.get("eventSource") != "aws:dynamodb" or not isinstance(event_id, str):
        return True
    key = (function_name, event_id)
    with _lock:
        if key in _delivered:
            return False
        _delivered[key] = None
        if len(_delivered) > _DELIVERED_MAX:
            _delivered.popitem(last=False)
    return True


def _select_records(function: Any, event: Any) -> Any | None:
    """The event as the function should get it, or None when nothing is left to deliver."""
    records = _records(event)
    if not records:
        return event
    kept = []
    for record in records:
        source = record.get("eventSourceARN") if isinstance(record, dict) else None
        patterns = _filters_for(function, source) if isinstance(source, str) else None
        if patterns is None:  # not from a mapping of this function: a hand-made event
            kept.append(record)
            continue
        if patterns and not any(matches_pattern(p, _matchable(record)) for p in patterns):
            continue
        if _first_delivery(function.function_name, record):
            kept.append(record)
    return {**event, "Records": kept} if kept else None


def matches_pattern(pattern: Mapping[str, Any], data: Any) -> bool:
    """Whether ``data`` matches an EventBridge/Lambda filter ``pattern`` (the common subset)."""
    for key, rule in pattern.items():
        present = isinstance(data, dict) and key in data
        value = data[key] if present else None
        if isinstance(rule, Mapping):
            if not (present and matches_pattern(rule, value)):
                return False
        elif isinstance(rule, list):
            if not any(_matches_rule(item, present, value) for item in rule):
                return False
        else:
            raise ValueError(f"filter pattern value for {key!r} must be an object or an array")
    return True


def _matches_rule(rule: Any, present: bool, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    if not isinstance(rule, Mapping):
        return present and rule in values
    if "exists" in rule:
        return bool(rule["exists"]) == present
    if not present:
        return False
    if "prefix" in rule:
        return any(isinstance(v, str) and v.startswith(rule["prefix"]) for v in values)
    if "suffix" in rule:
        return any(isinstance(v, str) and v.endswith(rule["suffix"]) for v in values)
    if "equals-ignore-case" in rule:
        wanted = str(rule["equals-ignore-case"]).lower()
        return any(isinstance(v, str) and v.lower() == wanted for v in values)
    if "anything-but" in rule:
        excluded = rule["anything-but"]
        if isinstance(excluded, Mapping) and "prefix" in excluded:
            return all(not (isinstance(v, str) and v.startswith(excluded["prefix"])) for v in values)
        excluded_list = excluded if isinstance(excluded, list) else [excluded]
        return all(v not in excluded_list for v in values)
    if "numeric" in rule:
        return any(_numeric_matches(rule["numeric"], v) for v in values)
    raise ValueError(f"unsupported filter rule {dict(rule)!r}")


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric_matches(conditions: list[Any], value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    pairs = zip(conditions[0::2], conditions[1::2], strict=True)
    return all(_COMPARE[op](number, float(bound)) for op, bound in pairs)


# ---------------------------------------------------------------- the moto patch


def _decode_event(event: Any) -> Any:
    if isinstance(event, bytes | bytearray):
        event = event.decode()
    if isinstance(event, str):
        try:
            return json.loads(event)
        except ValueError:
            return event
    return event


def _patched_invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
    with _lock:
        spec = _registry.get(function.function_name)
    if spec is None:
        error = _RuntimeError(
            "Runtime.HandlerNotFound",
            f"function {function.function_name} has no local handler (not in template.yaml?)",
        )
        return _error_payload(error, str(uuid.uuid4())), True, ""
    selected = _select_records(function, _decode_event(event))
    if selected is None:
        # Everything was filtered out: AWS would not have invoked the function at all.
        return "{}", False, ""
    if _is_stream_event(selected):
        pending: list[_Batch] | None = getattr(_transaction, "pending", None)
        if pending is not None:
            pending.append((spec, function.region, selected))  # queued when it commits
        else:
            _streams.submit([(spec, function.region, selected)])
        return "{}", False, ""
    result = _run(spec, selected, function.region)
    return result.payload, result.errored, ""


def _is_stream_event(event: Any) -> bool:
    records = _records(event) or []
    return bool(records) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:dynamodb" for r in records
    )


def _patched_transact_write_items(backend: Any, *args: Any, **kwargs: Any) -> Any:
    original = _originals["transact_write_items"]
    if getattr(_transaction, "pending", None) is not None:
        return original(backend, *args, **kwargs)
    _transaction.pending = []
    try:
        result = original(backend, *args, **kwargs)
    except BaseException:
        _transaction.pending = None  # cancelled: AWS writes no stream records
        raise
    pending: list[_Batch] = _transaction.pending
    _transaction.pending = None
    _streams.submit(pending)
    return result


class _StreamPoller:
    """Runs queued DynamoDB stream batches in one background thread, in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._unfinished = 0
        self._thread: threading.Thread | None = None

    def submit(self, batches: list[_Batch]) -> None:
        if not batches:
            return
        with self._idle:
            self._unfinished += len(batches)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="billow-streams", daemon=True)
                self._thread.start()
        for batch in batches:
            self._queue.put(batch)

    def wait(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(10)

    def _work(self) -> None:
        carry: _Batch | None = None
        stopping = False
        while not stopping:
            batch = carry if carry is not None else self._queue.get()
            carry = None
            if batch is None:
                return
            spec, region, event = batch
            records, taken = list(event["Records"]), 1
            # Merge what is already queued for the same function: one invocation, like a
            # batching window, without reordering anything.
            while True:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    stopping = True
                    break
                if following[0] != spec:
                    carry = following
                    break
                records += following[2]["Records"]
                taken += 1
            try:
                _run(spec, {**event, "Records": records}, region)  # failures are logged, not retried
            finally:
                with self._idle:
                    self._unfinished -= taken
                    self._idle.notify_all()


_streams = _StreamPoller()


def wait_for_streams(timeout: float = 10.0) -> bool:
    """Wait until every queued DynamoDB stream batch has been handled (False on timeout)."""
    return _streams.wait(timeout)


def install() -> None:
    """Patch moto (reference counted: every install() needs one uninstall())."""
    global _install_count
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.dynamodb.models import DynamoDBBackend

    with _lock:
        _install_count += 1
        if _install_count > 1:
            return
        _originals["_invoke_lambda"] = LambdaFunction.__dict__["_invoke_lambda"]
        _originals["simple_invoke"] = LambdaSimpleBackend.__dict__["invoke"]
        _originals["transact_write_items"] = DynamoDBBackend.__dict__["transact_write_items"]
        DynamoDBBackend.transact_write_items = _patched_transact_write_items  # type: ignore[method-assign,assignment]
        # The patch is the point of this module: mypy rightly dislikes replacing methods.
        LambdaFunction._invoke_lambda = _patched_invoke_lambda  # type: ignore[method-assign,assignment]
        LambdaSimpleBackend.invoke = LambdaBackend.invoke  # type: ignore[method-assign]


def uninstall() -> None:
    global _install_count
    from moto.awslambda.models import LambdaFunction
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.dynamodb.models import DynamoDBBackend

    with _lock:
        if _install_count == 0:
            return
        _install_count -= 1
        if _install_count > 0:
            return
        DynamoDBBackend.transact_write_items = _originals.pop("transact_write_items")  # type: ignore[method-assign]
        _streams.stop()
        LambdaFunction._invoke_lambda = _originals.pop("_invoke_lambda")  # type: ignore[method-assign]
        LambdaSimpleBackend.invoke = _originals.pop("simple_invoke")  # type: ignore[method-assign]


def installed() -> bool:
    with _lock:
        return _install_count > 0
