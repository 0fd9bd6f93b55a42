"""Fixtures of the subscription tests: one moto backend per module, emptied before each test
(subscriptions need many objects; building the backend once per module keeps them fast)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api_client import ApiClient
from tests.support.subscriptions import Catalog, fresh_tables, module_backend


@pytest.fixture(scope="module")
def backend() -> Iterator[Any]:
    with module_backend() as handler:
        yield handler


@pytest.fixture
def api_handler(backend: Any) -> Any:
    """Overrides conftest's: the module's handler over freshly emptied tables."""
    fresh_tables()
    return backend


@pytest.fixture
def catalog(api: ApiClient) -> Catalog:
    return Catalog(api)
