"""The sandbox gateway's ledger of charges (adapters/gateways/sandbox.py), one partition per
sandbox gateway: `{scope}#SANDBOX_LEDGER#{gateway_id}` / `CHARGE#{idempotency_key}`,
`REFUND#{idempotency_key}` and `NEXT#{payment method token}` (an outcome forced by a test
payment simulation), docs/data-model.md. A charge is kept with a conditional put, so two
calls with one key keep one charge, whichever comes first."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billow.adapters.dynamodb.table import DynamoTable, Transaction, TransactionCancelled
from billow.adapters.gateways.sandbox import ForcedOutcome, SandboxCharge, SandboxRefund
from billow.domain.money import Money
from billow.domain.payment import PaymentFailure
from billow.domain.tenancy import Scope
from billow.ports.gateways import ChargeOutcome


def _to_item(pk: str, charge: SandboxCharge) -> dict[str, Any]:
    outcome = charge.outcome
    return {
        "pk": pk,
        "sk": f"CHARGE#{charge.idempotency_key}",
        "kind": "sandbox_charge",
        "idempotency_key": charge.idempotency_key,
        "amount": str(charge.amount.amount),
        "currency": charge.amount.currency,
        "payment_method_token": charge.payment_method_token,
        "status": outcome.status,
        "reference": outcome.reference,
        "failure": outcome.failure.to_dict() if outcome.failure else None,
        "next_action_url": outcome.next_action_url,
    }


def _from_item(item: dict[str, Any]) -> SandboxCharge:
    failure = item.get("failure")
    return SandboxCharge(
        idempotency_key=str(item["idempotency_key"]),
        amount=Money(Decimal(str(item["amount"])), str(item["currency"])),
        payment_method_token=str(item["payment_method_token"]),
        outcome=ChargeOutcome(
            status=item["status"],
            reference=str(item["reference"]),
            failure=PaymentFailure.from_dict(failure) if failure else None,
            next_action_url=item.get("next_action_url"),
        ),
    )


class DynamoSandboxLedger:
    def __init__(self, table: DynamoTable, scope: Scope, gateway_id: str) -> None:
        self.table = table
        self.pk = f"{scope.key_prefix}#SANDBOX_LEDGER#{gateway_id}"

    def record(self, charge: SandboxCharge, forced: ForcedOutcome | None = None) -> SandboxCharge | None:
        """Keep the charge; with ``forced``, also use up that forced outcome in the same write.
        None when the forced outcome was used up meanwhile by another charge (decide again)."""
        write = Transaction()
        write.put("charge", self.table.name, _to_item(self.pk, charge), condition="attribute_not_exists(pk)")
        if forced is not None:
            write.delete(
                "forced",
                self.table.name,
                {"pk": self.pk, "sk": f"NEXT#{forced.payment_method_token}"},
                "forced_id = :id",
                ExpressionAttributeValues={":id": {"S": forced.id}},
            )
        try:
            self.table.write(write)
        except TransactionCancelled as cancelled:
            kept = self.table.get(self.pk, f"CHARGE#{charge.idempotency_key}", consistent=True)
            if kept is not None:
                return _from_item(kept)
            if "forced" in write.failed_labels(cancelled):
                return None
            raise  # pragma: no cover - the condition failed on an item that exists
        return charge

    def force_next(self, forced: ForcedOutcome) -> None:
        """The next charge of the payment method gets this outcome (replacing an earlier one)."""
        item = {
            "pk": self.pk,
            "sk": f"NEXT#{forced.payment_method_token}",
            "kind": "sandbox_forced_outcome",
            "forced_id": forced.id,
            "payment_method_token": forced.payment_method_token,
            "outcome": forced.outcome,
            "decline_code": forced.decline_code,
        }
        write = Transaction()
        write.put("forced", self.table.name, item)
        self.table.write(write)

    def forced(self, payment_method_token: str) -> ForcedOutcome | None:
        item = self.table.get(self.pk, f"NEXT#{payment_method_token}", consistent=True)
        if item is None:
            return None
        return ForcedOutcome(
            str(item["forced_id"]), payment_method_token, str(item["outcome"]), item.get("decline_code")
        )

    def record_refund(self, refund: SandboxRefund) -> SandboxRefund:
        item = {
            "pk": self.pk,
            "sk": f"REFUND#{refund.idempotency_key}",
            "kind": "sandbox_refund",
            "idempotency_key": refund.idempotency_key,
            "charge_reference": refund.charge_reference,
            "amount": str(refund.amount.amount),
            "currency": refund.amount.currency,
            "reference": refund.reference,
        }
        write = Transaction()
        write.put("refund", self.table.name, item, condition="attribute_not_exists(pk)")
        try:
            self.table.write(write)
        except TransactionCancelled:
            kept = self.table.get(self.pk, f"REFUND#{refund.idempotency_key}", consistent=True)
            if kept is None:  # pragma: no cover - the condition failed on an item that exists
                raise
            return SandboxRefund(
                str(kept["idempotency_key"]),
                str(kept["charge_reference"]),
                Money(Decimal(str(kept["amount"])), str(kept["currency"])),
                str(kept["reference"]),
            )
        return refund

    def refunds(self) -> list[SandboxRefund]:
        items = self.table.query(index=None, partition=self.pk, newest_first=False)
        return [
            SandboxRefund(
                str(i["idempotency_key"]),
                str(i["charge_reference"]),
                Money(Decimal(str(i["amount"])), str(i["currency"])),
                str(i["reference"]),
            )
            for i in items
            if str(i["sk"]).startswith("REFUND#")
        ]

    def charges(self) -> list[SandboxCharge]:
        items = self.table.query(index=None, partition=self.pk, newest_first=False)
        return [_from_item(item) for item in items if str(item["sk"]).startswith("CHARGE#")]
