"""The outbox: event items not yet published carry a sparse gsi2 entry OUTBOX#{shard}."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from billow.adapters.dynamodb.table import OUTBOX_SHARDS, DynamoTable, to_item


class DynamoOutbox:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def pending(self, limit_per_shard: int = 100) -> list[dict[str, Any]]:
        """Unpublished event items, oldest first within each shard."""
        found: list[dict[str, Any]] = []
        for shard in range(OUTBOX_SHARDS):
            items = self.table.query(index="gsi2", partition=f"OUTBOX#{shard}", newest_first=False)
            for count, item in enumerate(items):
                if count >= limit_per_shard:
                    break
                found.append(item)
        return found

    def mark_published(self, pk: str, published_at: str) -> None:
        try:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=to_item({"pk": pk, "sk": "EVENT"}),
                UpdateExpression="REMOVE gsi2pk, gsi2sk SET published_at = :at",
                ConditionExpression="attribute_exists(gsi2pk)",
                ExpressionAttributeValues=to_item({":at": published_at}),
            )
        except ClientError as error:
            # Already marked by the other path (stream or sweep): nothing left to do.
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
