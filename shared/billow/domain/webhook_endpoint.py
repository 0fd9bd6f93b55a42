"""Webhook endpoints: where a tenant wants its events sent, which of them, and the secrets that
sign them (docs/webhooks.md).

A URL is checked here before it is stored (``check_endpoint_url``) and its resolved addresses
again at delivery time (``is_forbidden_address``): Billow must never become a way to reach its
own network or the cloud's metadata service. Signing secrets follow Standard Webhooks
(``whsec_`` + base64 of 32 random bytes); this module only ever holds them sealed, by the
credential vault, and the public form of an endpoint never carries one.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from billow.domain.errors import FieldError, ValidationFailed, validation_failed
from billow.domain.subscription import format_time, parse_time

EndpointStatus = Literal["enabled", "disabled"]
DisabledReason = Literal["manual", "failing"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALL_EVENTS = "*"
MAX_EVENT_TYPES = 100
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 500
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# The current secret and up to two previous ones still in their grace period.
MAX_SECRETS = 3
DEFAULT_GRACE_SECONDS = 86_400
MAX_GRACE_SECONDS = 604_800
# Deliveries are retried for three days; an endpoint failing that long is switched off.
AUTO_DISABLE_AFTER = timedelta(days=3)

_EVENT_TYPE = re.compile(r"[a-z_]+\.[a-z_]+")
_RESOURCE_WILDCARD = re.compile(r"[a-z_]+\.\*")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# A last label of digits or 0x-hex is an IPv4 address in one of inet_aton's odd forms
# (2130706433, 0x7f.1, 127.1); no top-level domain looks like that.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_LOOPBACK_NAMES = ("localhost",)
# Names that resolve inside a network, never to a public receiver (RFC 6761, RFC 8375, the
# clouds' own zones such as metadata.google.internal and *.ec2.internal).
_INTERNAL_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa", "lan", "intranet")
# Well-known NAT64 prefix (RFC 6052): the IPv4 address is the last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


# --- URLs and addresses -----------------------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, bool] | None:
    """The IPv4 address an IPv6 address stands for, and whether a socket reaches it directly
    (IPv4-mapped) rather than through a translator (NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, True
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), False
    if ip.sixtofour is not None:
        return ip.sixtofour, False
    return None


def is_forbidden_address(ip: IPAddress, *, allow_loopback: bool) -> bool:
    """True for any address a webhook must not be sent to: private, loopback (unless allowed:
    sandbox), link-local (the cloud metadata service 169.254.169.254), unspecified, multicast,
    reserved or otherwise not globally routable, also when wrapped in an IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner, direct = embedded
            return is_forbidden_address(inner, allow_loopback=allow_loopback and direct)
        if ip.is_site_local:
            return True
    if ip.is_loopback:
        return not allow_loopback
    return (
        ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or not ip.is_global
    )


def _is_loopback_name(host: str) -> bool:
    return host in _LOOPBACK_NAMES or host.endswith(".localhost")


def _host_problem(host: str, livemode: bool) -> str | None:
    """Why a URL's host is refused, or None. Messages never repeat the host."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if is_forbidden_address(ip, allow_loopback=not livemode):
            where = "a loopback" if ip.is_loopback else "a private, internal or reserved"
            return f"must not be {where} address"
        return None
    name = host.removesuffix(".")
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return "write an IPv4 address as four decimal numbers (a.b.c.d)"
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "has an invalid host name; write international names in their xn-- form"
    if _is_loopback_name(name):
        return "must not be a loopback host in live mode" if livemode else None
    if any(name == suffix or name.endswith(f".{suffix}") for suffix in _INTERNAL_SUFFIXES):
        return "must not name an internal host"
    if len(labels) < 2:
        return "must name a fully qualified host (such as hooks.example.com)"
    return None


def _url_problem(url: str, livemode: bool) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if not url.isascii() or any(ch <= " " or ch == "\x7f" for ch in url):
        return "must be ASCII without spaces; percent-encode other characters"
    if "#" in url:
        return "must not have a fragment (#…)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an absolute http or https URL"
    if livemode and parts.scheme != "https":
        return "must use https in live mode"
    if "@" in parts.netloc:
        return "must not carry a user name or password"
    if not parts.hostname:
        return "must name a host"
    if port == 0:
        return "has an invalid port"
    return _host_problem(parts.hostname, livemode)


def check_endpoint_url(url: str, livemode: bool) -> None:
    """Refuse a URL Billow must not send webhooks to. Sandbox endpoints may use plain http and
    loopback (a developer's local receiver); every other private range is refused in both modes.
    The message never repeats the URL (it may hold a token)."""
    problem = _url_problem(url, livemode)
    if problem is not None:
        raise validation_failed("/url", problem)


# --- event types ------------------------------------------------------------------------------


def is_event_type_filter(value: str) -> bool:
    return value == ALL_EVENTS or bool(_EVENT_TYPE.fullmatch(value) or _RESOURCE_WILDCARD.fullmatch(value))


def event_type_matches(filter_: str, event_type: str) -> bool:
    """``*`` takes every event, ``invoice.*`` every invoice event, anything else only itself."""
    if filter_ == ALL_EVENTS:
        return True
    if filter_.endswith(".*"):
        return event_type.startswith(filter_[:-1])
    return filter_ == event_type


def check_event_types(event_types: Sequence[str]) -> None:
    """1 to 100 filters, each ``*``, ``resource.*`` or ``resource.action``, none twice; ``*``
    stands alone (with it, any other filter would be a mistake)."""
    if not 1 <= len(event_types) <= MAX_EVENT_TYPES:
        raise validation_failed("/event_types", f"must list 1 to {MAX_EVENT_TYPES} event types")
    errors = [
        FieldError(
            f"/event_types/{i}", "must be *, a resource's wildcard (invoice.*) or a type (invoice.paid)"
        )
        for i, value in enumerate(event_types)
        if not is_event_type_filter(value)
    ]
    errors += [
        FieldError(f"/event_types/{i}", "is listed twice")
        for i, value in enumerate(event_types)
        if value in event_types[:i]
    ]
    if ALL_EVENTS in event_types and len(event_types) > 1:
        errors.append(FieldError("/event_types", "* takes every event: send it alone"))
    if errors:
        raise ValidationFailed(detail="the event types are invalid", errors=errors)


# --- secrets ----------------------------------------------------------------------------------


def secret_from_key(key: bytes) -> str:
    """The Standard Webhooks form of a signing key."""
    return SECRET_PREFIX + base64.b64encode(key).decode()


@dataclass(frozen=True)
class SealedSecret:
    """A signing secret as the vault sealed it. ``expires_at`` is None for the current secret;
    a previous one signs until then."""

    sealed: str = field(repr=False)
    created_at: str
    expires_at: str | None = None

    def valid_at(self, now: str) -> bool:
        return self.expires_at is None or parse_time(now) < parse_time(self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        return {"sealed": self.sealed, "created_at": self.created_at, "expires_at": self.expires_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SealedSecret:
        return cls(str(data["sealed"]), str(data["created_at"]), data.get("expires_at"))


# --- the endpoint -----------------------------------------------------------------------------


def status_changes(status: EndpointStatus, now: str, reason: DisabledReason = "manual") -> dict[str, Any]:
    """The fields a status change sets: enabling forgets why it was off and any failure streak."""
    if status == "enabled":
        return {"status": "enabled", "disabled_reason": None, "disabled_at": None, "failing_since": None}
    return {"status": "disabled", "disabled_reason": reason, "disabled_at": now}


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    livemode: bool
    url: str
    event_types: tuple[str, ...]
    created_at: str
    updated_at: str
    description: str | None = None
    status: EndpointStatus = "enabled"
    disabled_reason: DisabledReason | None = None
    disabled_at: str | None = None
    # When the current run of failed deliveries began (None: the last one succeeded).
    failing_since: str | None = None
    # Newest first: the current secret, then previous ones in their grace period.
    secrets: tuple[SealedSecret, ...] = ()
    secret_rotated_at: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    def touched(self, now: str, **changes: Any) -> WebhookEndpoint:
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    def listens_to(self, event_type: str) -> bool:
        return self.status == "enabled" and any(event_type_matches(f, event_type) for f in self.event_types)

    def signing(self, now: str) -> tuple[SealedSecret, ...]:
        """The secrets that sign a delivery made at ``now``: the current one first."""
        return tuple(secret for secret in self.secrets if secret.valid_at(now))

    def rotated(self, new: SealedSecret, now: str, grace: timedelta) -> WebhookEndpoint:
        """``new`` becomes the current secret; the older ones sign until ``now + grace`` at the
        latest (a rotation with no grace ends them all), and at most MAX_SECRETS are kept."""
        until = format_time(parse_time(now) + grace)
        older = [
            replace(secret, expires_at=min(until, secret.expires_at or until, key=parse_time))
            for secret in self.secrets
        ]
        kept = [secret for secret in older if secret.valid_at(now)]
        return self.touched(now, secrets=(new, *kept)[:MAX_SECRETS], secret_rotated_at=now)

    def failed(self, at: str) -> WebhookEndpoint | None:
        """After a failed delivery: the streak starts, or, once it has lasted
        AUTO_DISABLE_AFTER, the endpoint is disabled as failing. None: nothing to record."""
        if self.status != "enabled":
            return None
        since = self.failing_since or at
        if parse_time(at) - parse_time(since) >= AUTO_DISABLE_AFTER:
            return self.touched(at, failing_since=since, **status_changes("disabled", at, "failing"))
        if self.failing_since is None:
            # Bookkeeping of deliveries, not a client's change: no new version, so no event
            # (an event per streak would be delivered, and could fail, in turn).
            return replace(self, failing_since=at)
        return None

    def recovered(self, at: str) -> WebhookEndpoint | None:
        """After a successful delivery at ``at``: the streak is over (bookkeeping, as in
        ``failed``). A success from before the streak began, reported late, ends nothing."""
        if self.status != "enabled" or self.failing_since is None:
            return None
        if parse_time(at) < parse_time(self.failing_since):
            return None
        return replace(self, failing_since=None)


@dataclass(frozen=True)
class IssuedSecret:
    """An endpoint with the secret just made for it: the one time a secret leaves the vault
    towards a client (the answer to create and rotate-secret)."""

    endpoint: WebhookEndpoint
    secret: str = field(repr=False)


def webhook_endpoint_to_dict(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    """The public form; ``secret`` only in the answer that issued it."""
    return {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "livemode": endpoint.livemode,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": endpoint.disabled_at,
        "failing_since": endpoint.failing_since,
        "secret": secret,
        "secret_rotated_at": endpoint.secret_rotated_at,
        "metadata": dict(endpoint.metadata),
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "version": endpoint.version,
    }


def webhook_endpoint_to_record(endpoint: WebhookEndpoint) -> dict[str, Any]:
    record = webhook_endpoint_to_dict(endpoint)
    del record["secret"]
    return {**record, "secrets": [secret.to_dict() for secret in endpoint.secrets]}


def webhook_endpoint_from_dict(data: Mapping[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=str(data["id"]),
        livemode=bool(data["livemode"]),
        url=str(data["url"]),
        event_types=tuple(data.get("event_types") or ()),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        description=data.get("description"),
        status=data.get("status", "enabled"),
        disabled_reason=data.get("disabled_reason"),
        disabled_at=data.get("disabled_at"),
        failing_since=data.get("failing_since"),
        secrets=tuple(SealedSecret.from_dict(s) for s in data.get("secrets") or ()),
        secret_rotated_at=data.get("secret_rotated_at"),
        metadata=dict(data.get("metadata") or {}),
        version=int(data.get("version", 1)),
    )
