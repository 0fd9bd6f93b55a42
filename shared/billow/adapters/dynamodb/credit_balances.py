"""A customer's credit balance per currency, and its ledger, beside the customer item.

- balance: pk = {scope}#CUSTOMER#{customer_id}   sk = CREDIT#{currency}     (``balance`` number)
- entry:   pk = {scope}#CUSTOMER#{customer_id}   sk = CREDIT_TX#{entry_id}
DynamoDB numbers are exact decimals, so ``ADD`` keeps the balance to the cent; the entry and
the balance change are written in the transaction that causes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from billow.adapters.dynamodb.table import DynamoTable, Transaction, take_page
from billow.domain.money import Money
from billow.domain.tenancy import Scope
from billow.ports.repositories import CreditEntry, Page, PageResult


def _pk(scope: Scope, customer_id: str) -> str:
    return f"{scope.key_prefix}#CUSTOMER#{customer_id}"


def stage_credits(tx: Transaction, table: str, scope: Scope, credits: Sequence[CreditEntry]) -> None:
    """The balance changes and their ledger entries: one balance update per customer and
    currency (a transaction touches an item once) and one entry per credit. A net debit is
    conditional on the balance covering it, so the balance never goes below zero."""
    totals: dict[tuple[str, str], Decimal] = {}
    for credit in credits:
        key = (credit.customer_id, credit.amount.currency)
        totals[key] = totals.get(key, Decimal(0)) + credit.amount.amount
    for (customer_id, currency), amount in totals.items():
        if amount != 0:
            _stage_balance(tx, table, scope, customer_id, Money(amount, currency))
    for credit in credits:
        tx.put(
            "credit_entry",
            table,
            {
                "pk": _pk(scope, credit.customer_id),
                "sk": f"CREDIT_TX#{credit.id}",
                "kind": "credit_entry",
                "id": credit.id,
                "customer_id": credit.customer_id,
                "amount": str(credit.amount.amount),
                "currency": credit.amount.currency,
                "reason": credit.reason,
                "subscription_id": credit.subscription_id,
                "invoice_id": credit.invoice_id,
                "created_at": credit.created_at,
            },
            "attribute_not_exists(pk)",
        )


def _stage_balance(tx: Transaction, table: str, scope: Scope, customer_id: str, amount: Money) -> None:
    values: dict[str, object] = {
        ":amount": amount.amount,
        ":kind": "credit_balance",
        ":currency": amount.currency,
        ":customer": customer_id,
    }
    extra: dict[str, object] = {}
    if amount.amount < 0:
        values[":needed"] = -amount.amount
        extra["ConditionExpression"] = "#balance >= :needed"
    tx.update(
        f"credit_balance:{customer_id}:{amount.currency}",
        table,
        {"pk": _pk(scope, customer_id), "sk": f"CREDIT#{amount.currency}"},
        "ADD #balance :amount SET #kind = :kind, #currency = :currency, #customer = :customer",
        values,
        ExpressionAttributeNames={
            "#balance": "balance",
            "#kind": "kind",
            "#currency": "currency",
            "#customer": "customer_id",
        },
        **extra,
    )


def _entry(item: dict[str, Any]) -> CreditEntry:
    return CreditEntry(
        id=item["id"],
        customer_id=item["customer_id"],
        amount=Money(Decimal(item["amount"]), item["currency"]),
        reason=item["reason"],
        created_at=item["created_at"],
        subscription_id=item.get("subscription_id"),
        invoice_id=item.get("invoice_id"),
    )


class DynamoCreditBalanceRepository:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def balances(self, scope: Scope, customer_id: str) -> list[Money]:
        items = self.table.query(
            index=None, partition=_pk(scope, customer_id), newest_first=False, sort_prefix="CREDIT#"
        )
        return [Money(Decimal(str(item["balance"])), item["currency"]) for item in items]

    def balance(self, scope: Scope, customer_id: str, currency: str) -> Money:
        item = self.table.get(_pk(scope, customer_id), f"CREDIT#{currency}", consistent=True)
        return Money(Decimal(str(item["balance"])) if item else Decimal(0), currency)

    def entries(self, scope: Scope, customer_id: str, page: Page) -> PageResult[CreditEntry]:
        items = self.table.query(
            index=None,
            partition=_pk(scope, customer_id),
            sort_prefix="CREDIT_TX#",
            start=page.after,
            page_size=page.limit + 1,
        )
        found, position = take_page(items, page.limit, None)
        return PageResult(items=[_entry(item) for item in found], next_position=position)
