"""Invoice use cases: one-off drafts and their lines, refresh, finalize (alone or in batches
from the billing cycle), void, mark uncollectible, and the hand-over to payment collection.

Finalization is where money becomes final (docs/invoicing.md): the tax port's rates are
pinned, the customer's credit balance is applied, the tenant's gap-free sequence gives the
number, and all of it is written in one transaction with the events. A batch takes several
consecutive numbers in that one transaction, so the billing cycle finalizes thousands of
invoices without contending on the counter, and a failed batch leaves no gap.

A subscription's draft for a customer billed in another currency than the prices is converted
when it is prepared, at a provisional rate, and again at finalization from the lines' source
amounts at the rate pinned then (docs/fx.md); a finalization without a rate fails (422
``fx_rate_unavailable``), or, for the billing cycle, leaves the draft for a later run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from billow.domain.customer import Customer
from billow.domain.errors import (
    ConcurrentModification,
    Conflict,
    FieldError,
    InvalidStateTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    validation_failed,
)
from billow.domain.events import EventEnvelope
from billow.domain.fx import FxRateUnavailable, PinnedRate
from billow.domain.invoice import MAX_LINES, Invoice, InvoiceLine, fx_period_end, invoice_to_dict
from billow.domain.metadata import merge_metadata
from billow.domain.money import Money, parse_currency, parse_decimal
from billow.domain.numbering import format_number
from billow.domain.periods import local_date
from billow.domain.subscription import format_time, parse_time
from billow.domain.tax_profile import SellerTaxProfile
from billow.domain.tenancy import InvoiceSettings, Scope, Tenant
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.payments import Handover, PaymentCollection
from billow.ports.queries import InvoiceFilter, Page, PageResult
from billow.ports.repositories import (
    CreditBalanceRepository,
    CreditEntry,
    CustomerRepository,
    InvoiceRepository,
    TenantRepository,
    TestClockRepository,
)
from billow.ports.tax import TaxCalculator
from billow.services.concurrency import MAX_ATTEMPTS, read_decide_write, require_version
from billow.services.events import change_event

logger = Logger(service="billow")

INVOICE_SEQUENCE = "invoice"
# Invoices numbered per transaction: each brings its own put, events and credit movements,
# and a transaction holds at most 100 items.
FINALIZE_BATCH = 12
# Finalizations racing for the same counter retry on a fresh read; each retry waits a little
# longer so a crowd of them spreads out instead of colliding again.
FINALIZE_ATTEMPTS = 60


class InvoiceRates(Protocol):
    """The exchange rates invoices are converted at (services/fx.py's FxService)."""

    def pin(
        self,
        scope: Scope,
        base_currency: str,
        quote_currency: str,
        on: date,
        policy_id: str | None = None,
        *,
        period_end: date | None = None,
    ) -> PinnedRate: ...

    def provisional(
        self,
        scope: Scope,
        base_currency: str,
        quote_currency: str,
        on: date,
        *,
        period_end: date | None = None,
    ) -> PinnedRate: ...


@dataclass
class InvoiceService:
    invoices: InvoiceRepository
    customers: CustomerRepository
    tenants: TenantRepository
    balances: CreditBalanceRepository
    clocks: TestClockRepository
    tax: TaxCalculator
    collection: PaymentCollection
    clock: Clock
    new_id: IdGenerator
    # The VAT in the seller's national currency, pinned at finalization (services/tax_currency.py).
    tax_currency: Callable[[Scope, Invoice, date, SellerTaxProfile | None], dict[str, str] | None] | None = (
        None
    )
    # Converts the drafts of customers billed in another currency than the prices (docs/fx.md).
    fx: InvoiceRates | None = None

    # --- time and settings ------------------------------------------------------------------

    def now_for(self, scope: Scope, test_clock_id: str | None) -> datetime:
        """Real time, or the frozen time of the invoice's test clock."""
        if test_clock_id is None:
            return self.clock.now()
        clock = self.clocks.get(scope, test_clock_id)
        if clock is None:  # pragma: no cover - clocks are never deleted
            raise NotFound(detail=f"no test clock with id {test_clock_id}")
        return parse_time(clock.frozen_time)

    def tenant(self, scope: Scope) -> Tenant:
        tenant = self.tenants.get(scope.tenant_id)
        if tenant is None:  # pragma: no cover - a scope always has its tenant
            raise NotFound(detail="unknown tenant")
        return tenant

    def settings(self, scope: Scope) -> InvoiceSettings:
        return self.tenant(scope).invoicing

    # --- reading ------------------------------------------------------------------------------

    def get(self, scope: Scope, invoice_id: str) -> Invoice:
        invoice = self.invoices.get(scope, invoice_id)
        if invoice is None:
            raise NotFound(detail=f"no invoice with id {invoice_id}")
        return invoice

    def list(self, scope: Scope, filters: InvoiceFilter, page: Page) -> PageResult[Invoice]:
        return self.invoices.list(scope, filters, page)

    # --- drafts ---------------------------------------------------------------------------------

    def prepare_draft(
        self, scope: Scope, invoice: Invoice, settings: InvoiceSettings, timezone: str | None = None
    ) -> Invoice:
        """An automatic draft as the billing cycle stores it: taxed (on its own date in the
        tenant's ``timezone``), with its payment terms and the moment its grace period ends.
        The customer is read once, for its billing currency and its taxes."""
        finalize_at = format_time(
            parse_time(invoice.created_at) + timedelta(days=settings.invoice_grace_period_days)
        )
        terms = invoice.payment_terms_days or settings.payment_terms_days
        drafted = replace(invoice, finalize_at=finalize_at, payment_terms_days=terms, auto_advance=True)
        timezone = timezone or self.tenant(scope).timezone
        customer = self.customers.get(scope, invoice.customer_id)
        converted = self.in_billing_currency(scope, drafted, customer=customer, timezone=timezone)
        on = local_date(parse_time(invoice.created_at), timezone)
        return self._taxed(scope, converted, on, customer=customer)

    def in_billing_currency(
        self,
        scope: Scope,
        invoice: Invoice,
        *,
        customer: Customer | None = None,
        timezone: str | None = None,
    ) -> Invoice:
        """A subscription's invoice (priced in the subscription's currency) in the currency its
        customer is billed in, converted at the provisional rate of its date; unchanged when the
        customer has no currency or the prices' own. Raises FxRateUnavailable (422) when the
        pair has no rate at all."""
        if self.fx is None or invoice.source_currency is not None:
            return invoice
        if customer is None:
            customer = self.customers.get(scope, invoice.customer_id)
        billed_in = customer.currency if customer is not None else None
        if billed_in is None or billed_in == invoice.currency:
            return invoice
        timezone = timezone or self.tenant(scope).timezone
        on = local_date(parse_time(invoice.created_at), timezone)
        rate = self.provisional_rate(
            scope, invoice.currency, billed_in, on, period_end=fx_period_end(invoice.period_end, timezone, on)
        )
        return invoice.converted(rate)

    def provisional_rate(
        self,
        scope: Scope,
        base_currency: str,
        quote_currency: str,
        on: date,
        *,
        period_end: date | None = None,
    ) -> PinnedRate:
        """The rate a draft is converted at until finalization pins one (FxService.provisional)."""
        return self._rates(base_currency, quote_currency).provisional(
            scope, base_currency, quote_currency, on, period_end=period_end
        )

    def _rates(self, base_currency: str, quote_currency: str) -> InvoiceRates:
        if self.fx is None:
            raise FxRateUnavailable(
                detail=f"no exchange rates configured: {base_currency} cannot be billed in {quote_currency}"
            )
        return self.fx

    def _taxed(
        self,
        scope: Scope,
        invoice: Invoice,
        on: date | None = None,
        tax: TaxCalculator | None = None,
        customer: Customer | None = None,
    ) -> Invoice:
        """The invoice with the taxes of its tax point: ``on`` at finalization, else today in
        the tenant's time zone (the invoice's test clock's today, for a sandbox clock)."""
        if on is None:
            on = local_date(self.now_for(scope, invoice.test_clock_id), self.tenant(scope).timezone)
        return invoice.taxed((tax or self.tax).rates_for(scope, invoice, on, customer))

    def create(self, scope: Scope, raw: Mapping[str, Any]) -> Invoice:
        """A one-off draft for a customer, with lines given by hand."""
        customer = self.customers.get(scope, raw["customer_id"])
        if customer is None or customer.status == "archived":
            raise validation_failed("/customer_id", f"no customer with id {raw['customer_id']}")
        if customer.status != "active":
            raise validation_failed("/customer_id", f"customer {customer.id} is disabled")
        currency = parse_currency(raw.get("currency") or customer.currency or "", "/currency")
        if customer.currency and currency != customer.currency:
            raise validation_failed("/currency", f"the customer is billed in {customer.currency}")
        lines = tuple(
            self._line(entry, currency, f"/lines/{i}") for i, entry in enumerate(raw.get("lines") or ())
        )
        if len(lines) > MAX_LINES:
            raise validation_failed("/lines", f"at most {MAX_LINES} lines")
        now = self.now_for(scope, customer.test_clock_id)
        stamp = rfc3339(now)
        settings = self.settings(scope)
        terms = raw.get("payment_terms_days")
        invoice = Invoice(
            id=self.new_id(),
            livemode=scope.livemode,
            customer_id=customer.id,
            currency=currency,
            type="one_off",
            billing_reason="manual",
            lines=lines,
            created_at=stamp,
            updated_at=stamp,
            collection_method=raw.get("collection_method") or "send_invoice",
            payment_terms_days=int(terms) if terms is not None else settings.payment_terms_days,
            test_clock_id=customer.test_clock_id,
            metadata=dict(raw.get("metadata") or {}),
            auto_advance=bool(raw.get("auto_advance", False)),
            buyer_reference=raw.get("buyer_reference"),
            memo=raw.get("memo"),
        )
        if invoice.auto_advance:
            invoice = replace(
                invoice,
                finalize_at=format_time(now + timedelta(days=settings.invoice_grace_period_days)),
            )
        invoice = self._taxed(scope, invoice)
        self.invoices.save(scope, [(None, invoice)], [self._event(scope, "invoice.created", invoice)])
        return invoice

    def _line(self, raw: Mapping[str, Any], currency: str, pointer: str) -> InvoiceLine:
        errors: list[FieldError] = []
        quantity = parse_decimal(raw.get("quantity", "1"), f"{pointer}/quantity")
        if quantity <= 0:
            errors.append(FieldError(f"{pointer}/quantity", "must be more than zero"))
        unit = parse_decimal(raw.get("unit_amount"), f"{pointer}/unit_amount")
        amount = Money(unit * quantity, currency).rounded()
        reason = (raw.get("reason") or "").strip() or None
        if amount.amount < 0 and reason is None:
            errors.append(
                FieldError(
                    f"{pointer}/reason",
                    "a line that takes money off needs a reason, e.g. a goodwill discount",
                )
            )
        if not str(raw.get("description") or "").strip():
            errors.append(FieldError(f"{pointer}/description", "is required"))
        period = raw.get("period") or {}
        if errors:
            raise ValidationFailed(detail="the invoice line is invalid", errors=errors)
        return InvoiceLine(
            id=self.new_id(),
            kind="one_off",
            description=str(raw["description"]).strip(),
            quantity=quantity,
            amount=amount,
            unit_amount=unit,
            product_id=raw.get("product_id"),
            period_start=period.get("start"),
            period_end=period.get("end"),
            reason=reason,
            manual=True,
        )

    def _edit(
        self,
        scope: Scope,
        invoice_id: str,
        if_match: int | None,
        change: Any,
        event: str = "invoice.updated",
    ) -> Invoice:
        def decide(before: Invoice) -> Invoice | None:
            now = rfc3339(self.now_for(scope, before.test_clock_id))
            after: Invoice | None = change(before, now)
            if after is None:
                return None
            return self._taxed(scope, after) if after.status == "draft" else after

        return read_decide_write(
            lambda: self.get(scope, invoice_id),
            decide,
            lambda before, after: self.invoices.save(
                scope, [(before, after)], [self._event(scope, event, after)]
            ),
            if_match=if_match,
            version_of=lambda i: i.version,
            what="invoice",
        )

    def add_line(
        self, scope: Scope, invoice_id: str, raw: Mapping[str, Any], if_match: int | None
    ) -> Invoice:
        def change(invoice: Invoice, now: str) -> Invoice:
            invoice.require_draft("edited")
            if len(invoice.lines) >= MAX_LINES:
                raise validation_failed("/lines", f"an invoice holds at most {MAX_LINES} lines")
            return invoice.with_lines([*invoice.lines, self._line(raw, invoice.currency, "")], now)

        return self._edit(scope, invoice_id, if_match, change)

    def update_line(
        self, scope: Scope, invoice_id: str, line_id: str, raw: Mapping[str, Any], if_match: int | None
    ) -> Invoice:
        def change(invoice: Invoice, now: str) -> Invoice:
            invoice.require_draft("edited")
            current = invoice.line(line_id)
            if current is None:
                raise NotFound(detail=f"invoice {invoice_id} has no line {line_id}")
            if not current.manual:
                changed = sorted(k for k in raw if k != "description" and raw[k] is not None)
                if changed:
                    raise InvalidStateTransition(
                        detail=f"line {line_id} was produced by the subscription; only its description "
                        f"can change, not {', '.join(changed)}: add a line to adjust the amount"
                    )
                renamed = replace(current, description=str(raw.get("description") or current.description))
                return invoice.with_lines(
                    [renamed if line.id == line_id else line for line in invoice.lines], now
                )
            merged = {
                "description": current.description,
                "quantity": str(current.quantity),
                "unit_amount": str(
                    current.unit_amount if current.unit_amount is not None else current.amount.amount
                ),
                "reason": current.reason,
                "product_id": current.product_id,
                "period": {"start": current.period_start, "end": current.period_end},
                **{k: v for k, v in raw.items() if v is not None},
            }
            fresh = replace(self._line(merged, invoice.currency, ""), id=current.id, kind=current.kind)
            return invoice.with_lines([fresh if line.id == line_id else line for line in invoice.lines], now)

        return self._edit(scope, invoice_id, if_match, change)

    def delete_line(self, scope: Scope, invoice_id: str, line_id: str, if_match: int | None) -> Invoice:
        def change(invoice: Invoice, now: str) -> Invoice:
            invoice.require_draft("edited")
            if invoice.line(line_id) is None:
                raise NotFound(detail=f"invoice {invoice_id} has no line {line_id}")
            return invoice.with_lines([line for line in invoice.lines if line.id != line_id], now)

        return self._edit(scope, invoice_id, if_match, change)

    def update(self, scope: Scope, invoice_id: str, raw: Mapping[str, Any], if_match: int | None) -> Invoice:
        """Drafts take any of these fields; a finalized invoice only its metadata."""

        def change(invoice: Invoice, now: str) -> Invoice | None:
            fields = dict(raw)
            if "metadata" in fields:
                fields["metadata"] = merge_metadata(invoice.metadata, fields["metadata"] or {})
            other = sorted(k for k in fields if k != "metadata" and getattr(invoice, k) != fields[k])
            if other and invoice.status != "draft":
                raise InvalidStateTransition(
                    detail=f"invoice {invoice.number or invoice.id} is {invoice.status}: only its metadata "
                    f"can change, not {', '.join(other)}; correct it with a credit note"
                )
            if all(getattr(invoice, k) == v for k, v in fields.items()):
                return None
            # Only a draft waits to be finalized (a finalized invoice's metadata patch may repeat
            # its auto_advance without scheduling anything).
            if invoice.status == "draft" and fields.get("auto_advance") and not invoice.finalize_at:
                grace = timedelta(days=self.settings(scope).invoice_grace_period_days)
                fields["finalize_at"] = format_time(parse_time(now) + grace)
            return invoice.touched(now, **fields)

        return self._edit(scope, invoice_id, if_match, change)

    def refresh(self, scope: Scope, invoice_id: str, if_match: int | None) -> Invoice:
        """Recompute a draft's tax through the tax port (rules or the customer may have
        changed during the grace period); a draft that is already current stays as it is."""

        def change(invoice: Invoice, now: str) -> Invoice | None:
            invoice.require_draft("refreshed")
            fresh = self._taxed(scope, invoice)
            if (
                fresh.lines == invoice.lines
                and fresh.tax_breakdown == invoice.tax_breakdown
                and fresh.tax_notes == invoice.tax_notes
            ):
                return None
            return fresh.touched(now)

        return self._edit(scope, invoice_id, if_match, change)

    # --- finalization -------------------------------------------------------------------------

    def finalize(self, scope: Scope, invoice_id: str, if_match: int | None) -> Invoice:
        """Finalize one draft now (a batch of one) and hand it over to payment collection."""
        invoice = self.get(scope, invoice_id)
        require_version(if_match, invoice.version)
        if invoice.status != "draft":
            raise InvalidStateTransition(
                detail=f"invoice {invoice.number or invoice.id} is already {invoice.status}"
            )
        if not invoice.lines:
            raise validation_failed("/lines", "an invoice without lines cannot be finalized")
        at = rfc3339(self.now_for(scope, invoice.test_clock_id))
        done = self.finalize_batch(scope, [invoice_id], at, if_version=if_match)
        if not done:
            # Someone else finalized or voided it between the read and the write.
            current = self.get(scope, invoice_id)
            raise InvalidStateTransition(
                detail=f"invoice {current.number or current.id} is already {current.status}"
            )
        finalized = done[0]
        if finalized.collection_pending:
            self.collect(scope, finalized.id, at)
            return self.get(scope, finalized.id)
        return finalized

    def finalize_batch(
        self,
        scope: Scope,
        invoice_ids: Sequence[str],
        at: str,
        *,
        if_version: int | None = None,
        defer_without_rate: bool = False,
    ) -> Sequence[Invoice]:
        """Finalize the drafts among ``invoice_ids`` at ``at`` in one transaction with
        consecutive numbers; drafts already finalized or voided meanwhile are skipped. Returns
        what this call finalized (a retry of a finished batch returns nothing).

        A converted draft whose rate cannot be pinned raises FxRateUnavailable (422); with
        ``defer_without_rate`` (the billing cycle) it is left out, still a draft, and the
        others are finalized."""
        tenant = self.tenant(scope)
        for attempt in range(FINALIZE_ATTEMPTS):
            drafts = []
            for invoice_id in invoice_ids:
                invoice = self.invoices.get(scope, invoice_id)
                if invoice is not None and invoice.status == "draft" and invoice.lines:
                    drafts.append(invoice)
            if if_version is not None and drafts and drafts[0].version != if_version:
                require_version(if_version, drafts[0].version)
            if not drafts:
                return []
            ready, rates = self._pinned_rates(scope, tenant, drafts, at, defer=defer_without_rate)
            if not ready:
                return []
            last = self.invoices.last_number(scope, INVOICE_SEQUENCE)
            changes, events, credits = self._finalized(scope, tenant, ready, rates, last, at)
            try:
                self.invoices.save(
                    scope,
                    changes,
                    events,
                    credits=credits,
                    numbered=(INVOICE_SEQUENCE, last, last + len(ready)),
                )
            except ConcurrentModification:
                time.sleep(min(0.002 * (attempt + 1), 0.05))
                continue
            return [after for _, after in changes]
        raise ConcurrentModification(detail="invoices are being finalized by many requests at once; retry")

    def _pinned_rates(
        self, scope: Scope, tenant: Tenant, drafts: Sequence[Invoice], at: str, *, defer: bool
    ) -> tuple[Sequence[Invoice], dict[str, PinnedRate]]:
        """The rate each converted draft is finalized at: the tenant's FX policy for the pair,
        of the finalization date (or of the period's last day, for a ``period_end`` policy).
        Drafts in their prices' currency need none. Without a rate: raise, or with ``defer``
        leave the draft out (it stays a draft and is tried again later)."""
        today = local_date(parse_time(at), tenant.timezone)
        rates: dict[str, PinnedRate] = {}
        waiting: set[str] = set()
        for draft in drafts:
            if draft.source_currency is None or draft.source_currency == draft.currency:
                continue
            try:
                rates[draft.id] = self._rates(draft.source_currency, draft.currency).pin(
                    scope,
                    draft.source_currency,
                    draft.currency,
                    today,
                    period_end=fx_period_end(draft.period_end, tenant.timezone, today),
                )
            except FxRateUnavailable as missing:
                if not defer:
                    raise
                logger.warning(
                    "invoice not finalized: no FX rate yet; a later run tries again",
                    extra={"tenant_id": scope.tenant_id, "invoice_id": draft.id, "detail": missing.detail},
                )
                waiting.add(draft.id)
        return [draft for draft in drafts if draft.id not in waiting], rates

    def _finalized(
        self,
        scope: Scope,
        tenant: Tenant,
        drafts: Sequence[Invoice],
        rates: Mapping[str, PinnedRate],
        last: int,
        at: str,
    ) -> tuple[Sequence[tuple[Invoice | None, Invoice]], Sequence[EventEnvelope], Sequence[CreditEntry]]:
        today = local_date(parse_time(at), tenant.timezone)
        balances: dict[tuple[str, str], Money] = {}
        changes: list[tuple[Invoice | None, Invoice]] = []
        events: list[EventEnvelope] = []
        entries: list[CreditEntry] = []
        # One read of the seller's profile and rules for the whole batch, not one per draft.
        tax = self.tax.batch()
        for i, draft in enumerate(drafts):
            rate = rates.get(draft.id)
            # Converted once more, from the lines' source amounts, at the rate pinned now.
            taxed = self._taxed(scope, draft.converted(rate) if rate is not None else draft, today, tax)
            key = (draft.customer_id, draft.currency)
            if key not in balances:
                balances[key] = self.balances.balance(scope, draft.customer_id, draft.currency)
            applied = Money.zero(draft.currency)
            total = taxed.total
            if total.amount > 0 and balances[key].amount > 0:
                applied = Money(min(total.amount, balances[key].amount), draft.currency).rounded()
                balances[key] = balances[key] - applied
            elif total.amount < 0:
                balances[key] = balances[key] - total
            sequence = last + i + 1
            fx: dict[str, Any] = (
                rate.to_dict() if rate is not None else _same_currency_fx(draft.currency, today.isoformat())
            )
            if self.tax_currency is not None:
                fx.update(self.tax_currency(scope, taxed, today, tax.seller(scope)) or {})
            finalized = taxed.finalize(
                number=format_number(tenant.invoicing.invoice_number_format, sequence, today),
                sequence=sequence,
                credit_applied=applied,
                fx=fx,
                today=today,
                now=at,
            )
            movement = -applied if applied.amount > 0 else taxed.credited_to_balance
            if movement.amount != 0:
                entries.append(
                    CreditEntry(
                        id=self.new_id(),
                        customer_id=draft.customer_id,
                        amount=movement,
                        reason="applied_to_invoice" if movement.amount < 0 else "invoice_credit",
                        created_at=at,
                        subscription_id=draft.subscription_id,
                        invoice_id=draft.id,
                    )
                )
            events.append(self._event(scope, "invoice.finalized", replace(finalized, status="finalized")))
            if finalized.status == "paid":
                finalized = replace(finalized, version=finalized.version + 1)
                events.append(self._event(scope, "invoice.paid", finalized))
            changes.append((draft, finalized))
        return changes, events, entries

    # --- after finalization -------------------------------------------------------------------

    def void(self, scope: Scope, invoice_id: str, if_match: int | None) -> Invoice:
        """Void a draft or an unpaid invoice. Credit balance it used goes back to the customer;
        its number stays used (a void invoice keeps it, so the sequence has no gap)."""
        for _ in range(MAX_ATTEMPTS):
            before = self.get(scope, invoice_id)
            require_version(if_match, before.version)
            now = rfc3339(self.now_for(scope, before.test_clock_id))
            after = before.void(now)
            credits = []
            returned = Money(before.credit_applied, before.currency).rounded()
            if returned.amount > 0:
                credits.append(
                    CreditEntry(
                        id=self.new_id(),
                        customer_id=before.customer_id,
                        amount=returned,
                        reason="invoice_voided",
                        created_at=now,
                        subscription_id=before.subscription_id,
                        invoice_id=before.id,
                    )
                )
            elif before.status != "draft" and before.credited_to_balance.amount > 0:
                # The credit a negative invoice gave is taken back (only if still unspent).
                credits.append(
                    CreditEntry(
                        id=self.new_id(),
                        customer_id=before.customer_id,
                        amount=-before.credited_to_balance,
                        reason="invoice_voided",
                        created_at=now,
                        invoice_id=before.id,
                    )
                )
            try:
                self.invoices.save(
                    scope, [(before, after)], [self._event(scope, "invoice.voided", after)], credits=credits
                )
            except ConcurrentModification as error:
                if if_match is not None:
                    raise PreconditionFailed(
                        detail="the invoice changed since the version in If-Match"
                    ) from None
                if "credit balance" in (error.detail or ""):
                    raise Conflict(
                        detail="the credit this invoice gave has already been spent; it cannot be voided"
                    ) from None
                continue
            return after
        raise ConcurrentModification(detail="the invoice is being changed by many requests at once; retry")

    def mark_uncollectible(self, scope: Scope, invoice_id: str, if_match: int | None) -> Invoice:
        return self._edit(
            scope,
            invoice_id,
            if_match,
            lambda invoice, now: invoice.mark_uncollectible(now),
            event="invoice.marked_uncollectible",
        )

    def collect(self, scope: Scope, invoice_id: str, at: str) -> Handover | None:
        """Hand a finalized invoice over to payment collection, once (the port is idempotent
        per invoice, so a repeat after a crash between the two steps charges nothing)."""
        invoice = self.invoices.get(scope, invoice_id)
        if invoice is None or not invoice.collection_pending or invoice.status != "finalized":
            return None
        handover = self.collection.collect(scope, invoice, at)
        if handover.outcome == "awaiting_payment":
            # Paid, voided or handed over meanwhile: then there is nothing left to record. A
            # started charge keeps the invoice in the work index until the gateway answers.
            with contextlib.suppress(ConcurrentModification):
                current = self.invoices.get(scope, invoice_id)
                if current is not None and current.collection_pending and current.open_payment_id is None:
                    self.invoices.save(scope, [(current, current.collection_handed_over(at))], [])
        return handover

    def _event(self, scope: Scope, type_: str, invoice: Invoice) -> EventEnvelope:
        return change_event(scope, type_, "invoice", invoice_to_dict(invoice), new_id=self.new_id)


def _same_currency_fx(currency: str, on: str) -> dict[str, str]:
    """The pinned conversion of an invoice in its prices' own currency."""
    return {
        "base_currency": currency,
        "quote_currency": currency,
        "rate": "1",
        "source": "same_currency",
        "date": on,
    }
