"""Outbound webhooks: the HTTP delivery of one signed message to a tenant's endpoint."""

from billow.adapters.webhooks.http_sender import DeliveryResult, deliver

__all__ = ["DeliveryResult", "deliver"]
