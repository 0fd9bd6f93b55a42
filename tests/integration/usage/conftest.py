"""The usage tests share the subscription tests' fixtures: one moto backend per module."""

from tests.integration.subscriptions.conftest import api_handler, backend, catalog

__all__ = ["api_handler", "backend", "catalog"]
