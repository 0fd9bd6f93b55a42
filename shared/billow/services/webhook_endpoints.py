"""Webhook endpoint use cases: create, read, list, change, rotate the signing secret, and what the
delivery side needs: the endpoints an event goes to, their signing secrets, and the record of
failing and recovering endpoints (docs/webhooks.md).

Secrets are made here, sealed by the credential vault at once, and shown to the client only in
the answer that made them; events and logs never carry one.
"""

from __future__ import annotations

import secrets as random_source
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from billow.domain.errors import Conflict, NotFound
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.tenancy import Scope
from billow.domain.webhook_endpoint import (
    DEFAULT_GRACE_SECONDS,
    SECRET_BYTES,
    IssuedSecret,
    SealedSecret,
    WebhookEndpoint,
    check_endpoint_url,
    check_event_types,
    secret_from_key,
    status_changes,
    webhook_endpoint_to_dict,
)
from billow.ports.clock import Clock, rfc3339
from billow.ports.credentials import CredentialVault
from billow.ports.ids import IdGenerator
from billow.ports.queries import Page, PageResult
from billow.services.concurrency import read_decide_write
from billow.services.events import change_event

MUTABLE = frozenset({"url", "description", "event_types", "status", "metadata"})
MAX_FAILURE_REASON_LENGTH = 500
# Aliases: inside the service class, ``list`` is its method.
Events = list[EventEnvelope]
Endpoints = list[WebhookEndpoint]
Secrets = list[str]


class WebhookEndpointRepository(Protocol):
    def get(self, scope: Scope, endpoint_id: str) -> WebhookEndpoint | None: ...

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[WebhookEndpoint]: ...

    def save(
        self,
        scope: Scope,
        before: WebhookEndpoint | None,
        after: WebhookEndpoint,
        events: Sequence[EventEnvelope],
    ) -> None:
        """New (``before`` None) or under the version read; ConcurrentModification otherwise."""
        ...


def _vault_id(endpoint_id: str) -> str:
    # The vault binds a seal to the id it is given: prefixed, an endpoint's seal can never be
    # taken for a payment gateway's (or the other way round).
    return f"webhook_endpoint:{endpoint_id}"


# Enabled endpoints per tenant and mode.
MAX_ENABLED_ENDPOINTS = 16


@dataclass
class WebhookEndpointService:
    endpoints: WebhookEndpointRepository
    vault: CredentialVault
    clock: Clock
    new_id: IdGenerator
    # Where signing keys come from (tests may make them predictable).
    random_bytes: Callable[[int], bytes] = random_source.token_bytes
    _secret_cache: dict[tuple[Scope, str, str], str] = field(default_factory=dict, repr=False)

    def _event(self, scope: Scope, type_: str, endpoint: WebhookEndpoint, **extra: Any) -> EventEnvelope:
        data = {**webhook_endpoint_to_dict(endpoint), **extra}
        return change_event(scope, type_, "webhook_endpoint", data, new_id=self.new_id)

    def _new_secret(self, scope: Scope, endpoint_id: str, now: str) -> tuple[str, SealedSecret]:
        secret = secret_from_key(self.random_bytes(SECRET_BYTES))
        sealed = self.vault.seal(scope, _vault_id(endpoint_id), {"secret": secret})
        return secret, SealedSecret(sealed=sealed, created_at=now)

    def create(self, scope: Scope, raw: Mapping[str, Any]) -> IssuedSecret:
        check_endpoint_url(raw["url"], scope.livemode)
        check_event_types(raw["event_types"])
        self._room_for_one_more(scope)
        now = rfc3339(self.clock.now())
        endpoint_id = self.new_id()
        secret, sealed = self._new_secret(scope, endpoint_id, now)
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            livemode=scope.livemode,
            url=raw["url"],
            event_types=tuple(raw["event_types"]),
            description=raw.get("description"),
            created_at=now,
            updated_at=now,
            secrets=(sealed,),
            metadata=dict(raw.get("metadata") or {}),
        )
        self.endpoints.save(scope, None, endpoint, [self._event(scope, "webhook_endpoint.created", endpoint)])
        return IssuedSecret(endpoint, secret)

    def _room_for_one_more(self, scope: Scope) -> None:
        """At most MAX_ENABLED_ENDPOINTS enabled per mode (as Stripe): each event is written to
        every one of them in one transaction, and a tenant needing more fans out itself."""
        enabled = sum(1 for _ in self._all(scope, "enabled"))
        if enabled >= MAX_ENABLED_ENDPOINTS:
            raise Conflict(
                detail=f"a mode takes at most {MAX_ENABLED_ENDPOINTS} enabled webhook endpoints; "
                "disable one first"
            )

    def get(self, scope: Scope, endpoint_id: str) -> WebhookEndpoint:
        endpoint = self.endpoints.get(scope, endpoint_id)
        if endpoint is None:
            raise NotFound(detail=f"no webhook endpoint with id {endpoint_id}")
        return endpoint

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[WebhookEndpoint]:
        return self.endpoints.list(scope, page, status)

    def _change(
        self,
        scope: Scope,
        endpoint_id: str,
        if_match: int | None,
        decide: Callable[[WebhookEndpoint], WebhookEndpoint | None],
        events: Callable[[WebhookEndpoint, WebhookEndpoint], Events],
    ) -> WebhookEndpoint:
        def write(before: WebhookEndpoint, after: WebhookEndpoint) -> None:
            self.endpoints.save(scope, before, after, events(before, after))

        return read_decide_write(
            partial(self.get, scope, endpoint_id),
            decide,
            write,
            if_match=if_match,
            version_of=lambda endpoint: endpoint.version,
            what="webhook endpoint",
        )

    def update(
        self, scope: Scope, endpoint_id: str, raw: Mapping[str, Any], if_match: int | None
    ) -> WebhookEndpoint:
        unknown = set(raw) - MUTABLE
        if unknown:  # pragma: no cover - the request model allows only MUTABLE
            raise ValueError(f"not mutable: {sorted(unknown)}")
        changes: dict[str, Any] = {name: raw[name] for name in ("url", "description") if name in raw}
        if "url" in raw:
            check_endpoint_url(raw["url"], scope.livemode)
        if "event_types" in raw:
            check_event_types(raw["event_types"])
            changes["event_types"] = tuple(raw["event_types"])
        if raw.get("status") == "enabled" and self.get(scope, endpoint_id).status != "enabled":
            self._room_for_one_more(scope)
        now = rfc3339(self.clock.now())

        def decide(before: WebhookEndpoint) -> WebhookEndpoint | None:
            applied = dict(changes)
            if "metadata" in raw:
                applied["metadata"] = merge_metadata(before.metadata, raw["metadata"])
            if raw.get("status", before.status) != before.status:
                applied |= status_changes(raw["status"], now)
            if all(getattr(before, name) == value for name, value in applied.items()):
                return None
            return before.touched(now, **applied)

        def events(before: WebhookEndpoint, after: WebhookEndpoint) -> Events:
            disabled = before.status == "enabled" and after.status == "disabled"
            type_ = "webhook_endpoint.disabled" if disabled else "webhook_endpoint.updated"
            return [self._event(scope, type_, after)]

        return self._change(scope, endpoint_id, if_match, decide, events)

    def rotate_secret(
        self,
        scope: Scope,
        endpoint_id: str,
        expire_previous_in_seconds: int = DEFAULT_GRACE_SECONDS,
        if_match: int | None = None,
    ) -> IssuedSecret:
        """A new current secret; the previous ones keep signing for the grace period at most."""
        endpoint = self.get(scope, endpoint_id)  # 404 before anything is sealed
        now = rfc3339(self.clock.now())
        secret, sealed = self._new_secret(scope, endpoint.id, now)
        grace = timedelta(seconds=expire_previous_in_seconds)
        rotated = self._change(
            scope,
            endpoint_id,
            if_match,
            lambda before: before.rotated(sealed, now, grace),
            lambda _, after: [self._event(scope, "webhook_endpoint.secret_rotated", after)],
        )
        return IssuedSecret(rotated, secret)

    # --- for the delivery side ------------------------------------------------------------

    def signing_secrets(self, scope: Scope, endpoint: WebhookEndpoint, now: str) -> Secrets:
        """The opened secrets a delivery at ``now`` is signed with: the current one first, then
        the previous ones still in their grace period. Never for the API or a log."""
        return [self._opened(scope, endpoint.id, secret.sealed) for secret in endpoint.signing(now)]

    def _opened(self, scope: Scope, endpoint_id: str, sealed: str) -> str:
        # A sealed secret never changes (rotation seals a new one): opening it once per
        # container spares a KMS call per delivery.
        key = (scope, endpoint_id, sealed)
        if key not in self._secret_cache:
            if len(self._secret_cache) >= 512:
                self._secret_cache.clear()
            self._secret_cache[key] = self.vault.open(scope, _vault_id(endpoint_id), sealed)["secret"]
        return self._secret_cache[key]

    def _all(self, scope: Scope, status: str | None) -> Iterator[WebhookEndpoint]:
        page = Page(limit=100)
        while True:
            result = self.endpoints.list(scope, page, status)
            yield from result.items
            if result.next_position is None:
                return
            page = Page(limit=100, after=result.next_position)

    def matching(self, scope: Scope, event_type: str) -> Endpoints:
        """The enabled endpoints that take events of this type, newest first."""
        return [e for e in self._all(scope, "enabled") if e.listens_to(event_type)]

    def record_failure(self, scope: Scope, endpoint_id: str, at: str, reason: str) -> WebhookEndpoint:
        """A delivery to the endpoint failed at ``at``: the first failure of a run starts
        ``failing_since``; once the run has lasted AUTO_DISABLE_AFTER, the endpoint is disabled
        (``disabled_reason: failing``) with a ``webhook_endpoint.disabled`` event. ``reason``
        (no secrets in it) goes into that event."""
        failure_reason = reason[:MAX_FAILURE_REASON_LENGTH]

        def events(before: WebhookEndpoint, after: WebhookEndpoint) -> Events:
            if after.version == before.version:
                return []
            return [self._event(scope, "webhook_endpoint.disabled", after, failure_reason=failure_reason)]

        return self._change(scope, endpoint_id, None, lambda before: before.failed(at), events)

    def record_success(self, scope: Scope, endpoint_id: str, at: str) -> WebhookEndpoint:
        """A delivery to the endpoint succeeded at ``at``: a run of failures is over. Writes
        only when one was running."""
        return self._change(scope, endpoint_id, None, lambda before: before.recovered(at), lambda _, __: [])
