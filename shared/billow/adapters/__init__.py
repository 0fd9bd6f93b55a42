"""Implementations of the ports: DynamoDB, EventBridge, the system clock."""
