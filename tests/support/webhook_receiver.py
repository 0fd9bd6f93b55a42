"""A local webhook endpoint: a threaded HTTP server on 127.0.0.1 that records what it receives
and answers as a test scripts it.

    with WebhookReceiver(fail_first=2) as receiver:
        ...  # deliver to receiver.url
        receiver.wait_for(3, timeout=5)
        events = receiver.verified("whsec_…")  # every request checked with standardwebhooks

Each request is recorded as it arrives (before any delay), as a ``ReceivedRequest`` with its
headers (names lower-cased), raw body and arrival time. How a request is answered:

- the next queued one-off ``Behaviour`` (``queue(...)``; ``fail_first=n`` queues n answers
  500), in order;
- otherwise the default behaviour, set by the constructor or ``set_behaviour(...)``.

A ``Behaviour`` can answer a status with a body, answer a 302 to ``redirect_to``, stream a
body of ``body_size`` bytes (a huge answer), wait ``delay_seconds`` first (a timeout), or
close the connection without answering. With ``ssl_context`` the server speaks https.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self

from standardwebhooks import Webhook

from tests.support.background_http import AppHTTPServer, LocalHttpServer, QuietHandler

DEFAULT_BODY = b'{"received":true}'
_STREAM_CHUNK = 65_536


@dataclass(frozen=True)
class Behaviour:
    """How to answer one request."""

    status: int = 200
    body: bytes = DEFAULT_BODY
    delay_seconds: float = 0.0
    redirect_to: str | None = None  # answer 302 with this Location (status is then ignored)
    body_size: int | None = None  # stream this many bytes of "x" instead of ``body``
    close_connection: bool = False  # read the request, then hang up without a word
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    arrived_at: float  # wall clock, time.time()
    arrived_monotonic: float  # time.monotonic(), for intervals between attempts

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _HTTPServer(AppHTTPServer["WebhookReceiver"]):
    # A client that gave up (timeout, capped body) or refused our certificate is expected.
    expected_errors = (ConnectionError, TimeoutError, ssl.SSLError)

    def __init__(self, receiver: WebhookReceiver, ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(receiver, _Handler)
        if ssl_context is not None:
            # The handshake happens in the handler thread (on first read), so a client that
            # never completes it cannot stall the accepting loop.
            self.socket = ssl_context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )


class _Handler(QuietHandler):
    server: _HTTPServer
    timeout = 10  # a stuck client cannot pin a handler thread for ever

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.read_body()
        receiver = self.server.app
        behaviour = receiver._record(
            ReceivedRequest(
                method=self.command,
                path=self.path,
                headers=MappingProxyType({name.lower(): value for name, value in self.headers.items()}),
                body=body,
                arrived_at=time.time(),
                arrived_monotonic=time.monotonic(),
            )
        )
        self.close_connection = True
        if behaviour.delay_seconds and receiver._stopping.wait(behaviour.delay_seconds):
            return  # the receiver is shutting down
        if behaviour.close_connection:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        # The client may have stopped listening, as a capped or timed-out client does.
        with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
            self._answer(behaviour)

    def _answer(self, behaviour: Behaviour) -> None:
        status = 302 if behaviour.redirect_to is not None else behaviour.status
        size = behaviour.body_size if behaviour.body_size is not None else len(behaviour.body)
        self.send_response(status)
        if behaviour.redirect_to is not None:
            self.send_header("Location", behaviour.redirect_to)
        for name, value in behaviour.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        if behaviour.body_size is None:
            self.wfile.write(behaviour.body)
            return
        chunk = b"x" * _STREAM_CHUNK
        left = behaviour.body_size
        while left > 0:
            self.wfile.write(chunk[:left])
            left -= min(left, _STREAM_CHUNK)
        self.wfile.flush()


class WebhookReceiver(LocalHttpServer):
    """A webhook endpoint on 127.0.0.1 (a free port), used as a context manager."""

    name = "the webhook receiver"

    def __init__(
        self,
        fail_first: int = 0,
        status: int = 200,
        delay_seconds: float = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        path: str = "/webhook",
    ) -> None:
        super().__init__()
        self._condition = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        # With a secret set, each request is verified as it arrives (as a real receiver does),
        # so a long run is not failed by the 5-minute timestamp tolerance at the end.
        self.secret: str | None = None
        self._verified_on_arrival: dict[int, dict[str, Any] | Exception] = {}
        self._script: list[Behaviour] = []
        self._default = Behaviour(status=status, delay_seconds=delay_seconds)
        self._stopping = threading.Event()
        self._ssl_context = ssl_context
        self._path = path
        self.queue(*[Behaviour(status=500)] * fail_first)

    # -- lifecycle ------------------------------------------------------------------------

    def _make_server(self) -> _HTTPServer:
        return _HTTPServer(self, self._ssl_context)

    def start(self) -> Self:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a delay
        super().stop()

    @property
    def url(self) -> str:
        """The endpoint's URL (``http://127.0.0.1:<port>/webhook``, https with an ssl_context)."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self._path}"

    # -- scripting ------------------------------------------------------------------------

    def set_behaviour(
        self,
        *,
        status: int = 200,
        body: bytes = DEFAULT_BODY,
        delay_seconds: float = 0.0,
        redirect_to: str | None = None,
        body_size: int | None = None,
        close_connection: bool = False,
        headers: Mapping[str, str] | None = None,
        fail_first: int = 0,
    ) -> None:
        """Replace the default answer (every argument left out takes its default again) and
        drop queued one-offs; ``fail_first`` queues that many 500s before it."""
        with self._condition:
            self._default = Behaviour(
                status=status,
                body=body,
                delay_seconds=delay_seconds,
                redirect_to=redirect_to,
                body_size=body_size,
                close_connection=close_connection,
                headers=dict(headers or {}),
            )
            self._script = [Behaviour(status=500)] * fail_first

    def queue(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with these, in order, then go back to the default."""
        with self._condition:
            self._script.extend(behaviours)

    def _record(self, request: ReceivedRequest) -> Behaviour:
        checked: dict[str, Any] | Exception | None = None
        if self.secret is not None:
            try:
                checked = Webhook(self.secret).verify(request.body, dict(request.headers))
            except Exception as failure:  # noqa: BLE001 - kept, raised by verified()
                checked = failure
        with self._condition:
            if checked is not None:
                self._verified_on_arrival[id(request)] = checked
            self._requests.append(request)
            self._condition.notify_all()
            return self._script.pop(0) if self._script else self._default

    # -- what arrived ---------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._condition:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until at least ``count`` requests arrived; AssertionError after ``timeout``."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(f"expected {count} webhook requests, got {len(self._requests)}")
            return list(self._requests)

    def clear(self) -> None:
        with self._condition:
            self._requests.clear()

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every recorded request checked as a Standard Webhooks receiver does (signature and a
        timestamp within 5 minutes: on arrival when ``secret`` was set before, else now) and
        its JSON body parsed; raises
        ``standardwebhooks.WebhookVerificationError`` on the first that fails."""
        webhook = Webhook(secret)
        results = []
        for request in self.requests:
            checked = self._verified_on_arrival.get(id(request)) if secret == self.secret else None
            if isinstance(checked, Exception):
                raise checked
            results.append(
                checked if checked is not None else webhook.verify(request.body, dict(request.headers))
            )
        return results
