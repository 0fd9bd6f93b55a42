"""Payments and refunds in the single table (docs/data-model.md).

- payment: an EntityStore of kind "payment", in its invoice's gsi2 partition
  (``{scope}#INVOICE#{invoice_id}#PAYMENTS`` / payment id) so an invoice's payments are one
  query; its external-id guard ``{gateway_id}:{gateway_reference}`` finds the payment a
  gateway webhook is about.
- refund: an EntityStore of kind "refund", in its payment's gsi2 partition, with the same kind
  of guard for the gateway's refund id.
- gateway event: ``{scope}#GATEWAY_EVENT#{gateway_id}#{event_id}`` put with
  ``attribute_not_exists`` in the transaction that applies the event, so a redelivered
  webhook changes nothing; expires after 30 days (gateways stop redelivering well before).

Everything a payment changes (the payment, its invoice, refunds, a credit note, the events)
is one transaction: ``stage`` adds the payment side to a transaction the invoice repository
writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from billow.adapters.dynamodb.entities import EntityKind, EntityStore, ItemFilter
from billow.adapters.dynamodb.table import DynamoTable, Transaction, without_keys
from billow.domain.payment import (
    Payment,
    Refund,
    payment_from_dict,
    payment_to_record,
    refund_from_dict,
    refund_to_record,
)
from billow.domain.tenancy import Scope
from billow.ports.repositories import Page, PageResult

GATEWAY_EVENT_RETENTION = timedelta(days=30)


def invoice_payments_partition(scope: Scope, invoice_id: str) -> str:
    return f"{scope.key_prefix}#INVOICE#{invoice_id}#PAYMENTS"


def payment_refunds_partition(scope: Scope, payment_id: str) -> str:
    return f"{scope.key_prefix}#PAYMENT#{payment_id}#REFUNDS"


def _gateway_ref(gateway_id: str | None, reference: str | None) -> str | None:
    return f"{gateway_id}:{reference}" if gateway_id and reference else None


PAYMENT = EntityKind[Payment](
    name="payment",
    to_dict=payment_to_record,
    from_dict=payment_from_dict,
    external_id_of=lambda p: _gateway_ref(p.gateway_id, p.gateway_reference),
    conflict_detail="another payment already has this gateway reference",
    index_of=lambda scope, p: {"gsi2pk": invoice_payments_partition(scope, p.invoice_id), "gsi2sk": p.id},
)
REFUND = EntityKind[Refund](
    name="refund",
    to_dict=refund_to_record,
    from_dict=refund_from_dict,
    external_id_of=lambda r: _gateway_ref(r.gateway_id, r.gateway_reference),
    conflict_detail="another refund already has this gateway reference",
    index_of=lambda scope, r: {"gsi2pk": payment_refunds_partition(scope, r.payment_id), "gsi2sk": r.id},
)


class DynamoPaymentRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table
        self.payments = EntityStore(table, PAYMENT)
        self.refunds = EntityStore(table, REFUND)

    # --- payments ---------------------------------------------------------------------------

    def get(self, scope: Scope, payment_id: str) -> Payment | None:
        return self.payments.get(scope, payment_id)

    def by_reference(self, scope: Scope, gateway_id: str, reference: str) -> Payment | None:
        return self.payments.get_by_external_id(scope, f"{gateway_id}:{reference}")

    def of_invoice(self, scope: Scope, invoice_id: str) -> Sequence[Payment]:
        """The invoice's payments, oldest first (an invoice has a few)."""
        items = self.table.query(
            index="gsi2", partition=invoice_payments_partition(scope, invoice_id), newest_first=False
        )
        return [payment_from_dict(without_keys(item)) for item in items]

    def list(
        self,
        scope: Scope,
        page: Page,
        *,
        invoice_id: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
    ) -> PageResult[Payment]:
        item_filter = (
            ItemFilter()
            .equals("invoice_id", invoice_id)
            .equals("customer_id", customer_id)
            .equals("status", status)
        )
        return self.payments.list(scope, page, item_filter)

    # --- refunds ------------------------------------------------------------------------------

    def get_refund(self, scope: Scope, refund_id: str) -> Refund | None:
        return self.refunds.get(scope, refund_id)

    def refund_by_reference(self, scope: Scope, gateway_id: str, reference: str) -> Refund | None:
        return self.refunds.get_by_external_id(scope, f"{gateway_id}:{reference}")

    def refunds_of(self, scope: Scope, payment_id: str) -> Sequence[Refund]:
        items = self.table.query(
            index="gsi2", partition=payment_refunds_partition(scope, payment_id), newest_first=False
        )
        return [refund_from_dict(without_keys(item)) for item in items]

    def list_refunds(
        self, scope: Scope, page: Page, *, payment_id: str | None = None, status: str | None = None
    ) -> PageResult[Refund]:
        return self.refunds.list(
            scope, page, ItemFilter().equals("payment_id", payment_id).equals("status", status)
        )

    # --- writing --------------------------------------------------------------------------------

    def stage(
        self,
        tx: Transaction,
        scope: Scope,
        *,
        payments: Sequence[tuple[Payment | None, Payment]] = (),
        refunds: Sequence[tuple[Refund | None, Refund]] = (),
        gateway_event: tuple[str, str] | None = None,
        at: str = "",
    ) -> None:
        """Add payments and refunds (under their read versions) and, for a gateway webhook,
        the marker that the event was applied, to a transaction."""
        self.payments.stage(tx, scope, payments)
        self.refunds.stage(tx, scope, refunds)
        if gateway_event is not None:
            gateway_id, event_id = gateway_event
            received = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            tx.put(
                "gateway_event",
                self.table.name,
                {
                    "pk": f"{scope.key_prefix}#GATEWAY_EVENT#{gateway_id}#{event_id}",
                    "sk": "GATEWAY_EVENT",
                    "kind": "gateway_event",
                    "received_at": at,
                    "expires_at": int((received + GATEWAY_EVENT_RETENTION).timestamp()),
                },
                "attribute_not_exists(pk)",
            )

    def event_seen(self, scope: Scope, gateway_id: str, event_id: str) -> bool:
        key = f"{scope.key_prefix}#GATEWAY_EVENT#{gateway_id}#{event_id}"
        return self.table.get(key, "GATEWAY_EVENT", consistent=True) is not None
