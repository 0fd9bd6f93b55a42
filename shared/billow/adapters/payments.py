"""The payment-collection port (ports/payments.py) as the billing cycle and invoicing see it.

The payments service collects invoices (services/payments.py), but it is built on the invoice
service, which needs a collection port first: ``DeferredCollection`` resolves the payments
service on first use, which also keeps the gateway code out of paths that never collect.
Refund credit notes send their money through the refunds service, not through this port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from billow.domain.credit_note import CreditNote
from billow.domain.errors import validation_failed
from billow.domain.invoice import Invoice
from billow.domain.money import Money
from billow.domain.tenancy import Scope
from billow.ports.payments import Handover


class Collector(Protocol):
    def collect(self, scope: Scope, invoice: Invoice, at: str | None = None) -> Handover: ...


class DeferredCollection:
    def __init__(self, resolve: Callable[[], Collector]) -> None:
        self.resolve = resolve

    def collect(self, scope: Scope, invoice: Invoice, at: str | None = None) -> Handover:
        return self.resolve().collect(scope, invoice, at)

    def refund(self, scope: Scope, invoice: Invoice, note: CreditNote, amount: Money) -> None:
        raise validation_failed("/outcome", "refunds are sent by the refunds service")
