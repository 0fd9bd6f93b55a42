"""The single-table DynamoDB design; docs/data-model.md lists every key and access pattern."""
