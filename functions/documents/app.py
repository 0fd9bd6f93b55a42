"""The documents function: render one invoice or credit note as PDF, XRechnung UBL or CII,
store it in the documents bucket and answer where (services/documents.py). The API invokes it
synchronously; it is the only function that carries fpdf2 and lxml (DocumentsLayer)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.adapters.documents.rendering import problem_of
from billow.api.container import container
from billow.domain.errors import BillowError
from billow.ports.documents import DocumentRequest

logger = Logger(service="billow")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = DocumentRequest.from_event(event)
    try:
        stored = container().document_rendering.render(request)
    except BillowError as error:
        # An answer, not a failure: the API turns it into the same problem it would raise.
        if error.status >= 500:
            raise
        logger.info("document refused", extra={"code": error.code, "source_id": request.source_id})
        return {"problem": problem_of(error)}
    logger.info("document ready", extra={"key": stored.key, "size": stored.size})
    return {"document": stored.to_dict()}
