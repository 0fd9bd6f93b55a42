"""Drives the real Lambda handler with API Gateway HTTP API (payload 2.0) events."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode


class Handler(Protocol):
    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]: ...


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def data(self) -> Any:
        return self.json()["data"]

    @property
    def code(self) -> str | None:
        body = self.json()
        return body.get("code") if isinstance(body, dict) else None

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class FakeContext:
    function_name = "ApiFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:ApiFunction"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    all_headers = {"content-type": "application/json"} if text is not None else {}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    return {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "t",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "21/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": text,
        "isBase64Encoded": False,
    }


class ApiClient:
    def __init__(self, handler: Handler, api_key: str | None) -> None:
        self.handler = handler
        self.api_key = api_key

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        auth: bool = True,
    ) -> ApiResponse:
        all_headers = dict(headers or {})
        if auth and self.api_key:
            all_headers.setdefault("authorization", f"Bearer {self.api_key}")
        if idempotency_key:
            all_headers["idempotency-key"] = idempotency_key
        event = http_event(method, path, body=body, raw_body=raw_body, headers=all_headers, query=query)
        result = self.handler(event, FakeContext())
        raw = result.get("body") or ""
        if result.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        return ApiResponse(status=result["statusCode"], headers=result.get("headers") or {}, body=raw)

    def post(
        self, path: str, body: Any = None, *, idempotency_key: str | None = "auto", **kw: Any
    ) -> ApiResponse:
        key = str(uuid.uuid4()) if idempotency_key == "auto" else idempotency_key
        return self.request("POST", path, body=body, idempotency_key=key, **kw)

    def get(self, path: str, **kw: Any) -> ApiResponse:
        return self.request("GET", path, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> ApiResponse:
        return self.request("PATCH", path, body=body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> ApiResponse:
        return self.request("PUT", path, body=body, **kw)
