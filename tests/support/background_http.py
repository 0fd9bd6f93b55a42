"""Running the tests' local HTTP servers (provider APIs, webhook receivers) in a thread."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


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
