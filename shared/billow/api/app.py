"""Builds the API: one set of routers, served by API Gateway's resolver in Lambda and by
Powertools' ASGI resolver in the local stack."""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from billow.api.edge import edge_middleware, register_exception_handlers
from billow.api.routers import (
    api_keys,
    custom_fields,
    customers,
    documents,
    dunning_policies,
    eu_vat_rates,
    events,
    fx,
    gateways,
    invoices,
    meters,
    payment_methods,
    payments,
    plans,
    price_overrides,
    prices,
    products,
    subscriptions,
    tax,
    tax_exports,
    test_clocks,
    usage_alerts,
    vat_ids,
    webhook_deliveries,
    webhook_endpoints,
)
from billow.settings import get_settings

R = TypeVar("R", bound=ApiGatewayResolver)


def _security_schemes() -> dict[str, Any]:
    # Imported only when the OpenAPI document is built: the models module costs ~55 ms.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return {"apiKey": HTTPBearer(description="An API key: bk_test_… (sandbox) or bk_live_… (live)")}


_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}]

API_TITLE = "Billow API"
API_VERSION = "1.0.0"


def build_api(resolver: R, *, with_ingest: bool = False) -> R:
    """Every route; ``with_ingest`` adds the usage events routes too (the local stack and the
    OpenAPI document: in AWS they belong to the ingest function)."""
    resolver.use(middlewares=[edge_middleware])
    register_exception_handlers(resolver)
    modules = (
        customers,
        custom_fields,
        api_keys,
        products,
        prices,
        price_overrides,
        plans,
        meters,
        usage_alerts,
        subscriptions,
        test_clocks,
        invoices,
        gateways,
        payment_methods,
        payments,
        dunning_policies,
        fx,
        eu_vat_rates,
        vat_ids,
        documents,
        tax,
        tax_exports,
        webhook_endpoints,
        webhook_deliveries,
        events,
    )
    for module in modules:
        resolver.include_router(module.router, prefix="/v1")
    if with_ingest:
        from billow.api.routers import usage_events

        resolver.include_router(usage_events.router, prefix="/v1")
    if get_settings().enable_swagger:
        resolver.enable_swagger(
            path="/swagger",
            title=API_TITLE,
            version=API_VERSION,
            security_schemes=_security_schemes(),
            security=_SECURITY,
        )
    return resolver


def build_ingest(resolver: R) -> R:
    """The ingest function's app: the usage events routes behind the same edge (auth, limits,
    problems) as every other route."""
    from billow.api.routers import usage_events

    resolver.use(middlewares=[edge_middleware])
    register_exception_handlers(resolver)
    resolver.include_router(usage_events.router, prefix="/v1")
    return resolver


def openapi_json(resolver: ApiGatewayResolver) -> str:
    return resolver.get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        openapi_version="3.1.0",
        security_schemes=_security_schemes(),
        security=_SECURITY,
    )
