"""The outbox relay: moves committed events to the EventBridge bus.

Two triggers, one code path: the table's stream (new event items, within seconds) and a
schedule that sweeps up whatever the stream path missed. The local stack runs both.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from billow.adapters.aws import dynamodb_client, events_client
from billow.adapters.dynamodb.outbox import DynamoOutbox
from billow.adapters.dynamodb.table import DynamoTable, from_item
from billow.adapters.eventbridge import EventBridgePublisher
from billow.adapters.system import SystemClock
from billow.services.outbox import OutboxRelay
from billow.settings import get_settings

logger = Logger(service="billow")


def _relay() -> OutboxRelay:
    settings = get_settings()
    return OutboxRelay(
        outbox=DynamoOutbox(DynamoTable(dynamodb_client(), settings.table_name)),
        publisher=EventBridgePublisher(events_client(), settings.event_bus_name),
        clock=SystemClock(),
        sweep_min_age=timedelta(seconds=settings.outbox_sweep_min_age_seconds),
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    relay = _relay()
    records = event.get("Records")
    if records is None:
        result = relay.sweep()
        if result.published or result.failed:
            logger.info("outbox sweep", extra={"published": result.published, "failed": len(result.failed)})
        return {"published": result.published, "failed": result.failed}
    items, sequence_numbers = [], {}
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage")
        if record.get("eventName") != "INSERT" or not image:
            continue
        item = from_item(image)
        if item.get("kind") != "event":
            continue
        items.append(item)
        sequence_numbers[item["envelope"]["id"]] = record["dynamodb"]["SequenceNumber"]
    result = relay.publish_items(items)
    # Partial batch response: only failed records are retried by the stream.
    return {"batchItemFailures": [{"itemIdentifier": sequence_numbers[i]} for i in result.failed]}
