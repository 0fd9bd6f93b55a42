"""The webhook HTTP sender against a local receiver: what arrives, how answers and failures are
reported, and that it never reaches an address it must not (private networks, the metadata
service, a name re-pointed between the check and the connection)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from billow.adapters.webhooks import http_sender
from billow.adapters.webhooks.http_sender import EXCERPT_CHARS, DeliveryResult, deliver
from billow.domain.webhook_signature import signature_headers
from tests.support.webhook_receiver import Behaviour, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"integration-secret-of-32-bytes!!").decode()
BODY = json.dumps({"id": "evt_1", "type": "invoice.paid"}, separators=(",", ":")).encode()


def signed(body: bytes = BODY) -> dict[str, str]:
    return signature_headers("evt_1", int(time.time()), body, [SECRET])


def resolver(*addresses: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: list(addresses)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def no_connection(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fails the test if the sender opens any connection."""
    attempts: list[object] = []

    def refuse(*args: object) -> socket.socket:
        attempts.append(args)
        raise AssertionError("the sender connected")

    monkeypatch.setattr(http_sender, "_connect", refuse)
    return attempts


# -- what a receiver gets and what the sender reports ------------------------------------------


def test_a_2xx_is_a_success_with_latency_and_excerpt(receiver: WebhookReceiver) -> None:
    result = deliver(receiver.url, BODY, signed(), allow_loopback=True)

    assert result == DeliveryResult(
        status_code=200, latency_ms=result.latency_ms, response_excerpt='{"received":true}', error=None
    )
    assert result.succeeded
    assert 0 <= result.latency_ms < 2_000
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/webhook"
    assert request.body == BODY
    assert request.json() == {"id": "evt_1", "type": "invoice.paid"}
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == "Billow-Webhooks/1"
    assert request.header("Host") == f"127.0.0.1:{receiver.port}"
    assert receiver.verified(SECRET) == [{"id": "evt_1", "type": "invoice.paid"}]


def test_the_caller_cannot_override_host_type_or_framing(receiver: WebhookReceiver) -> None:
    headers = {
        **signed(),
        "Host": "internal.example",
        "content-type": "text/plain",
        "Content-Length": "1",
        "User-Agent": "curl",
    }
    result = deliver(receiver.url + "?a=1", BODY, headers, allow_loopback=True)

    assert result.succeeded
    [request] = receiver.requests
    assert request.path == "/webhook?a=1"
    assert request.header("host") == f"127.0.0.1:{receiver.port}"
    assert request.header("content-type") == "application/json"
    assert request.header("user-agent") == "Billow-Webhooks/1"
    assert request.body == BODY
    receiver.verified(SECRET)


def test_any_2xx_succeeds(receiver: WebhookReceiver) -> None:
    receiver.set_behaviour(status=204, body=b"")
    result = deliver(receiver.url, BODY, signed(), allow_loopback=True)
    assert (result.status_code, result.error, result.succeeded) == (204, None, True)


def test_a_500_fails_with_its_status_and_body(receiver: WebhookReceiver) -> None:
    receiver.set_behaviour(status=500, body=b'{"error":"boom"}')
    result = deliver(receiver.url, BODY, signed(), allow_loopback=True)

    assert result.status_code == 500
    assert result.error is None  # the status says what went wrong
    assert result.response_excerpt == '{"error":"boom"}'
    assert not result.succeeded


def test_fail_first_then_succeed(receiver: WebhookReceiver) -> None:
    receiver.set_behaviour(fail_first=2)
    codes = [deliver(receiver.url, BODY, signed(), allow_loopback=True).status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    assert len(receiver.wait_for(3, timeout=1)) == 3


def test_a_slow_endpoint_times_out_quickly(receiver: WebhookReceiver) -> None:
    receiver.set_behaviour(delay_seconds=5)
    started = time.monotonic()
    result = deliver(receiver.url, BODY, signed(), allow_loopback=True, read_timeout=0.3)

    assert time.monotonic() - started < 2
    assert (result.status_code, result.error, result.succeeded) == (None, "timeout", False)
    assert 250 <= result.latency_ms < 2_000
    assert len(receiver.requests) == 1  # it arrived; the answer did not


def test_the_read_timeout_bounds_the_whole_answer_not_each_read() -> None:
    """A server trickling its answer a byte at a time still hits the deadline."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    result = deliver(f"http://127.0.0.1:{port}/", BODY, signed(), allow_loopback=True, read_timeout=0.5)
    elapsed = time.monotonic() - started
    listener.close()
    thread.join(timeout=5)

    assert result.error == "timeout"
    assert elapsed < 1.5


def test_a_redirect_is_not_followed(receiver: WebhookReceiver) -> None:
    with WebhookReceiver() as target:
        receiver.set_behaviour(redirect_to=target.url)
        result = deliver(receiver.url, BODY, signed(), allow_loopback=True)

        assert result.status_code == 302
        assert result.error == "redirect_not_followed"
        assert not result.succeeded
        assert len(receiver.requests) == 1
        assert target.requests == []


def test_a_huge_answer_is_read_up_to_the_cap(receiver: WebhookReceiver) -> None:
    receiver.set_behaviour(body_size=50_000_000)
    started = time.monotonic()
    result = deliver(receiver.url, BODY, signed(), allow_loopback=True, max_response_bytes=4096)

    assert time.monotonic() - started < 3
    assert result.succeeded
    assert result.response_excerpt == "x" * EXCERPT_CHARS


def test_the_excerpt_is_decoded_leniently(receiver: WebhookReceiver) -> None:
    receiver.set_behaviour(status=400, body=b"bad \xff\xfe input " + "é".encode() * 2000)
    result = deliver(receiver.url, BODY, signed(), allow_loopback=True)

    assert result.status_code == 400
    assert result.response_excerpt.startswith("bad \ufffd\ufffd input é")
    assert len(result.response_excerpt) == EXCERPT_CHARS


def test_a_connection_closed_without_answer(receiver: WebhookReceiver) -> None:
    receiver.set_behaviour(close_connection=True)
    result = deliver(receiver.url, BODY, signed(), allow_loopback=True)

    assert (result.status_code, result.error) == (None, "connection_closed")
    assert len(receiver.requests) == 1


def test_a_closed_port_is_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = deliver(f"http://127.0.0.1:{port}/hook", BODY, signed(), allow_loopback=True)

    assert (result.status_code, result.error, result.response_excerpt) == (None, "connection_refused", "")


def test_a_dns_failure_is_reported() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    for resolve in (failing, resolver()):
        result = deliver("https://hooks.example.com/", BODY, signed(), allow_loopback=False, resolve=resolve)
        assert (result.status_code, result.error) == (None, "dns_error")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "hooks.example.com/webhook",
        "https:///no-host",
        "https://user:pass@hooks.example.com/",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/\r\nX-Injected: 1",
        "https://bücher.example/",
    ],
)
def test_unusable_urls_are_refused_without_a_connection(url: str, no_connection: list[object]) -> None:
    result = deliver(url, BODY, signed(), allow_loopback=True, resolve=resolver("93.184.215.14"))
    assert (result.status_code, result.error) == (None, "invalid_url")
    assert no_connection == []


# -- addresses a webhook must never reach --------------------------------------------------------


def test_loopback_is_refused_unless_allowed(receiver: WebhookReceiver) -> None:
    result = deliver(receiver.url, BODY, signed(), allow_loopback=False)

    assert (result.status_code, result.error, result.succeeded) == (None, "forbidden_address", False)
    time.sleep(0.05)
    assert receiver.requests == []


def test_a_name_resolving_to_loopback_is_refused(receiver: WebhookReceiver) -> None:
    url = f"http://localhost:{receiver.port}/webhook"
    result = deliver(url, BODY, signed(), allow_loopback=False)

    assert result.error == "forbidden_address"
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("addresses", "allow_loopback"),
    [
        (["10.0.0.1"], True),
        (["172.16.5.4"], True),
        (["192.168.1.10"], True),
        (["169.254.169.254"], True),
        (["100.64.0.1"], True),  # shared address space (carrier-grade NAT)
        (["0.0.0.0"], True),
        (["224.0.0.1"], True),
        (["240.0.0.1"], True),
        (["127.0.0.1"], False),
        (["::1"], False),
        (["::ffff:127.0.0.1"], False),
        (["::ffff:169.254.169.254"], True),
        (["::ffff:10.0.0.1"], True),
        (["64:ff9b::a9fe:a9fe"], True),  # NAT64 of 169.254.169.254
        (["2002:a00:1::"], True),  # 6to4 of 10.0.0.1
        (["fe80::1"], True),
        (["fd00::1"], True),
        (["ff02::1"], True),
        (["::"], True),
        # One forbidden address among public ones refuses the name.
        (["93.184.215.14", "10.0.0.1"], True),
        (["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "169.254.169.254"], True),
    ],
)
def test_forbidden_addresses_are_refused_without_a_connection(
    addresses: list[str], allow_loopback: bool, no_connection: list[object]
) -> None:
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return addresses

    result = deliver(
        "https://hooks.example.com/webhook", BODY, signed(), allow_loopback=allow_loopback, resolve=resolve
    )

    assert (result.status_code, result.error, result.succeeded) == (None, "forbidden_address", False)
    assert asked == [("hooks.example.com", 443)]
    assert no_connection == []


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:8080/"]
)
def test_forbidden_ip_literals_are_refused_without_asking_the_resolver(
    url: str, no_connection: list[object]
) -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise AssertionError("an IP literal needs no resolving")

    result = deliver(url, BODY, signed(), allow_loopback=False, resolve=resolve)
    assert result.error == "forbidden_address"
    assert no_connection == []


def test_a_public_address_is_connected_to_as_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    connected: list[tuple[object, ...]] = []

    def refuse(address: object, port: int, server_hostname: str | None, timeout: float) -> socket.socket:
        connected.append((address, port, server_hostname, timeout))
        raise ConnectionRefusedError

    monkeypatch.setattr(http_sender, "_connect", refuse)
    result = deliver(
        "https://hooks.example.com:8443/webhook",
        BODY,
        signed(),
        allow_loopback=False,
        connect_timeout=1.5,
        resolve=resolver("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
    )

    assert result.error == "connection_refused"
    # Both checked addresses were tried in turn, with the name kept for the certificate check.
    assert connected == [
        (ipaddress.ip_address("93.184.215.14"), 8443, "hooks.example.com", 1.5),
        (ipaddress.ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c"), 8443, "hooks.example.com", 1.5),
    ]


def test_dns_rebinding_the_sender_connects_to_the_address_it_checked(receiver: WebhookReceiver) -> None:
    """The name resolves to an allowed address for the check and to the metadata service on any
    later lookup: the request must still go to the checked address, with the original Host."""
    answers = iter([["127.0.0.1"]])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers, ["169.254.169.254"])

    url = f"http://hooks.rebind.example:{receiver.port}/webhook"
    result = deliver(url, BODY, signed(), allow_loopback=True, resolve=rebinding)

    assert result.succeeded
    assert asked == ["hooks.rebind.example"]  # resolved once
    [request] = receiver.requests
    assert request.header("host") == f"hooks.rebind.example:{receiver.port}"
    receiver.verified(SECRET)


# -- https ----------------------------------------------------------------------------------------


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    pytest.importorskip("cryptography", reason="cryptography is not installed in .venv")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[WebhookReceiver, Path]]:
    cert, key = _self_signed(tmp_path, "hooks.tls.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with WebhookReceiver(ssl_context=context) as running:
        yield running, cert


def test_https_to_a_self_signed_server_is_a_tls_error(tls_receiver: tuple[WebhookReceiver, Path]) -> None:
    receiver, _ = tls_receiver
    url = f"https://hooks.tls.example:{receiver.port}/webhook"
    result = deliver(url, BODY, signed(), allow_loopback=True, resolve=resolver("127.0.0.1"))

    assert (result.status_code, result.error, result.succeeded) == (None, "tls_error", False)
    assert receiver.requests == []


def test_https_checks_the_certificate_against_the_name_not_the_address(
    tls_receiver: tuple[WebhookReceiver, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, cert = tls_receiver
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(http_sender, "_tls_context", lambda: trusting)

    # Connected to 127.0.0.1, yet the certificate for the URL's name is accepted...
    url = f"https://hooks.tls.example:{receiver.port}/webhook"
    result = deliver(url, BODY, signed(), allow_loopback=True, resolve=resolver("127.0.0.1"))
    assert result.succeeded, result
    [request] = receiver.requests
    assert request.header("host") == f"hooks.tls.example:{receiver.port}"
    receiver.verified(SECRET)

    # ...and refused for another name that resolves to the same address.
    other = f"https://other.tls.example:{receiver.port}/webhook"
    result = deliver(other, BODY, signed(), allow_loopback=True, resolve=resolver("127.0.0.1"))
    assert result.error == "tls_error"
    assert len(receiver.requests) == 1


def test_receiver_scripts_one_off_answers_in_order(receiver: WebhookReceiver) -> None:
    receiver.queue(Behaviour(status=503), Behaviour(status=201, body=b"{}"))
    codes = [deliver(receiver.url, BODY, signed(), allow_loopback=True).status_code for _ in range(3)]
    assert codes == [503, 201, 200]
