"""The operator CLI creates tenants and issues and revokes keys that the API accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billow.cli import main
from tests.support.api_client import ApiClient
from tests.support.aws import TABLE


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main(["--table", TABLE, *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_tenant_and_key_lifecycle(api_handler: Any, capsys: pytest.CaptureFixture[str]) -> None:
    tenant = run(
        capsys, "tenants", "create", "--name", "Globex", "--timezone", "Europe/Berlin", "--currency", "EUR"
    )
    assert tenant["timezone"] == "Europe/Berlin"
    key = run(capsys, "api-keys", "create", "--tenant", tenant["id"], "--name", "ci")
    assert key["secret"].startswith("bk_test_")
    client = ApiClient(api_handler, key["secret"])
    assert client.post("/v1/customers", {"name": "Via CLI key"}).status == 201

    listed = run(capsys, "api-keys", "list", "--tenant", tenant["id"])
    assert [k["id"] for k in listed] == [key["id"]]
    assert "secret" not in listed[0]
    live = run(capsys, "api-keys", "create", "--tenant", tenant["id"], "--live")
    assert live["secret"].startswith("bk_live_")

    revoked = run(capsys, "api-keys", "revoke", "--tenant", tenant["id"], "--key", key["id"])
    assert revoked["status"] == "revoked"
    from billow.api.auth import key_cache

    key_cache.clear()  # another container: the cache entry would expire within its TTL
    assert client.get("/v1/customers").code == "unauthenticated"


def test_errors_are_reported_not_raised(api_handler: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--table", TABLE, "api-keys", "create", "--tenant", "no-such-tenant"]) == 1
    assert "no tenant" in capsys.readouterr().err
    assert main(["--table", TABLE, "tenants", "create", "--name", "X", "--timezone", "Nowhere/City"]) == 1
