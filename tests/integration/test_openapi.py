"""The OpenAPI 3.1 document covers every route."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from billow.api.app import build_api, openapi_json


def test_openapi_document_lists_the_customer_routes() -> None:
    resolver = build_api(APIGatewayHttpResolver(enable_validation=True), with_ingest=True)
    document = json.loads(openapi_json(resolver))
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for path, methods in {
        "/v1/customers": {"get", "post"},
        "/v1/customers/{customer_id}": {"get", "patch"},
        "/v1/customers/by-external-id/{external_id}": {"get", "put"},
        "/v1/customers/{customer_id}/merge": {"post"},
        "/v1/custom-fields": {"get", "post"},
        "/v1/api-keys": {"get", "post"},
    }.items():
        assert methods <= set(paths[path]), path
    create = paths["/v1/customers"]["post"]
    assert "requestBody" in create
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert document["security"] == [{"apiKey": []}]
