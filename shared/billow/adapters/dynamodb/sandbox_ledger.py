"""The sandbox gateway's ledger of charges (adapters/gateways/sandbox.py), one partition per
sandbox gateway: `{scope}#SANDBOX_LEDGER#{gateway_id}` / `CHARGE#{idempotency_key}`
(docs/data-model.md). A charge is kept with a conditional put, so two calls with one key keep
one charge, whichever comes first."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billow.adapters.dynamodb.table import DynamoTable, Transaction, TransactionCancelled
from billow.adapters.gateways.sandbox import SandboxCharge
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
            failure=PaymentFailure(str(failure["code"]), str(failure["message"]), failure.get("decline_code"))
            if failure
            else None,
            next_action_url=item.get("next_action_url"),
        ),
    )


class DynamoSandboxLedger:
    def __init__(self, table: DynamoTable, scope: Scope, gateway_id: str) -> None:
        self.table = table
        self.pk = f"{scope.key_prefix}#SANDBOX_LEDGER#{gateway_id}"

    def record(self, charge: SandboxCharge) -> SandboxCharge:
        write = Transaction()
        write.put("charge", self.table.name, _to_item(self.pk, charge), condition="attribute_not_exists(pk)")
        try:
            self.table.write(write)
        except TransactionCancelled:
            kept = self.table.get(self.pk, f"CHARGE#{charge.idempotency_key}", consistent=True)
            if kept is None:  # pragma: no cover - the condition failed on an item that exists
                raise
            return _from_item(kept)
        return charge

    def charges(self) -> list[SandboxCharge]:
        return [
            _from_item(item) for item in self.table.query(index=None, partition=self.pk, newest_first=False)
        ]
