"""Customer use cases: create, read, list, change, upsert by external id, disable, merge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from billow.domain.custom_fields import EntityRef, validate_values
from billow.domain.customer import Customer, customer_to_dict, merge_customers, parse_customer_fields
from billow.domain.errors import (
    ConcurrentModification,
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    validation_failed,
)
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.repositories import (
    CustomerFilter,
    CustomerRepository,
    CustomFieldRepository,
    Page,
    PageResult,
    TestClockRepository,
)
from billow.services.concurrency import MAX_ATTEMPTS, committed, read_decide_write, require_version
from billow.services.events import change_event

if TYPE_CHECKING:
    from billow.services.vat_ids import VatIdService

_BOOKKEEPING = ("updated_at", "version")


def _same_content(before: Customer, after: Customer) -> bool:
    old, new = customer_to_dict(before), customer_to_dict(after)
    return all(old[k] == new[k] for k in old if k not in _BOOKKEEPING)


@dataclass
class CustomerService:
    customers: CustomerRepository
    custom_fields: CustomFieldRepository
    clock: Clock
    new_id: IdGenerator
    clocks: TestClockRepository | None = None
    # VIES, through its cache (services/vat_ids.py); None: tax ids are checked by format only.
    vat_ids: VatIdService | None = None

    def _now(self) -> str:
        return rfc3339(self.clock.now())

    def _event(self, scope: Scope, type_: str, customer: Customer, **extra: Any) -> EventEnvelope:
        return change_event(
            scope, type_, "customer", {**customer_to_dict(customer), **extra}, new_id=self.new_id
        )

    def _check_refs(self, scope: Scope, refs: list[EntityRef]) -> None:
        missing = [
            FieldError(ref.pointer, f"no {ref.entity_type} with id {ref.entity_id}")
            for ref in refs
            if ref.entity_type == "customer" and self.customers.get(scope, ref.entity_id) is None
        ]
        if missing:
            raise ValidationFailed(detail="custom field values are invalid", errors=missing)

    def _custom_fields(
        self, scope: Scope, current: dict[str, Any], changes: dict[str, Any], *, creating: bool
    ) -> dict[str, Any]:
        definitions = self.custom_fields.list(scope, "customer")
        merged, refs = validate_values(definitions, current, changes, creating=creating)
        self._check_refs(scope, refs)
        return merged

    def create(self, scope: Scope, raw: dict[str, Any]) -> Customer:
        raw = dict(raw)
        test_clock_id = raw.pop("test_clock_id", None)
        if test_clock_id is not None:
            if scope.livemode:
                raise validation_failed("/test_clock_id", "test clocks exist only for sandbox keys")
            if self.clocks is None or self.clocks.get(scope, test_clock_id) is None:
                raise validation_failed("/test_clock_id", f"no test clock with id {test_clock_id}")
        fields = parse_customer_fields(raw)
        self._check_registered(scope, fields)
        fields["test_clock_id"] = test_clock_id
        fields["custom_fields"] = self._custom_fields(
            scope, {}, raw.get("custom_fields") or {}, creating=True
        )
        now = self._now()
        customer = Customer(
            id=self.new_id(), livemode=scope.livemode, created_at=now, updated_at=now, **fields
        )
        self.customers.add(scope, customer, [self._event(scope, "customer.created", customer)])
        return customer

    def _check_registered(self, scope: Scope, fields: dict[str, Any]) -> None:
        """EU VAT IDs VIES says are not registered are refused (422 with VIES's reason); an
        unavailable VIES lets the customer through: invoices then charge VAT and say why."""
        if self.vat_ids is None:
            return
        errors = []
        for i, tax_id in enumerate(fields.get("tax_ids") or ()):
            if tax_id.type != "eu_vat":
                continue
            check, _ = self.vat_ids.status(scope, tax_id.value)
            if check.status == "invalid":
                errors.append(
                    FieldError(
                        f"/tax_ids/{i}/value", f"VIES reports {tax_id.value} as not valid: {check.reason}"
                    )
                )
        if errors:
            raise ValidationFailed(detail="a VAT ID is not registered", errors=errors)

    def get(self, scope: Scope, customer_id: str) -> Customer:
        customer = self.customers.get(scope, customer_id)
        if customer is None:
            raise NotFound(detail=f"no customer with id {customer_id}")
        return customer

    def get_by_external_id(self, scope: Scope, external_id: str) -> Customer:
        customer = self.customers.get_by_external_id(scope, external_id)
        if customer is None:
            raise NotFound(detail=f"no customer with external_id {external_id}")
        return customer

    def list(
        self, scope: Scope, filters: CustomerFilter, page: Page, external_id: str | None
    ) -> PageResult[Customer]:
        if external_id is not None:
            # external_id is unique: answer from its guard item instead of filtering a scan.
            found = self.customers.get_by_external_id(scope, external_id)
            if found is None or page.after is not None or not filters.matches(customer_to_dict(found)):
                return PageResult(items=[], next_position=None)
            return PageResult(items=[found], next_position=None)
        return self.customers.list(scope, filters, page)

    def _change(
        self,
        scope: Scope,
        customer_id: str,
        if_match: int | None,
        decide: Callable[[Customer, str], Customer],
        event_type: str = "customer.updated",
    ) -> Customer:
        def decide_now(before: Customer) -> Customer | None:
            after = decide(before, self._now())
            # Nothing changed: no write, no new version, no event (as Stripe).
            return None if _same_content(before, after) else after

        def write(before: Customer, after: Customer) -> None:
            events = [self._event(scope, event_type, after)]
            self.customers.update(scope, before, after, events)

        return read_decide_write(
            partial(self.get, scope, customer_id),
            decide_now,
            write,
            if_match=if_match,
            version_of=lambda customer: customer.version,
            what="customer",
        )

    def update(self, scope: Scope, customer_id: str, raw: dict[str, Any], if_match: int | None) -> Customer:
        fields = parse_customer_fields(raw)
        self._check_registered(scope, fields)

        def decide(before: Customer, now: str) -> Customer:
            changes = dict(fields)
            if "custom_fields" in raw:
                changes["custom_fields"] = self._custom_fields(
                    scope, before.custom_fields, raw["custom_fields"] or {}, creating=False
                )
            if "metadata" in raw:
                changes["metadata"] = merge_metadata(before.metadata, changes["metadata"])
            return before.with_changes(changes, now)

        return self._change(scope, customer_id, if_match, decide)

    def disable(self, scope: Scope, customer_id: str, if_match: int | None) -> Customer:
        return self._change(scope, customer_id, if_match, lambda c, now: c.disable(now))

    def enable(self, scope: Scope, customer_id: str, if_match: int | None) -> Customer:
        return self._change(scope, customer_id, if_match, lambda c, now: c.enable(now))

    def upsert_by_external_id(
        self, scope: Scope, external_id: str, raw: dict[str, Any]
    ) -> tuple[Customer, bool]:
        """Create the customer with this external id, or update it. True when created."""
        raw = {**raw, "external_id": external_id}
        for _ in range(MAX_ATTEMPTS):
            existing = self.customers.get_by_external_id(scope, external_id)
            if existing is None:
                if "name" not in raw:
                    raise ValidationFailed(
                        detail="name is required to create a customer",
                        errors=[FieldError("/name", "is required")],
                    )
                try:
                    return self.create(scope, raw), True
                except Conflict:
                    continue  # created concurrently: update it instead
            try:
                return self.update(scope, existing.id, raw, None), False
            except NotFound:
                continue
        raise ConcurrentModification(detail="the customer is being changed by many requests at once; retry")

    def merge(self, scope: Scope, target_id: str, source_id: str, if_match: int | None) -> Customer:
        for _ in range(MAX_ATTEMPTS):
            target = self.get(scope, target_id)
            require_version(if_match, target.version)
            source = self.customers.get(scope, source_id)
            if source is None:
                raise ValidationFailed(
                    detail=f"no customer with id {source_id}",
                    errors=[FieldError("/from_customer_id", f"no customer with id {source_id}")],
                )
            now = self._now()
            merged, archived = merge_customers(target, source, now)
            events = [
                self._event(scope, "customer.merged", merged, merged_customer_id=archived.id),
                self._event(scope, "customer.updated", archived),
            ]
            changes = [(target, merged), (source, archived)]
            if committed(if_match, partial(self.customers.update_many, scope, changes, events)):
                return merged
        raise ConcurrentModification(detail="the customers are being changed concurrently; retry")
