"""Persistence ports. Every method takes the scope: nothing can read across tenants.

The query value objects (pages, filters) live in ``ports.queries`` and are re-exported here;
the routers import them from there, so the API's cold start never builds these protocols."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from billow.ports.queries import (
    CustomerFilter,
    InvoiceFilter,
    MeterFilter,
    Page,
    PageResult,
    PriceFilter,
    ProductFilter,
    SubscriptionFilter,
    UsageAlertFilter,
)

if TYPE_CHECKING:
    # Annotations only: importing a port must not load every aggregate (cold start).
    from billow.domain.credit_note import CreditNote
    from billow.domain.custom_fields import CustomFieldDefinition
    from billow.domain.customer import Customer
    from billow.domain.events import EventEnvelope
    from billow.domain.gateway import GatewayConfig
    from billow.domain.invoice import Invoice
    from billow.domain.meter import Meter
    from billow.domain.money import Money
    from billow.domain.payment import Payment, Refund
    from billow.domain.payment_method import PaymentMethod
    from billow.domain.plan import Plan
    from billow.domain.price import Price
    from billow.domain.price_override import PriceOverride
    from billow.domain.product import Product
    from billow.domain.subscription import Subscription
    from billow.domain.tenancy import ApiKey, Scope, Tenant
    from billow.domain.test_clock import TestClock
    from billow.domain.usage_alert import UsageAlert


T = TypeVar("T")


class CustomerRepository(Protocol):
    def get(self, scope: Scope, customer_id: str) -> Customer | None: ...

    def get_by_external_id(self, scope: Scope, external_id: str) -> Customer | None: ...

    def list(self, scope: Scope, filters: CustomerFilter, page: Page) -> PageResult[Customer]: ...

    def add(self, scope: Scope, customer: Customer, events: Sequence[EventEnvelope]) -> None:
        """Insert; raises Conflict if the external_id is taken."""
        ...

    def update(
        self,
        scope: Scope,
        before: Customer,
        after: Customer,
        events: Sequence[EventEnvelope],
    ) -> None:
        """Replace ``before`` by ``after`` only if the stored version is still ``before.version``.

        Raises ConcurrentModification when it is not, Conflict when the new external_id is taken.
        """
        ...

    def update_many(
        self, scope: Scope, changes: Sequence[tuple[Customer, Customer]], events: Sequence[EventEnvelope]
    ) -> None:
        """Several customers at once, all or nothing (merge)."""
        ...


class ProductRepository(Protocol):
    def get(self, scope: Scope, product_id: str) -> Product | None: ...

    def get_by_external_id(self, scope: Scope, external_id: str) -> Product | None: ...

    def list(self, scope: Scope, filters: ProductFilter, page: Page) -> PageResult[Product]: ...

    def save(
        self, scope: Scope, before: Product | None, after: Product, events: Sequence[EventEnvelope]
    ) -> None:
        """Insert (before None) or replace under before's version, with the events, at once.

        Raises ConcurrentModification on a lost race, Conflict when the external_id is taken.
        """
        ...


class GatewayRepository(Protocol):
    def get(self, scope: Scope, gateway_id: str) -> GatewayConfig | None: ...

    def scope_of(self, gateway_id: str) -> Scope | None:
        """The tenant and mode of a gateway from its id alone (inbound webhooks)."""
        ...

    def list(self, scope: Scope, page: Page, provider: str | None = None) -> PageResult[GatewayConfig]: ...

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[GatewayConfig | None, GatewayConfig]],
        events: Sequence[EventEnvelope],
    ) -> None:
        """Insert or replace each gateway under its read version, with the events, at once."""
        ...


class PaymentRepository(Protocol):
    def get(self, scope: Scope, payment_id: str) -> Payment | None: ...

    def by_reference(self, scope: Scope, gateway_id: str, reference: str) -> Payment | None: ...

    def of_invoice(self, scope: Scope, invoice_id: str) -> Sequence[Payment]: ...

    def list(
        self,
        scope: Scope,
        page: Page,
        *,
        invoice_id: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
    ) -> PageResult[Payment]: ...

    def get_refund(self, scope: Scope, refund_id: str) -> Refund | None: ...

    def refund_by_reference(self, scope: Scope, gateway_id: str, reference: str) -> Refund | None: ...

    def refunds_of(self, scope: Scope, payment_id: str) -> Sequence[Refund]: ...

    def list_refunds(
        self, scope: Scope, page: Page, *, payment_id: str | None = None, status: str | None = None
    ) -> PageResult[Refund]: ...

    def stage(
        self,
        tx: Any,
        scope: Scope,
        *,
        payments: Sequence[tuple[Payment | None, Payment]] = (),
        refunds: Sequence[tuple[Refund | None, Refund]] = (),
        gateway_event: tuple[str, str] | None = None,
        at: str = "",
    ) -> None:
        """Add these writes to a transaction another repository commits (``also``)."""
        ...


class PaymentMethodRepository(Protocol):
    def get(self, scope: Scope, method_id: str) -> PaymentMethod | None: ...

    def list(self, scope: Scope, page: Page, status: str | None = None) -> PageResult[PaymentMethod]: ...

    def of_customer(self, scope: Scope, customer_id: str) -> Sequence[PaymentMethod]: ...

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[PaymentMethod | None, PaymentMethod]],
        events: Sequence[EventEnvelope],
    ) -> None: ...


class MeterRepository(Protocol):
    def get(self, scope: Scope, meter_id: str) -> Meter | None: ...

    def get_by_code(self, scope: Scope, code: str) -> Meter | None: ...

    def list(self, scope: Scope, filters: MeterFilter, page: Page) -> PageResult[Meter]: ...

    def save(self, scope: Scope, before: Meter | None, after: Meter, events: Sequence[EventEnvelope]) -> None:
        """Insert (before None) or replace under before's version, with the events, at once.

        Raises ConcurrentModification on a lost race, Conflict when the code is taken.
        """
        ...


class UsageAlertRepository(Protocol):
    def get(self, scope: Scope, alert_id: str) -> UsageAlert | None: ...

    def list(self, scope: Scope, filters: UsageAlertFilter, page: Page) -> PageResult[UsageAlert]: ...

    def for_subscription(self, scope: Scope, subscription_id: str) -> Sequence[UsageAlert]: ...

    def save(
        self, scope: Scope, before: UsageAlert | None, after: UsageAlert, events: Sequence[EventEnvelope]
    ) -> None: ...


class PriceRepository(Protocol):
    def get(self, scope: Scope, price_id: str) -> Price | None: ...

    def list(self, scope: Scope, filters: PriceFilter, page: Page) -> PageResult[Price]: ...

    def save(
        self, scope: Scope, before: Price | None, after: Price, events: Sequence[EventEnvelope]
    ) -> None: ...


class PlanRepository(Protocol):
    def get(self, scope: Scope, plan_id: str) -> Plan | None: ...

    def list(self, scope: Scope, status: str | None, page: Page) -> PageResult[Plan]: ...

    def save(
        self, scope: Scope, before: Plan | None, after: Plan, events: Sequence[EventEnvelope]
    ) -> None: ...


class PriceOverrideRepository(Protocol):
    def get(self, scope: Scope, override_id: str) -> PriceOverride | None: ...

    def active_for(
        self, scope: Scope, customer_id: str, product_id: str, currency: str
    ) -> PriceOverride | None: ...

    def list(
        self, scope: Scope, customer_id: str | None, product_id: str | None, status: str | None, page: Page
    ) -> PageResult[PriceOverride]: ...

    def save(
        self,
        scope: Scope,
        before: PriceOverride | None,
        after: PriceOverride,
        events: Sequence[EventEnvelope],
    ) -> None:
        """Raises Conflict when another override is active for the same customer, product and currency."""
        ...


class CustomFieldRepository(Protocol):
    def get(self, scope: Scope, field_id: str) -> CustomFieldDefinition | None: ...

    def list(self, scope: Scope, entity_type: str | None = None) -> list[CustomFieldDefinition]: ...

    def add(self, scope: Scope, definition: CustomFieldDefinition) -> None:
        """Insert; raises Conflict if the key is taken for that entity type."""
        ...

    def update(self, scope: Scope, before: CustomFieldDefinition, after: CustomFieldDefinition) -> None: ...


class TenantRepository(Protocol):
    def get(self, tenant_id: str) -> Tenant | None: ...

    def add(self, tenant: Tenant) -> None: ...

    def save(self, before: Tenant, after: Tenant) -> None:
        """Under the read version; ConcurrentModification when it moved."""
        ...


class ApiKeyRepository(Protocol):
    def get_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def list_for_tenant(self, tenant_id: str) -> list[ApiKey]: ...

    def add(self, key: ApiKey) -> None: ...

    def save(self, key: ApiKey) -> None: ...


@dataclass(frozen=True)
class CreditEntry:
    """A movement on a customer's credit balance: positive gives the customer credit."""

    id: str
    customer_id: str
    amount: Money
    reason: str
    created_at: str
    subscription_id: str | None = None
    invoice_id: str | None = None


@dataclass(frozen=True)
class DueEntry:
    """A subscription with a step due at ``due_at`` (from the due-time index)."""

    scope: Scope
    subscription_id: str
    due_at: str


class SubscriptionRepository(Protocol):
    def get(self, scope: Scope, subscription_id: str) -> Subscription | None: ...

    def list(self, scope: Scope, filters: SubscriptionFilter, page: Page) -> PageResult[Subscription]: ...

    def save(
        self,
        scope: Scope,
        before: Subscription | None,
        after: Subscription,
        events: Sequence[EventEnvelope],
        *,
        invoices: Sequence[Invoice] = (),
        credits: Sequence[CreditEntry] = (),
    ) -> None:
        """One transaction: the subscription under its read version, the invoices it produced
        (each unique per subscription, reason and period), the credit balance movements and
        the events. Raises ConcurrentModification when any condition fails."""
        ...

    def due(self, before: str, *, clock: tuple[Scope, str] | None, limit: int) -> Sequence[DueEntry]:
        """Subscriptions with a step due before ``before``, earliest first: those in real time,
        or those bound to one test clock."""
        ...


@dataclass(frozen=True)
class InvoiceWork:
    """An invoice with work due at ``at``: a draft to finalize or an invoice to collect."""

    scope: Scope
    invoice_id: str
    at: str
    action: str  # finalize, collect or dunning


class InvoiceRepository(Protocol):
    def get(self, scope: Scope, invoice_id: str) -> Invoice | None: ...

    def get_many(self, scope: Scope, invoice_ids: Collection[str]) -> Sequence[Invoice]:
        """The invoices that exist among the ids, in no particular order."""
        ...

    def list(self, scope: Scope, filters: InvoiceFilter, page: Page) -> PageResult[Invoice]: ...

    def tax_documents_between(
        self, scope: Scope, start: datetime, end: datetime
    ) -> Iterator[Invoice | CreditNote]:
        """The documents the tax report may count whose tax point lies in [start, end): the
        finalized, paid and uncollectible invoices by ``finalized_at``, the credit notes by
        ``created_at``; in no promised order."""
        ...

    def get_credit_note(self, scope: Scope, note_id: str) -> CreditNote | None: ...

    def list_credit_notes(
        self, scope: Scope, invoice_id: str | None, customer_id: str | None, page: Page
    ) -> PageResult[CreditNote]: ...

    def last_number(self, scope: Scope, sequence: str) -> int:
        """The last number the tenant's sequence gave (0: none yet), read consistently."""
        ...

    def work_due(self, before: str, *, clock: tuple[Scope, str] | None, limit: int) -> Sequence[InvoiceWork]:
        """Invoices with work due before ``before``, earliest first (real time or one clock)."""
        ...

    def save(
        self,
        scope: Scope,
        changes: Sequence[tuple[Invoice | None, Invoice]],
        events: Sequence[EventEnvelope],
        *,
        credits: Sequence[CreditEntry] = (),
        numbered: tuple[str, int, int] | None = None,
        credit_notes: Sequence[CreditNote] = (),
        also: Callable[[Any], None] | None = None,
    ) -> None:
        """One transaction; ``numbered`` = (sequence, last read, new last) moves the counter,
        which fails the whole write if another writer moved it first; ``also`` adds other
        aggregates' writes (payments, refunds) to the same transaction. Raises
        ConcurrentModification when any condition fails, AlreadyApplied when a gateway event
        it records was recorded before."""
        ...


class CreditBalanceRepository(Protocol):
    def balances(self, scope: Scope, customer_id: str) -> list[Money]: ...

    def balance(self, scope: Scope, customer_id: str, currency: str) -> Money: ...

    def entries(self, scope: Scope, customer_id: str, page: Page) -> PageResult[CreditEntry]: ...


class TestClockRepository(Protocol):
    def get(self, scope: Scope, clock_id: str) -> TestClock | None: ...

    def list(self, scope: Scope, page: Page) -> PageResult[TestClock]: ...

    def save(
        self, scope: Scope, before: TestClock | None, after: TestClock, events: Sequence[EventEnvelope]
    ) -> None: ...


__all__ = [
    "CustomerFilter",
    "InvoiceFilter",
    "MeterFilter",
    "Page",
    "PageResult",
    "PriceFilter",
    "ProductFilter",
    "SubscriptionFilter",
    "UsageAlertFilter",
]
