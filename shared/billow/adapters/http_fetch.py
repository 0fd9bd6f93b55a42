"""One HTTP exchange with a public data service (the ECB, VIES, TEDB), on the standard library.

``fetch`` sends a request and reads the answer's body, bounded three ways: ``timeout`` bounds
each blocking step (connecting, each read) and the whole exchange, and bodies over
``max_bytes`` are refused. An error status is an answer too (its body is read) unless
``read_status`` says otherwise. What went wrong is raised as a ``FetchError`` subclass, and
each adapter words it as its own exception: the wording is the adapter's, the mechanics are here.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

CHUNK_SIZE = 64 * 1024


class FetchError(Exception):
    """The exchange gave no answer the caller can use."""


class UnwantedStatus(FetchError):
    """The answer's status is one ``read_status`` refused; its body was not read."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class AnswerTooLarge(FetchError):
    """The body is larger than ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class NoAnswer(FetchError):
    """No connection, or the exchange broke or ran out of time.

    ``error`` is what went wrong: the reason urllib gives when connecting failed
    (``connecting``), else the error raised while exchanging."""

    def __init__(self, error: Any, *, connecting: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.connecting = connecting

    @property
    def timed_out(self) -> bool:
        return isinstance(self.error, TimeoutError)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx then surfaces as an HTTPError: not the service's answer


def no_redirect_opener() -> urllib.request.OpenerDirector:
    """An opener that never follows redirects (an API answers where it is asked)."""
    return urllib.request.build_opener(_NoRedirects)


def checked_base_url(base_url: str, timeout: float, max_bytes: int, *, service: str) -> str:
    """``base_url`` without its trailing slash, once it and the bounds are found usable."""
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"the {service} base URL must be http(s), not {base_url!r}")
    if timeout <= 0 or max_bytes <= 0:
        raise ValueError("timeout and max_bytes must be positive")
    return base_url.rstrip("/")


def _every_status(status: int) -> bool:
    return True


def fetch(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str],
    data: bytes | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    read_status: Callable[[int], bool] = _every_status,
    chunk_size: int = CHUNK_SIZE,
) -> tuple[int, bytes]:
    """The status and body of the answer to a GET of ``url`` (a POST of ``data`` when given),
    through ``opener`` (by default urllib's, which follows redirects). ``url`` must be http(s):
    ``checked_base_url``. Raises ``FetchError``."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, data=data, headers=dict(headers))  # noqa: S310 - checked
    send = opener.open if opener is not None else urllib.request.urlopen
    try:
        try:
            response = send(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            response = error  # an error status is still an answer, with a body
        with response:
            status = response.status if response.status is not None else 0
            if not read_status(status):
                raise UnwantedStatus(status)
            body = _read(response, deadline, max_bytes, chunk_size)
    except urllib.error.URLError as error:
        raise NoAnswer(error.reason, connecting=True) from None
    except (OSError, http.client.HTTPException) as error:
        raise NoAnswer(error, connecting=False) from None
    return status, body


def _read(response: Any, deadline: float, max_bytes: int, chunk_size: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer did not arrive in time")
        chunk = response.read(chunk_size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise AnswerTooLarge(max_bytes)
        chunks.append(chunk)
