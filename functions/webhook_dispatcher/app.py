"""The webhook dispatcher function: sends the deliveries of its SQS FIFO queue, in order per
message group (endpoint and aggregate). A delivery to retry stays in the queue, invisible for
its backoff, and so does every later message of its group in the batch: order is kept."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.adapters.aws import sqs_client
from billow.api.container import container
from billow.domain.tenancy import Scope
from billow.settings import get_settings

logger = Logger(service="billow")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dispatcher = container().webhook_dispatcher
    failures: list[dict[str, str]] = []
    held: set[str] = set()
    for record in event.get("Records") or ():
        group = str((record.get("attributes") or {}).get("MessageGroupId") or "")
        if group and group in held:
            # An earlier delivery of this group waits for its retry: this one goes back behind
            # it at once. Left to the queue's visibility timeout (minutes), it would hold the
            # whole group that long, whatever the retry's own wait.
            failures.append({"itemIdentifier": record["messageId"]})
            _visible_in(record, 0)
            continue
        body = record["body"]
        message = json.loads(body) if isinstance(body, str) else body
        scope = Scope(str(message["tenant_id"]), bool(message["livemode"]))
        outcome = dispatcher.dispatch(scope, str(message["delivery_id"]))
        if outcome.outcome == "retry":
            held.add(group)
            failures.append({"itemIdentifier": record["messageId"]})
            _visible_in(record, min(int(outcome.retry_in_seconds or 0), 43_200))
    return {"batchItemFailures": failures}


def _visible_in(record: dict[str, Any], seconds: int) -> None:
    sqs_client().change_message_visibility(
        QueueUrl=get_settings().webhook_deliveries_queue_url,
        ReceiptHandle=record["receiptHandle"],
        VisibilityTimeout=seconds,
    )
