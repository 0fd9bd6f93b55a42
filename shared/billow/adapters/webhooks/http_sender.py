"""One webhook POST to a tenant's URL, made safe against the tenant's URL and server.

A tenant chooses the URL, so it may point at our own network (server-side request forgery) or
at a server that stalls, redirects or answers without end. ``deliver`` therefore:

- resolves the host once and refuses (before any connection) when any resolved address is
  forbidden by ``webhook_endpoint.is_forbidden_address``: private, loopback (unless
  ``allow_loopback``), link-local (the 169.254.169.254 metadata service), unspecified,
  multicast, reserved, or one of these written as IPv6;
- connects to the address it checked, never to the name again, so a DNS answer that changes
  between the check and the connection (DNS rebinding) cannot move it; the ``Host`` header and,
  for https, the TLS server name and certificate check still use the name from the URL;
- never follows a redirect, bounds connecting with ``connect_timeout`` and the whole exchange
  after it (sending, waiting, reading) with ``read_timeout``, and reads at most
  ``max_response_bytes`` of the answer;
- reports every network problem in the result instead of raising.

``DeliveryResult.error`` is None when the endpoint answered with a non-3xx status (the status
tells the rest), otherwise one of: ``invalid_url``, ``dns_error``, ``forbidden_address``,
``timeout``, ``connection_refused``, ``connection_closed``, ``connection_error``, ``tls_error``,
``protocol_error``, ``redirect_not_followed``.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from billow.domain.webhook_endpoint import IPAddress, is_forbidden_address

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

EXCERPT_CHARS = 1_000
USER_AGENT = "Billow-Webhooks/1"
CONTENT_TYPE = "application/json"
ERRORS = frozenset(
    {
        "invalid_url",
        "dns_error",
        "forbidden_address",
        "timeout",
        "connection_refused",
        "connection_closed",
        "connection_error",
        "tls_error",
        "protocol_error",
        "redirect_not_followed",
    }
)

Resolver = Callable[[str, int], list[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers the sender sets itself: a caller's Host or framing header could redirect or split the request.
_MANAGED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-type", "user-agent"}
)
_READ_CHUNK = 16_384


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None  # None when no HTTP answer arrived
    latency_ms: int
    response_excerpt: str  # at most EXCERPT_CHARS characters of the answer's body
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class _Refused(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class _Target:
    tls: bool
    host: str  # ASCII name or IP literal, without brackets
    port: int
    path: str
    host_header: str


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _target(url: str) -> _Target:
    # Control characters, spaces and non-ASCII in the URL would be refused by http.client later,
    # or worse, split the request line.
    if not url.isascii() or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise _Refused("invalid_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise _Refused("invalid_url") from error
    scheme = parts.scheme.lower()
    host = parts.hostname
    # Credentials in the URL would be sent nowhere (we set no Authorization): refuse, do not drop.
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        raise _Refused("invalid_url")
    port = port if port is not None else _DEFAULT_PORTS[scheme]
    if port == 0:
        raise _Refused("invalid_url")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    literal = _ip(host)
    shown = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
    host_header = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    return _Target(tls=scheme == "https", host=host, port=port, path=path, host_header=host_header)


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _checked_addresses(target: _Target, allow_loopback: bool, resolve: Resolver) -> list[IPAddress]:
    literal = _ip(target.host)
    if literal is not None:
        resolved = [target.host]
    else:
        try:
            resolved = resolve(target.host, target.port)
        except (OSError, UnicodeError) as error:
            raise _Refused("dns_error") from error
    addresses = [_ip(address) for address in resolved]
    if not addresses or None in addresses:
        raise _Refused("dns_error")
    checked = [address for address in addresses if address is not None]
    # One forbidden address refuses the whole name: which one we would reach is not ours to bet on.
    if any(is_forbidden_address(address, allow_loopback=allow_loopback) for address in checked):
        raise _Refused("forbidden_address")
    return checked


class _DeadlineSocket(socket.socket):
    """A socket whose sends and reads share one deadline.

    A per-operation timeout alone lets a server trickle one byte per interval and hold the
    delivery for as long as it likes; here every operation gets only the time that is left.
    """

    deadline: float | None = None

    def _arm(self) -> None:
        if self.deadline is not None:
            remaining = self.deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("timed out")
            self.settimeout(remaining)

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: ReadableBuffer, flags: int = 0) -> None:
        self._arm()
        super().sendall(data, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    deadline: float | None = None

    def _arm(self) -> None:
        if self.deadline is not None:
            remaining = self.deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("timed out")
            self.settimeout(remaining)

    def recv_into(self, buffer: WriteableBuffer, nbytes: int | None = None, flags: int = 0) -> int:
        self._arm()
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: ReadableBuffer, flags: int = 0) -> None:
        self._arm()
        super().sendall(data, flags)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Built once per process: loading the trust store is the slow part. Certificates and host
    # names are checked (the defaults of create_default_context), TLS 1.2 at least.
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _connect(
    address: IPAddress, port: int, server_hostname: str | None, timeout: float
) -> _DeadlineSocket | _DeadlineSSLSocket:
    """A connection to exactly this address; TLS (checked against ``server_hostname``) when given."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = _DeadlineSocket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((str(address), port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if server_hostname is None:
            return sock
        context = _tls_context()
        context.sslsocket_class = _DeadlineSSLSocket
        # The handshake runs under the connect timeout; wrap_socket takes over the descriptor.
        wrapped = context.wrap_socket(sock, server_hostname=server_hostname)
        assert isinstance(wrapped, _DeadlineSSLSocket)
        return wrapped
    except BaseException:
        sock.close()
        raise


def _classify(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ssl.SSLError):
        return "tls_error"
    if isinstance(error, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(error, ConnectionError | http.client.IncompleteRead):
        return "connection_closed"  # includes http.client.RemoteDisconnected
    if isinstance(error, http.client.HTTPException):
        return "protocol_error"
    return "connection_error"


def _request_headers(target: _Target, headers: Mapping[str, str], size: int) -> dict[str, str]:
    sent = {name: value for name, value in headers.items() if name.lower() not in _MANAGED_HEADERS}
    sent.update(
        {
            "Host": target.host_header,
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            "Content-Length": str(size),
            "Connection": "close",
        }
    )
    return sent


def _read_capped(response: http.client.HTTPResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            chunk = response.read1(min(limit - size, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, http.client.HTTPException):
        pass  # the status is the endpoint's answer; the body only explains it
    return b"".join(chunks)


def _excerpt(response: http.client.HTTPResponse, data: bytes) -> str:
    charset = response.headers.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except LookupError:
        text = data.decode("utf-8", errors="replace")
    return text[:EXCERPT_CHARS]


def deliver(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_loopback: bool,
    connect_timeout: float = 3.0,
    read_timeout: float = 10.0,
    max_response_bytes: int = 65536,
    resolve: Resolver | None = None,
) -> DeliveryResult:
    """POST ``body`` to ``url`` with ``headers`` (plus Content-Type and User-Agent) once.

    ``resolve(host, port)`` lists the host's addresses (default: the system resolver); it is
    called once, and not at all for an IP literal. ``allow_loopback`` is for local development
    and tests only. Raises only for programming errors (bad arguments or header values).
    """
    if connect_timeout <= 0 or read_timeout <= 0 or max_response_bytes <= 0:
        raise ValueError("timeouts and max_response_bytes must be positive")
    started = time.perf_counter()

    def result(status: int | None, excerpt: str, error: str | None) -> DeliveryResult:
        latency_ms = round((time.perf_counter() - started) * 1000)
        return DeliveryResult(
            status_code=status, latency_ms=latency_ms, response_excerpt=excerpt, error=error
        )

    try:
        target = _target(url)
        addresses = _checked_addresses(target, allow_loopback, resolve or _system_resolve)
    except _Refused as refused:
        return result(None, "", refused.error)
    sent_headers = _request_headers(target, headers, len(body))

    sock: _DeadlineSocket | _DeadlineSSLSocket | None = None
    failure = "connection_error"
    # Every address passed the check, so trying the next on failure (IPv6 then IPv4) stays safe.
    for address in addresses:
        try:
            sock = _connect(address, target.port, target.host if target.tls else None, connect_timeout)
            break
        except OSError as error:
            failure = _classify(error)
    if sock is None:
        return result(None, "", failure)

    connection = http.client.HTTPConnection(target.host, target.port, timeout=read_timeout)
    # A connected socket given to http.client means it never resolves or connects by itself.
    connection.sock = sock
    sock.deadline = time.perf_counter() + read_timeout
    try:
        try:
            connection.request("POST", target.path, body=body, headers=sent_headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            return result(None, "", _classify(error))
        data = _read_capped(response, max_response_bytes)
        status = response.status
        # http.client never follows redirects; a 3xx is an answer we refuse to chase.
        error_code = "redirect_not_followed" if 300 <= status < 400 else None
        return result(status, _excerpt(response, data), error_code)
    finally:
        connection.close()
