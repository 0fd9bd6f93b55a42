"""Publishing event envelopes to the EventBridge bus."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "billow"
BATCH = 10  # PutEvents takes at most 10 entries


def plain_json(value: Any) -> Any:
    # DynamoDB hands numbers back as Decimal: sequences are integers on the wire.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> set[str]:
        """Publish; return the ids of the envelopes that EventBridge did not take."""
        failed: set[str] = set()
        for start in range(0, len(envelopes), BATCH):
            batch = envelopes[start : start + BATCH]
            response = self.client.put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": envelope["type"],
                        "Detail": json.dumps(envelope, separators=(",", ":"), default=plain_json),
                        "EventBusName": self.bus_name,
                        "Resources": [],
                    }
                    for envelope in batch
                ]
            )
            for envelope, entry in zip(batch, response.get("Entries", []), strict=False):
                if entry.get("ErrorCode"):
                    failed.add(envelope["id"])
        return failed
