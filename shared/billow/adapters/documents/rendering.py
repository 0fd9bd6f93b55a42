"""Who renders a document for the API (ports/documents.py ``DocumentRendering``).

``LambdaDocumentRendering`` invokes the documents function, which alone carries fpdf2 and lxml;
its answer is the stored document or the problem that stopped it, raised here again as the
same domain error so the API answers exactly as if it had rendered itself.
``InProcessDocumentRendering`` runs the same use case in this process (tests, and the local
stack when no function name is configured).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from billow.domain import errors
from billow.ports.documents import DocumentRequest, StoredDocument

_ERRORS: dict[str, type[errors.BillowError]] = {
    cls.code: cls
    for cls in (
        errors.EInvoiceIncomplete,
        errors.NotFound,
        errors.InvalidStateTransition,
        errors.ValidationFailed,
    )
}


def problem_of(error: errors.BillowError) -> dict[str, Any]:
    return {"code": error.code, "detail": error.detail, "errors": [e.as_dict() for e in error.errors]}


def error_of(problem: dict[str, Any]) -> errors.BillowError:
    cls = _ERRORS.get(str(problem.get("code")), errors.BillowError)
    return cls(
        detail=str(problem.get("detail") or "the documents function failed"),
        errors=[errors.FieldError(e["pointer"], e["message"]) for e in problem.get("errors") or ()],
    )


class InProcessDocumentRendering:
    def __init__(self, render: Callable[[DocumentRequest], StoredDocument]) -> None:
        self._render = render

    def render(self, request: DocumentRequest) -> StoredDocument:
        return self._render(request)


class LambdaDocumentRendering:
    def __init__(self, client: Any, function_name: str) -> None:
        self.client = client
        self.function_name = function_name

    def render(self, request: DocumentRequest) -> StoredDocument:
        response = self.client.invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(request.to_event()).encode(),
        )
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise RuntimeError(f"the documents function failed: {payload.get('errorMessage', payload)}")
        if "problem" in payload:
            raise error_of(payload["problem"])
        return StoredDocument.from_dict(payload["document"])
