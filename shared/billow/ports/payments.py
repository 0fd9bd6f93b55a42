"""The payment-collection port: what happens to a finalized invoice that still has money to
collect, and to the money a credit note refunds. Gateways (Stripe, GoCardless, the sandbox)
fill it in the payments issue; until then invoices wait for payment (adapters/payments.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from billow.domain.credit_note import CreditNote
    from billow.domain.invoice import Invoice
    from billow.domain.money import Money
    from billow.domain.tenancy import Scope


@dataclass(frozen=True)
class Handover:
    outcome: Literal["charge_started", "awaiting_payment"]
    detail: str


class PaymentCollection(Protocol):
    def collect(self, scope: Scope, invoice: Invoice, at: str | None = None) -> Handover:
        """Start collecting the invoice's remaining amount. Called at least once per finalized
        invoice; the invoice id is the idempotency key, so a second call charges nothing."""
        ...

    def refund(self, scope: Scope, invoice: Invoice, note: CreditNote, amount: Money) -> None:
        """Send back ``amount`` of what was paid on the invoice, for the credit note."""
        ...
