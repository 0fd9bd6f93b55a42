from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billow.api.container import container
from tests.support.api_client import ApiClient
from tests.support.aws import local_aws

ROOT = Path(__file__).resolve().parents[2]


def load_function(name: str) -> Any:
    """Import functions/<name>/app.py under a unique module name, as Lambda would run it."""
    spec = importlib.util.spec_from_file_location(
        f"billow_function_{name}", ROOT / "functions" / name / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with local_aws(monkeypatch):
        yield


@pytest.fixture
def api_handler(aws: None) -> Any:
    return load_function("api").lambda_handler


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
