"""The webhook fan-out function: reads events the bus delivered to its SQS queue and hands
each to the endpoints that want it (services/webhook_delivery.py). An event whose predecessor
of the same aggregate has not gone yet is reported as a batch item failure, so SQS redelivers
it later; the others of the batch are done."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.adapters.aws import sqs_client
from billow.api.container import container
from billow.settings import get_settings

logger = Logger(service="billow")
# How long an early event waits before it is looked at again.
HOLD_BACK_SECONDS = 5


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = list(event.get("Records") or ())
    details = [
        (json.loads(r["body"]) if isinstance(r["body"], str) else r["body"])["detail"] for r in records
    ]
    failures = []
    for index in container().webhook_fanout.fan_out_batch(details):
        record = records[index]
        failures.append({"itemIdentifier": record["messageId"]})
        sqs_client().change_message_visibility(
            QueueUrl=get_settings().webhook_events_queue_url,
            ReceiptHandle=record["receiptHandle"],
            VisibilityTimeout=HOLD_BACK_SECONDS,
        )
    return {"batchItemFailures": failures}
