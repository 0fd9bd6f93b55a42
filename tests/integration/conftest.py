from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from billow.api.container import container
from tests.support.api_client import ApiClient
from tests.support.aws import local_aws
from tests.support.functions import gateway


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with local_aws(monkeypatch):
        yield


@pytest.fixture
def api_handler(aws: None) -> Any:
    return gateway()


def new_tenant_client(handler: Any, name: str, *, livemode: bool = False) -> ApiClient:
    tenancy = container().tenancy
    tenant = tenancy.create_tenant(name)
    issued = tenancy.issue_api_key(tenant.id, livemode=livemode)
    return ApiClient(handler, issued.secret)


@pytest.fixture
def api(api_handler: Any) -> ApiClient:
    """A sandbox API key of tenant A."""
    return new_tenant_client(api_handler, "Tenant A")


@pytest.fixture
def other_api(api_handler: Any) -> ApiClient:
    """A sandbox API key of tenant B."""
    return new_tenant_client(api_handler, "Tenant B")
