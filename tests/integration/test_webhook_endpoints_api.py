"""/v1/webhook-endpoints through the API handler on moto (with moto's KMS): signing secrets shown
once and sealed at rest, rotation with a grace period, URL and event type rules per mode, which
endpoints an event goes to, failing endpoints switched off after three days, tenant isolation,
If-Match and idempotent replays."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from billow.api.container import container
from billow.domain.errors import NotFound
from billow.domain.tenancy import Scope
from billow.domain.webhook_endpoint import AUTO_DISABLE_AFTER
from billow.services.webhook_endpoints import WebhookEndpointService
from tests.integration.conftest import new_tenant_client
from tests.integration.invoicing.conftest import assert_refused
from tests.integration.test_api_conventions import stored_items
from tests.support.api_client import ApiClient

PATH = "/v1/webhook-endpoints"
URL = "https://hooks.example.com/billow"
T0 = "2026-11-21T10:00:00Z"


def create(
    api: ApiClient, url: str = URL, event_types: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    response = api.post(PATH, {"url": url, "event_types": event_types or ["*"], **extra})
    assert response.status == 201, response.body
    return dict(response.data)


def fetch(api: ApiClient, endpoint_id: str) -> dict[str, Any]:
    response = api.get(f"{PATH}/{endpoint_id}")
    assert response.status == 200, response.body
    return dict(response.data)


def listed(api: ApiClient, **query: str) -> list[dict[str, Any]]:
    response = api.get(PATH, query=query or None)
    assert response.status == 200, response.body
    return list(response.data)


def rotate(api: ApiClient, endpoint_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(f"{PATH}/{endpoint_id}/rotate-secret", body, idempotency_key=None)
    assert response.status == 200, response.body
    return dict(response.data)


def scope_of(api: ApiClient) -> Scope:
    return container().tenancy.authenticate(str(api.api_key)).scope


def service() -> WebhookEndpointService:
    return container().webhook_endpoints


def signing(api: ApiClient, endpoint_id: str, now: str) -> list[str]:
    scope = scope_of(api)
    return service().signing_secrets(scope, service().get(scope, endpoint_id), now)


def shifted(moment: str, **delta: float) -> str:
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00")) + timedelta(**delta)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def events_of(endpoint_id: str) -> list[dict[str, Any]]:
    """The stored envelopes of an endpoint, in sequence order."""
    items = [
        item
        for item in stored_items()
        if item["kind"]["S"] == "event" and item["aggregate_id"]["S"] == endpoint_id
    ]
    items.sort(key=lambda item: int(item["envelope"]["M"]["aggregate"]["M"]["sequence"]["N"]))
    return [
        {"type": item["event_type"]["S"], "object": item["envelope"]["M"]["data"]["M"]["object"]["M"]}
        for item in items
    ]


def raw_table_text() -> str:
    return json.dumps(stored_items())


# --- secrets ----------------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_sealed_at_rest(api: ApiClient) -> None:
    response = api.post(
        PATH,
        {
            "url": URL,
            "event_types": ["invoice.*", "customer.created"],
            "description": "Accounting sync",
            "metadata": {"team": "finance"},
        },
    )
    assert response.status == 201, response.body
    created = response.data
    assert response.header("Location") == f"{PATH}/{created['id']}"
    assert response.header("ETag") == '"1"'
    assert {k: created[k] for k in ("object", "livemode", "url", "event_types", "status", "version")} == {
        "object": "webhook_endpoint",
        "livemode": False,
        "url": URL,
        "event_types": ["invoice.*", "customer.created"],
        "status": "enabled",
        "version": 1,
    }
    assert (created["description"], created["metadata"]) == ("Accounting sync", {"team": "finance"})
    assert (created["disabled_reason"], created["disabled_at"], created["failing_since"]) == (
        None,
        None,
        None,
    )
    assert created["secret_rotated_at"] is None
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32

    shown = fetch(api, created["id"])
    assert shown == {**created, "secret": None}
    assert listed(api) == [shown]
    key = secret.removeprefix("whsec_")
    for text in (
        api.get(f"{PATH}/{created['id']}").body,
        api.get(PATH).body,
        raw_table_text(),  # the endpoint item and its event
    ):
        assert key not in text
    assert [e["type"] for e in events_of(created["id"])] == ["webhook_endpoint.created"]
    assert events_of(created["id"])[0]["object"]["secret"] == {"NULL": True}
    assert signing(api, created["id"], T0) == [secret]


def test_a_seal_opens_only_for_its_own_endpoint(api: ApiClient) -> None:
    first = create(api)
    second = create(api)
    scope = scope_of(api)
    sealed = service().get(scope, first["id"]).secrets[0].sealed
    with pytest.raises(ClientError, match=r"InvalidCiphertextException"):
        service().vault.open(scope, f"webhook_endpoint:{second['id']}", sealed)
    with pytest.raises(ClientError, match=r"InvalidCiphertextException"):
        service().vault.open(scope, first["id"], sealed)  # as if it were a gateway's


def test_rotation_signs_with_both_secrets_until_the_grace_period_ends(api: ApiClient) -> None:
    created = create(api)
    rotated = rotate(api, created["id"])
    new_secret = rotated["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != created["secret"]
    assert rotated["version"] == 2
    at = rotated["secret_rotated_at"]
    assert at is not None
    assert fetch(api, created["id"]) == {**rotated, "secret": None}
    assert signing(api, created["id"], at) == [new_secret, created["secret"]]
    assert signing(api, created["id"], shifted(at, seconds=86_399)) == [new_secret, created["secret"]]
    assert signing(api, created["id"], shifted(at, seconds=86_400)) == [new_secret]
    assert [e["type"] for e in events_of(created["id"])] == [
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
    ]
    assert new_secret.removeprefix("whsec_") not in raw_table_text()

    short = rotate(api, created["id"], {"expire_previous_in_seconds": 60})
    assert signing(api, created["id"], short["secret_rotated_at"]) == [
        short["secret"],
        new_secret,
        created["secret"],
    ]
    assert signing(api, created["id"], shifted(short["secret_rotated_at"], seconds=60)) == [short["secret"]]
    immediate = rotate(api, created["id"], {"expire_previous_in_seconds": 0})
    assert signing(api, created["id"], immediate["secret_rotated_at"]) == [immediate["secret"]]


def test_a_third_rotation_keeps_three_secrets(api: ApiClient) -> None:
    created = create(api)
    issued = [created["secret"]] + [rotate(api, created["id"])["secret"] for _ in range(3)]
    assert len(set(issued)) == 4
    scope = scope_of(api)
    stored = service().get(scope, created["id"])
    assert len(stored.secrets) == 3
    assert signing(api, created["id"], str(stored.secret_rotated_at)) == issued[:0:-1]


@pytest.mark.parametrize(
    "body",
    [
        {"expire_previous_in_seconds": 604_801},
        {"expire_previous_in_seconds": -1},
        {"expire_previous_in_seconds": "60"},
        {"expire_previous_in_seconds": 1.5},
        {"grace": 60},
    ],
)
def test_bad_grace_periods_are_refused(api: ApiClient, body: dict[str, Any]) -> None:
    created = create(api)
    response = api.post(f"{PATH}/{created['id']}/rotate-secret", body, idempotency_key=None)
    assert_refused(response, 422, "validation_failed")
    assert fetch(api, created["id"])["version"] == 1


# --- URLs and event types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "https://127.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://localhost/hooks",
        "https://10.0.0.7/hooks",
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hooks",
        "https://[::ffff:10.0.0.7]/hooks",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://2130706433/hooks",
        "https://user:s3cr3t@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "ftp://hooks.example.com/",
        "javascript:alert(1)",
        "hooks.example.com/billow",
        "http://hooks.example.com/billow",
    ],
)
def test_live_endpoints_take_public_https_urls_only(api_handler: Any, url: str) -> None:
    live = new_tenant_client(api_handler, "Live tenant", livemode=True)
    response = live.post(PATH, {"url": url, "event_types": ["*"]})
    assert_refused(response, 422, "validation_failed", "/url")
    assert "s3cr3t" not in response.body
    assert listed(live) == []


def test_a_live_endpoint_is_created_with_https(api_handler: Any) -> None:
    live = new_tenant_client(api_handler, "Live tenant", livemode=True)
    created = create(live, "https://8.8.8.8/hooks")
    assert created["livemode"] is True


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:4000/hooks",
        "http://127.0.0.1:8080/hooks",
        "http://[::1]:9000/",
        URL,
        "http://example.com/",
    ],
)
def test_sandbox_endpoints_may_use_http_and_loopback(api: ApiClient, url: str) -> None:
    assert create(api, url)["url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/hooks",
        "http://172.20.1.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/hooks",
        "http://printer.local/hooks",
        "http://intranet/hooks",
        "http://u@localhost/hooks",
        "file:///etc/passwd",
    ],
)
def test_sandbox_endpoints_still_refuse_private_networks(api: ApiClient, url: str) -> None:
    assert_refused(api.post(PATH, {"url": url, "event_types": ["*"]}), 422, "validation_failed", "/url")
    assert listed(api) == []


@pytest.mark.parametrize(
    ("event_types", "pointer"),
    [
        ([], "/event_types"),
        (["invoice"], "/event_types/0"),
        (["invoice.paid", "INVOICE.PAID"], "/event_types/1"),
        (["invoice.paid", "invoice.paid"], "/event_types/1"),
        (["*", "invoice.paid"], "/event_types"),
        (["*.paid"], "/event_types/0"),
        ([f"a.b{i}" for i in range(101)], "/event_types"),
        ("*", "/event_types"),
        ([1], "/event_types/0"),
    ],
)
def test_bad_event_types_are_refused(api: ApiClient, event_types: Any, pointer: str) -> None:
    response = api.post(PATH, {"url": URL, "event_types": event_types})
    assert_refused(response, 422, "validation_failed", pointer)
    assert listed(api) == []


def test_patch_checks_url_and_event_types_too(api: ApiClient) -> None:
    created = create(api)
    path = f"{PATH}/{created['id']}"
    assert_refused(api.patch(path, {"url": "http://10.0.0.1/"}), 422, "validation_failed", "/url")
    assert_refused(api.patch(path, {"event_types": ["nope"]}), 422, "validation_failed", "/event_types/0")
    assert_refused(api.patch(path, {"url": None}), 422, "validation_failed", "/url")
    assert_refused(api.patch(path, {"secret": "whsec_x"}), 422, "validation_failed")
    assert fetch(api, created["id"])["version"] == 1

    patched = api.patch(
        path,
        {
            "url": "https://hooks.example.org/v2",
            "event_types": ["payment.*"],
            "description": "v2",
            "metadata": {"team": "ops"},
        },
    )
    assert patched.status == 200, patched.body
    assert patched.header("ETag") == '"2"'
    assert {k: patched.data[k] for k in ("url", "event_types", "description", "metadata", "secret")} == {
        "url": "https://hooks.example.org/v2",
        "event_types": ["payment.*"],
        "description": "v2",
        "metadata": {"team": "ops"},
        "secret": None,
    }
    cleared = api.patch(path, {"description": None, "metadata": {"team": ""}})
    assert (cleared.data["description"], cleared.data["metadata"]) == (None, {})
    unchanged = api.patch(path, {"url": "https://hooks.example.org/v2"})
    assert unchanged.data["version"] == 3  # nothing changed, nothing written
    assert [e["type"] for e in events_of(created["id"])] == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.updated",
    ]


# --- the delivery side ---------------------------------------------------------------------------


def test_matching_endpoints(api: ApiClient, other_api: ApiClient, api_handler: Any) -> None:
    everything = create(api, event_types=["*"])["id"]
    invoices = create(api, event_types=["invoice.*"])["id"]
    paid = create(api, event_types=["invoice.paid", "payment.succeeded"])["id"]
    customers = create(api, event_types=["customer.created"])["id"]
    disabled = create(api, event_types=["invoice.paid"])["id"]
    api.patch(f"{PATH}/{disabled}", {"status": "disabled"})
    create(other_api, event_types=["*"])
    live = new_tenant_client(api_handler, "Tenant A live", livemode=True)
    create(live, event_types=["*"])

    scope = scope_of(api)

    def matching(event_type: str) -> list[str]:
        return [e.id for e in service().matching(scope, event_type)]

    assert matching("invoice.paid") == [paid, invoices, everything]  # newest first
    assert matching("invoice.finalized") == [invoices, everything]
    assert matching("customer.created") == [customers, everything]
    assert matching("payment.succeeded") == [paid, everything]
    assert matching("credit_note.created") == [everything]


def test_a_failing_endpoint_is_disabled_after_three_days(api: ApiClient) -> None:
    created = create(api)
    endpoint_id = created["id"]
    scope = scope_of(api)

    failing = service().record_failure(scope, endpoint_id, T0, "HTTP 500")
    assert (failing.failing_since, failing.status, failing.version) == (T0, "enabled", 1)
    assert fetch(api, endpoint_id)["failing_since"] == T0
    again = service().record_failure(scope, endpoint_id, shifted(T0, days=1), "timeout")
    assert again.failing_since == T0
    recovered = service().record_success(scope, endpoint_id, shifted(T0, days=1, minutes=5))
    assert (recovered.failing_since, recovered.version) == (None, 1)
    assert [e["type"] for e in events_of(endpoint_id)] == ["webhook_endpoint.created"]  # bookkeeping only

    start = shifted(T0, days=2)
    service().record_failure(scope, endpoint_id, start, "HTTP 502")
    almost = service().record_failure(
        scope, endpoint_id, shifted(start, seconds=AUTO_DISABLE_AFTER.total_seconds() - 1), "HTTP 502"
    )
    assert almost.status == "enabled"
    end = shifted(start, days=3)
    disabled = service().record_failure(scope, endpoint_id, end, "connection refused")
    assert (disabled.status, disabled.disabled_reason, disabled.disabled_at, disabled.failing_since) == (
        "disabled",
        "failing",
        end,
        start,
    )
    shown = fetch(api, endpoint_id)
    assert (shown["status"], shown["disabled_reason"], shown["version"]) == ("disabled", "failing", 2)
    assert service().matching(scope, "invoice.paid") == []
    assert listed(api, status="disabled") == [shown]
    assert listed(api, status="enabled") == []
    events = events_of(endpoint_id)
    assert [e["type"] for e in events] == ["webhook_endpoint.created", "webhook_endpoint.disabled"]
    assert events[1]["object"]["failure_reason"] == {"S": "connection refused"}
    assert events[1]["object"]["disabled_reason"] == {"S": "failing"}
    # A disabled endpoint keeps its record; deliveries still in flight change nothing.
    assert service().record_success(scope, endpoint_id, shifted(end, minutes=1)).failing_since == start

    enabled = api.patch(f"{PATH}/{endpoint_id}", {"status": "enabled"})
    assert enabled.status == 200, enabled.body
    assert {k: enabled.data[k] for k in ("status", "disabled_reason", "disabled_at", "failing_since")} == {
        "status": "enabled",
        "disabled_reason": None,
        "disabled_at": None,
        "failing_since": None,
    }
    assert [e["type"] for e in events_of(endpoint_id)][-1] == "webhook_endpoint.updated"
    assert [e.id for e in service().matching(scope, "invoice.paid")] == [endpoint_id]


def test_disabling_by_hand(api: ApiClient) -> None:
    created = create(api)
    disabled = api.patch(f"{PATH}/{created['id']}", {"status": "disabled"})
    assert disabled.status == 200, disabled.body
    assert (disabled.data["status"], disabled.data["disabled_reason"]) == ("disabled", "manual")
    assert disabled.data["disabled_at"] is not None
    again = api.patch(f"{PATH}/{created['id']}", {"status": "disabled"})
    assert again.data["version"] == disabled.data["version"]
    assert [e["type"] for e in events_of(created["id"])] == [
        "webhook_endpoint.created",
        "webhook_endpoint.disabled",
    ]
    scope = scope_of(api)
    assert service().record_failure(scope, created["id"], T0, "HTTP 500").failing_since is None


# --- isolation and concurrency ----------------------------------------------------------------


def test_an_endpoint_of_another_tenant_is_not_found(api: ApiClient, other_api: ApiClient) -> None:
    created = create(api)
    path = f"{PATH}/{created['id']}"
    assert_refused(other_api.get(path), 404, "not_found")
    assert_refused(other_api.patch(path, {"status": "disabled"}), 404, "not_found")
    assert_refused(other_api.post(f"{path}/rotate-secret", idempotency_key=None), 404, "not_found")
    assert listed(other_api) == []
    with pytest.raises(NotFound):
        service().record_failure(scope_of(other_api), created["id"], T0, "HTTP 500")
    assert fetch(api, created["id"]) == {**created, "secret": None}


def test_if_match_is_honoured(api: ApiClient) -> None:
    created = create(api)
    path = f"{PATH}/{created['id']}"
    stale = api.patch(path, {"description": "new"}, headers={"If-Match": '"7"'})
    assert_refused(stale, 412, "precondition_failed")
    rotation = api.post(f"{path}/rotate-secret", headers={"If-Match": '"7"'}, idempotency_key=None)
    assert_refused(rotation, 412, "precondition_failed")
    assert fetch(api, created["id"])["version"] == 1
    fresh = api.patch(path, {"description": "new"}, headers={"If-Match": '"1"'})
    assert fresh.status == 200, fresh.body
    rotated = api.post(f"{path}/rotate-secret", headers={"If-Match": '"2"'}, idempotency_key=None)
    assert rotated.status == 200, rotated.body
    assert rotated.header("ETag") == '"3"'


def test_a_replayed_create_answers_the_same_and_creates_one(api: ApiClient) -> None:
    body = {"url": URL, "event_types": ["*"]}
    first = api.post(PATH, body, idempotency_key="endpoint-1")
    replay = api.post(PATH, body, idempotency_key="endpoint-1")
    assert first.status == replay.status == 201
    assert replay.body == first.body
    assert replay.header("Idempotent-Replayed") == "true"
    assert len(listed(api)) == 1
    other = api.post(PATH, {**body, "description": "other"}, idempotency_key="endpoint-1")
    assert_refused(other, 422, "idempotency_key_reused")
    assert_refused(api.post(PATH, body, idempotency_key=None), 400, "idempotency_key_required")
    assert len(listed(api)) == 1


def test_pages_newest_first(api: ApiClient) -> None:
    ids = [create(api)["id"] for _ in range(3)]
    first = api.get(PATH, query={"limit": "2"})
    assert [e["id"] for e in first.data] == ids[:0:-1]
    cursor = first.json()["pagination"]["next_cursor"]
    assert [e["id"] for e in api.get(PATH, query={"limit": "2", "cursor": cursor}).data] == ids[:1]


def test_a_mode_takes_at_most_sixteen_enabled_endpoints(api: ApiClient) -> None:
    from billow.services.webhook_endpoints import MAX_ENABLED_ENDPOINTS

    body = {"url": "https://hooks.example.com/billow", "event_types": ["*"]}
    made = [api.post("/v1/webhook-endpoints", body) for _ in range(MAX_ENABLED_ENDPOINTS)]
    assert {r.status for r in made} == {201}
    refused = api.post("/v1/webhook-endpoints", body)
    assert refused.status == 409, refused.body
    assert refused.json()["code"] == "conflict"
    # Disabling one makes room; enabling it again while full is refused the same way.
    first = made[0].data["id"]
    assert api.patch(f"/v1/webhook-endpoints/{first}", {"status": "disabled"}).status == 200
    assert api.post("/v1/webhook-endpoints", body).status == 201
    again = api.patch(f"/v1/webhook-endpoints/{first}", {"status": "enabled"})
    assert again.status == 409, again.body
