"""The API function: every /v1 route, behind the HTTP API."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.adapters.aws import dynamodb_client
from billow.api.app import build_api
from billow.api.edge import logger, metrics

app = build_api(APIGatewayHttpResolver(enable_validation=True))
# Built during init (which Lambda runs with a full CPU), not on the first request.
dynamodb_client()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
