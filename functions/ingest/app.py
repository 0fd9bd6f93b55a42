"""The ingest function: POST /v1/usage/events only, apart from the API function so a flood of
usage events never takes the API's concurrency (template.yaml routes the path here)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.adapters.aws import dynamodb_client
from billow.api.app import build_ingest
from billow.api.edge import logger, metrics

app = build_ingest(APIGatewayHttpResolver(enable_validation=True))
dynamodb_client()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
