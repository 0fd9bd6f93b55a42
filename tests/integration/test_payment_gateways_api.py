"""/v1/payment-gateways through the API handler on moto (with moto's KMS): configurations per
provider and mode, write-only credentials sealed with KMS and bound to their gateway, one
default per tenant and mode, and refused requests that change nothing and never echo a
secret."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from billow.api.container import container
from tests.integration.conftest import new_tenant_client
from tests.integration.invoicing.conftest import assert_refused
from tests.support.api_client import ApiClient
from tests.support.aws import TABLE

STRIPE_TEST_KEY = "sk_test_51Billow0000SecretValue4242"
STRIPE_LIVE_KEY = "sk_live_51Billow0000SecretValue4242"
WEBHOOK_SECRET = "whsec_BillowSigningSecret0001"
GOCARDLESS_TOKEN = "sandbox_BillowAccessToken_0001"


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/payment-gateways", body)
    assert response.status == 201, response.body
    return dict(response.data)


def listed(api: ApiClient) -> list[dict[str, Any]]:
    response = api.get("/v1/payment-gateways")
    assert response.status == 200, response.body
    return list(response.data)


def raw_table_text() -> str:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return json.dumps(items)


def stripe(**extra: Any) -> dict[str, Any]:
    return {
        "provider": "stripe",
        "credentials": {"secret_key": STRIPE_TEST_KEY, "webhook_secret": WEBHOOK_SECRET},
        **extra,
    }


def test_the_first_gateway_is_the_default_and_takes_the_providers_capabilities(api: ApiClient) -> None:
    sandbox = create(api, {"provider": "sandbox"})
    assert {k: sandbox[k] for k in ("provider", "mode", "name", "is_default", "status", "livemode")} == {
        "provider": "sandbox",
        "mode": "test",
        "name": "Sandbox",
        "is_default": True,
        "status": "active",
        "livemode": False,
    }
    assert (sandbox["supported_currencies"], sandbox["supported_methods"]) == ([], ["card", "sepa_debit"])
    assert sandbox["credentials"] == {"set": [], "updated_at": None}
    gocardless = create(api, {"provider": "gocardless", "credentials": {"access_token": GOCARDLESS_TOKEN}})
    assert gocardless["is_default"] is False
    assert "EUR" in gocardless["supported_currencies"]
    assert "JPY" not in gocardless["supported_currencies"]
    assert api.get(f"/v1/payment-gateways/{gocardless['id']}").data == gocardless


def test_credentials_are_sealed_bound_to_their_gateway_and_never_shown(api: ApiClient) -> None:
    created = api.post("/v1/payment-gateways", stripe(name="Stripe EU"))
    assert created.status == 201
    gateway = created.data
    assert gateway["credentials"]["set"] == ["secret_key", "webhook_secret"]
    for text in (created.body, api.get(f"/v1/payment-gateways/{gateway['id']}").body, raw_table_text()):
        assert STRIPE_TEST_KEY not in text
        assert WEBHOOK_SECRET not in text
        assert "SecretValue" not in text
    service = container().gateways
    scope = container().tenancy.authenticate(str(api.api_key)).scope
    stored = service.get(scope, gateway["id"])
    assert service.credentials(scope, stored) == {
        "secret_key": STRIPE_TEST_KEY,
        "webhook_secret": WEBHOOK_SECRET,
    }
    # The seal names the tenant, mode and gateway: under another gateway it does not open.
    other = create(api, {"provider": "sandbox"})
    with pytest.raises(ClientError, match=r"InvalidCiphertextException"):
        service.vault.open(scope, other["id"], str(stored.sealed_credentials))


def test_new_credentials_replace_the_old_ones(api: ApiClient) -> None:
    gateway = create(api, stripe())
    rotated_key = "sk_test_51Billow0000RotatedValue9999"
    response = api.patch(
        f"/v1/payment-gateways/{gateway['id']}", {"credentials": {"secret_key": rotated_key}}
    )
    assert response.status == 200, response.body
    assert response.data["credentials"]["set"] == ["secret_key"]
    assert response.data["version"] == gateway["version"] + 1
    assert rotated_key not in response.body
    scope = container().tenancy.authenticate(str(api.api_key)).scope
    service = container().gateways
    assert service.credentials(scope, service.get(scope, gateway["id"])) == {"secret_key": rotated_key}


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (stripe(credentials={"secret_key": STRIPE_LIVE_KEY}), "/credentials/secret_key"),  # a live key
        (stripe(credentials={"secret_key": "not-a-key-SecretValue"}), "/credentials/secret_key"),
        (stripe(credentials={}), "/credentials/secret_key"),
        (
            stripe(credentials={"secret_key": STRIPE_TEST_KEY, "password": "SecretValue"}),
            "/credentials/password",
        ),
        (
            stripe(credentials={"secret_key": STRIPE_TEST_KEY, "webhook_secret": "SecretValue"}),
            "/credentials/webhook_secret",
        ),
        (
            {"provider": "gocardless", "credentials": {"access_token": "live_SecretValue0001"}},
            "/credentials/access_token",
        ),
        ({"provider": "sandbox", "credentials": {"secret_key": STRIPE_TEST_KEY}}, "/credentials/secret_key"),
        ({"provider": "sandbox", "mode": "live"}, "/mode"),
        (
            {
                "provider": "gocardless",
                "credentials": {"access_token": GOCARDLESS_TOKEN},
                "supported_currencies": ["JPY"],
            },
            "/supported_currencies/0",
        ),
        (
            {
                "provider": "gocardless",
                "credentials": {"access_token": GOCARDLESS_TOKEN},
                "supported_methods": ["card"],
            },
            "/supported_methods/0",
        ),
        ({"provider": "sandbox", "supported_currencies": ["XYZ"]}, "/supported_currencies/0"),
        ({"provider": "sandbox", "supported_currencies": ["EUR", "EUR"]}, "/supported_currencies"),
        ({"provider": "paypal"}, "/provider"),
        ({"provider": "stripe", "credentials": {"secret_key": 42}}, "/credentials/secret_key"),
    ],
)
def test_bad_configurations_are_refused_without_echoing_secrets(
    api: ApiClient, body: dict[str, Any], pointer: str
) -> None:
    response = api.post("/v1/payment-gateways", body)
    assert_refused(response, 422, "validation_failed", pointer)
    assert "SecretValue" not in response.body
    assert STRIPE_TEST_KEY not in response.body
    assert listed(api) == []


def test_a_live_key_configures_live_gateways_only(api_handler: Any) -> None:
    live = new_tenant_client(api_handler, "Live tenant", livemode=True)
    assert_refused(
        live.post("/v1/payment-gateways", {"provider": "sandbox"}), 422, "validation_failed", "/provider"
    )
    assert_refused(
        live.post("/v1/payment-gateways", stripe()), 422, "validation_failed", "/credentials/secret_key"
    )
    gateway = create(live, stripe(credentials={"secret_key": STRIPE_LIVE_KEY}))
    assert (gateway["mode"], gateway["livemode"], gateway["is_default"]) == ("live", True, True)


def test_one_default_per_tenant_and_mode(api: ApiClient, api_handler: Any) -> None:
    first = create(api, {"provider": "sandbox", "name": "First"})
    second = create(api, stripe(is_default=True))
    by_id = {g["id"]: g for g in listed(api)}
    assert (by_id[first["id"]]["is_default"], by_id[second["id"]]["is_default"]) == (False, True)
    back = api.patch(f"/v1/payment-gateways/{first['id']}", {"is_default": True})
    assert back.status == 200
    by_id = {g["id"]: g for g in listed(api)}
    assert (by_id[first["id"]]["is_default"], by_id[second["id"]]["is_default"]) == (True, False)
    assert_refused(
        api.patch(f"/v1/payment-gateways/{first['id']}", {"is_default": False}),
        422,
        "validation_failed",
        "/is_default",
    )
    disabled = api.patch(f"/v1/payment-gateways/{first['id']}", {"status": "disabled"}).data
    assert (disabled["status"], disabled["is_default"]) == ("disabled", False)
    assert_refused(
        api.patch(f"/v1/payment-gateways/{first['id']}", {"is_default": True}),
        409,
        "invalid_state_transition",
    )
    # Live keys have their own default.
    live = new_tenant_client(api_handler, "Tenant A live", livemode=True)
    assert create(live, stripe(credentials={"secret_key": STRIPE_LIVE_KEY}))["is_default"] is True


def test_a_gateway_of_another_tenant_is_not_found(api: ApiClient, other_api: ApiClient) -> None:
    gateway = create(api, stripe())
    assert_refused(other_api.get(f"/v1/payment-gateways/{gateway['id']}"), 404, "not_found")
    assert_refused(
        other_api.patch(f"/v1/payment-gateways/{gateway['id']}", {"name": "Mine"}), 404, "not_found"
    )
    assert listed(other_api) == []
    assert api.get(f"/v1/payment-gateways/{gateway['id']}").data == gateway


def test_a_stale_if_match_or_a_missing_idempotency_key_changes_nothing(api: ApiClient) -> None:
    gateway = create(api, stripe())
    stale = api.patch(f"/v1/payment-gateways/{gateway['id']}", {"name": "New"}, headers={"If-Match": '"7"'})
    assert_refused(stale, 412, "precondition_failed")
    assert api.get(f"/v1/payment-gateways/{gateway['id']}").data == gateway
    assert_refused(
        api.post("/v1/payment-gateways", {"provider": "sandbox"}, idempotency_key=None),
        400,
        "idempotency_key_required",
    )
    assert len(listed(api)) == 1
