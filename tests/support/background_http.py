"""Running the tests' local HTTP servers (provider APIs, webhook receivers) in a thread.

A local server subclasses ``LocalHttpServer``, naming its request handler (a ``QuietHandler``
subclass whose ``server.app`` is the local server) and building its ``url`` from ``port``:

    class _Handler(QuietHandler):
        server: AppHTTPServer[EcbServer]

    class EcbServer(LocalHttpServer):
        handler = _Handler
        name = "the ECB server"

``start``/``stop``, or ``with``, run it on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

App = TypeVar("App")


def serve_in_background(httpd: ThreadingHTTPServer, poll_interval: float = 0.05) -> threading.Thread:
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
    )
    thread.start()
    return thread


def shut_down(httpd: ThreadingHTTPServer | None, thread: threading.Thread | None) -> None:
    if httpd is not None:
        httpd.shutdown()
        httpd.server_close()
    if thread is not None:
        thread.join(timeout=5)


class AppHTTPServer(ThreadingHTTPServer, Generic[App]):
    """A threading HTTP server on 127.0.0.1 (a free port) whose handlers reach ``app``."""

    daemon_threads = True
    block_on_close = False
    # What a client causes by giving up waiting (a timeout test): expected, not an error.
    # (socket.timeout is TimeoutError.)
    expected_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

    def __init__(
        self, app: App, handler: type[BaseHTTPRequestHandler], *, queue_size: int | None = None
    ) -> None:
        self.app = app
        if queue_size is not None:
            self.request_queue_size = queue_size  # read when listening, inside super().__init__
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], self.expected_errors):
            return
        super().handle_error(request, client_address)


@dataclass(frozen=True)
class Answer:
    """What a local server answers one request."""

    status: int
    body: bytes
    content_type: str


class QuietHandler(BaseHTTPRequestHandler):
    """A local server's request handler: HTTP/1.1, buffered writes, no request log."""

    protocol_version = "HTTP/1.1"
    # Buffered, so headers and body leave in one segment (no Nagle and delayed-ACK stall).
    wbufsize = -1

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_answer(
        self, answer: Answer, delay: float = 0.0, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``answer`` (with ``headers`` first) after ``delay`` seconds."""
        if delay:
            time.sleep(delay)
        try:
            self.send_response(answer.status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except ConnectionError:
            self.close_connection = True  # the client gave up waiting (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests


class LocalHttpServer:
    """The lifecycle of a local server; subclasses set ``handler`` (or override ``_make_server``)
    and ``name``."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    name: ClassVar[str]  # "the ECB server": says which one is not started
    queue_size: ClassVar[int | None] = None  # the listen backlog, when the default 5 is too short

    def __init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> ThreadingHTTPServer:
        return AppHTTPServer(self, self.handler, queue_size=self.queue_size)

    def start(self) -> Self:
        self._httpd = self._make_server()
        self._thread = serve_in_background(self._httpd)
        return self

    def stop(self) -> None:
        shut_down(self._httpd, self._thread)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{self.name} is not started")
        return int(self._httpd.server_address[1])
