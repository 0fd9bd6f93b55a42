"""Webhook endpoints without storage: which URLs and addresses are refused in each mode, event
type filters and how they match, secret rotation and the failure streak."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from billow.domain.errors import ValidationFailed
from billow.domain.webhook_endpoint import (
    AUTO_DISABLE_AFTER,
    MAX_SECRETS,
    SealedSecret,
    WebhookEndpoint,
    check_endpoint_url,
    check_event_types,
    event_type_matches,
    is_forbidden_address,
    secret_from_key,
    webhook_endpoint_from_dict,
    webhook_endpoint_to_dict,
    webhook_endpoint_to_record,
)

NOW = "2026-11-21T10:00:00Z"


def endpoint(**changes: object) -> WebhookEndpoint:
    values: dict[str, object] = {
        "id": "0190a000-0000-7000-8000-000000000001",
        "livemode": True,
        "url": "https://hooks.example.com/billow",
        "event_types": ("invoice.*", "customer.created"),
        "created_at": NOW,
        "updated_at": NOW,
        "secrets": (SealedSecret("sealed-0", NOW),),
        **changes,
    }
    return WebhookEndpoint(**values)  # type: ignore[arg-type]


def refusal(url: str, livemode: bool) -> str:
    with pytest.raises(ValidationFailed) as error:
        check_endpoint_url(url, livemode)
    assert [e.pointer for e in error.value.errors] == ["/url"]
    return error.value.errors[0].message


# --- URLs ---------------------------------------------------------------------------------------

ACCEPTED_EVERYWHERE = [
    "https://hooks.example.com/billow",
    "https://hooks.example.com:8443/billow?token=abc",
    "https://example.com.",
    "https://8.8.8.8/hook",
    "https://[2606:4700:4700::1111]/hook",
    "https://xn--bcher-kva.example/hook",
    "HTTPS://Hooks.Example.COM/",
]

REFUSED_EVERYWHERE = [
    "ftp://hooks.example.com/",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "hooks.example.com/billow",
    "//hooks.example.com/billow",
    "https://",
    "https://user:s3cr3t@hooks.example.com/",
    "https://user@hooks.example.com/",
    "https://@hooks.example.com/",
    "https://hooks.example.com/#fragment",
    "https://hooks.example.com/#",
    "https://hooks.example.com/ path",
    "https://hooks.example.com/\npath",
    "https://bücher.example/",
    "https://hooks.example.com:0/",
    "https://hooks.example.com:99999/",
    "https://[::1/",
    "https://" + "a" * 2040 + ".com/",
    # private, link-local (cloud metadata), unspecified, multicast, reserved, shared
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://100.64.0.1/",
    "http://192.0.2.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[fec0::1]/",
    "http://[::]/",
    "http://[ff02::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:c0a8:101::]/",
    "http://[2001::1]/",
    # inet_aton's odd forms of an IPv4 address
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://010.0.0.1/",
    # internal names
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://instance-data.ec2.internal/",
    "http://printer.local/",
    "http://router.lan/",
    "http://nas.home.arpa/",
    "http://intranet/",
    "http://metadata/",
    "http://bad_label-.example.com/",
    "http://a..b.example.com/",
]

LOOPBACK = [
    "http://localhost:4000/hooks",
    "http://LOCALHOST./hooks",
    "http://api.localhost/hooks",
    "http://127.0.0.1:8080/",
    "http://127.8.9.10/",
    "http://[::1]:8080/",
    "http://[::ffff:127.0.0.1]/",
]


@pytest.mark.parametrize("url", ACCEPTED_EVERYWHERE)
@pytest.mark.parametrize("livemode", [True, False])
def test_public_https_urls_are_accepted(url: str, livemode: bool) -> None:
    check_endpoint_url(url, livemode)


@pytest.mark.parametrize("url", REFUSED_EVERYWHERE)
@pytest.mark.parametrize("livemode", [True, False])
def test_unsafe_urls_are_refused_in_both_modes(url: str, livemode: bool) -> None:
    message = refusal(url, livemode)
    assert url not in message
    assert "s3cr3t" not in message  # nor whatever secret the URL holds


def test_live_mode_takes_https_only() -> None:
    assert refusal("http://hooks.example.com/", livemode=True) == "must use https in live mode"
    check_endpoint_url("http://hooks.example.com/", livemode=False)


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_is_for_sandbox_only(url: str) -> None:
    check_endpoint_url(url, livemode=False)
    refusal(url.replace("http://", "https://"), livemode=True)


def test_messages_say_what_is_wrong() -> None:
    assert "user name or password" in refusal("https://u:secret@hooks.example.com/", True)
    assert "fragment" in refusal("https://hooks.example.com/#x", True)
    assert "http or https" in refusal("gopher://hooks.example.com/", True)
    assert "four decimal numbers" in refusal("http://2130706433/", False)
    assert "internal host" in refusal("http://metadata.google.internal/", False)
    assert "private" in refusal("http://169.254.169.254/", False)
    assert "loopback" in refusal("https://127.0.0.1/", True)
    assert "2048" in refusal("https://hooks.example.com/" + "a" * 2048, True)


# --- addresses at delivery time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "live", "sandbox"),
    [
        ("93.184.216.34", False, False),
        ("2606:4700::6810:85e5", False, False),
        ("64:ff9b::808:808", False, False),  # NAT64 of a public address
        ("127.0.0.1", True, False),
        ("::1", True, False),
        ("::ffff:127.0.0.1", True, False),
        ("64:ff9b::7f00:1", True, True),  # loopback through a translator is not a local receiver
        ("169.254.169.254", True, True),
        ("fd00:ec2::254", True, True),  # the EC2 metadata service over IPv6
        ("10.1.2.3", True, True),
        ("0.0.0.0", True, True),
        ("::", True, True),
        ("239.1.1.1", True, True),
        ("198.18.0.1", True, True),
    ],
)
def test_resolved_addresses_are_checked_again(address: str, live: bool, sandbox: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert is_forbidden_address(ip, allow_loopback=False) is live
    assert is_forbidden_address(ip, allow_loopback=True) is sandbox


# --- event types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_types",
    [["*"], ["invoice.paid"], ["invoice.*", "customer.created", "payment_gateway.updated"], ["x.y"] * 1],
)
def test_valid_event_type_filters(event_types: list[str]) -> None:
    check_event_types(event_types)


@pytest.mark.parametrize(
    ("event_types", "pointer"),
    [
        ([], "/event_types"),
        ([f"a.b{chr(97 + i % 26)}{i}" for i in range(101)], "/event_types"),
        (["invoice"], "/event_types/0"),
        (["invoice.paid", "Invoice.paid"], "/event_types/1"),
        (["invoice.paid\n"], "/event_types/0"),
        (["invoice.paid.now"], "/event_types/0"),
        (["*.paid"], "/event_types/0"),
        (["invoice.pa*"], "/event_types/0"),
        (["**"], "/event_types/0"),
        (["invoice.paid", "invoice.paid"], "/event_types/1"),
        (["*", "invoice.paid"], "/event_types"),
    ],
)
def test_invalid_event_type_filters(event_types: list[str], pointer: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        check_event_types(event_types)
    assert pointer in [e.pointer for e in error.value.errors]


@pytest.mark.parametrize(
    ("filter_", "event_type", "matches"),
    [
        ("*", "invoice.paid", True),
        ("invoice.paid", "invoice.paid", True),
        ("invoice.paid", "invoice.finalized", False),
        ("invoice.*", "invoice.paid", True),
        ("invoice.*", "invoice_item.created", False),
        ("invoice.*", "credit_note.created", False),
        ("credit_note.*", "credit_note.created", True),
    ],
)
def test_event_type_matching(filter_: str, event_type: str, matches: bool) -> None:
    assert event_type_matches(filter_, event_type) is matches


def test_only_enabled_endpoints_listen() -> None:
    listening = endpoint()
    assert listening.listens_to("invoice.paid")
    assert listening.listens_to("customer.created")
    assert not listening.listens_to("customer.updated")
    assert not endpoint(status="disabled").listens_to("invoice.paid")


# --- secrets ----------------------------------------------------------------------------------


def test_secrets_are_standard_webhooks_keys() -> None:
    secret = secret_from_key(bytes(range(32)))
    assert secret.startswith("whsec_")
    assert base64.b64decode(secret.removeprefix("whsec_"), validate=True) == bytes(range(32))
    # The reference receiver takes the secret as it is shown to the client.
    receiver = Webhook(secret)
    sent = datetime.now(UTC)
    signature = receiver.sign("msg_1", sent, "{}")
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": signature,
    }
    assert receiver.verify("{}", headers) == {}


def test_rotation_keeps_the_previous_secret_for_the_grace_period() -> None:
    rotated = endpoint().rotated(SealedSecret("sealed-1", NOW), NOW, timedelta(hours=1))
    assert [s.sealed for s in rotated.secrets] == ["sealed-1", "sealed-0"]
    assert (rotated.version, rotated.secret_rotated_at) == (2, NOW)
    assert rotated.secrets[1].expires_at == "2026-11-21T11:00:00Z"
    assert [s.sealed for s in rotated.signing("2026-11-21T10:59:59Z")] == ["sealed-1", "sealed-0"]
    assert [s.sealed for s in rotated.signing("2026-11-21T11:00:00Z")] == ["sealed-1"]


def test_at_most_three_secrets_and_no_grace_ends_every_older_one() -> None:
    current = endpoint()
    for n in range(1, 5):
        current = current.rotated(SealedSecret(f"sealed-{n}", NOW), NOW, timedelta(days=7))
    assert [s.sealed for s in current.secrets] == ["sealed-4", "sealed-3", "sealed-2"]
    assert len(current.secrets) == MAX_SECRETS
    later = "2026-11-22T10:00:00Z"
    ended = current.rotated(SealedSecret("sealed-5", later), later, timedelta(0))
    assert [s.sealed for s in ended.secrets] == ["sealed-5"]
    # A shorter grace shortens the older secrets' too, never lengthens them.
    shorter = current.rotated(SealedSecret("sealed-5", later), later, timedelta(hours=1))
    assert {s.expires_at for s in shorter.secrets[1:]} == {"2026-11-22T11:00:00Z"}


def test_sealed_secrets_stay_out_of_the_public_form_and_of_repr() -> None:
    stored = endpoint(secrets=(SealedSecret("SEALED-BLOB", NOW),))
    public = webhook_endpoint_to_dict(stored)
    assert public["secret"] is None
    assert "SEALED-BLOB" not in str(public)
    assert "SEALED-BLOB" not in repr(stored)
    record = webhook_endpoint_to_record(stored)
    assert "secret" not in record
    assert webhook_endpoint_from_dict(record) == stored


# --- failing endpoints ------------------------------------------------------------------------


def test_a_failure_streak_disables_the_endpoint_after_three_days() -> None:
    first = endpoint().failed(NOW)
    assert first is not None
    assert (first.failing_since, first.version, first.status) == (NOW, 1, "enabled")
    assert first.failed("2026-11-23T10:00:00Z") is None  # the streak goes on: nothing new
    assert timedelta(days=3) == AUTO_DISABLE_AFTER
    disabled = first.failed("2026-11-24T10:00:00Z")
    assert disabled is not None
    assert (disabled.status, disabled.disabled_reason, disabled.disabled_at, disabled.version) == (
        "disabled",
        "failing",
        "2026-11-24T10:00:00Z",
        2,
    )
    assert disabled.failing_since == NOW
    assert disabled.failed("2026-11-25T10:00:00Z") is None
    assert disabled.recovered("2026-11-25T10:00:00Z") is None


def test_a_success_ends_the_streak_unless_it_came_before_it() -> None:
    failing = endpoint(failing_since=NOW)
    assert failing.recovered("2026-11-21T09:59:59Z") is None
    recovered = failing.recovered("2026-11-21T10:05:00Z")
    assert recovered is not None
    assert (recovered.failing_since, recovered.version) == (None, 1)
    assert endpoint().recovered(NOW) is None
