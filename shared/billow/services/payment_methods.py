"""Payment method use cases: attach a gateway's token to a customer, read, list, make default,
detach (docs/payments.md). A customer has at most one default method: the first one attached,
or the one made default (the old one loses it in the same transaction)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from billow.domain.errors import FieldError, InvalidStateTransition, NotFound, ValidationFailed
from billow.domain.events import EventEnvelope
from billow.domain.metadata import merge_metadata
from billow.domain.payment_method import (
    PaymentMethod,
    check_customer_token,
    check_details,
    check_token,
    payment_method_to_dict,
    refuse_account_data,
)
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.ports.queries import Page, PageResult
from billow.ports.repositories import CustomerRepository, GatewayRepository, PaymentMethodRepository
from billow.services.concurrency import read_decide_write
from billow.services.defaults import default_moved
from billow.services.events import change_event


@dataclass
class PaymentMethodService:
    methods: PaymentMethodRepository
    customers: CustomerRepository
    gateways: GatewayRepository
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, type_: str, method: PaymentMethod) -> EventEnvelope:
        return change_event(
            scope, type_, "payment_method", payment_method_to_dict(method), new_id=self.new_id
        )

    def _current_default(self, scope: Scope, customer_id: str) -> PaymentMethod | None:
        return next((m for m in self.methods.of_customer(scope, customer_id) if m.is_default), None)

    def attach(self, scope: Scope, raw: Mapping[str, Any]) -> PaymentMethod:
        refuse_account_data(raw)
        customer = self.customers.get(scope, raw["customer_id"])
        if customer is None:
            raise ValidationFailed(
                detail="the customer does not exist",
                errors=[FieldError("/customer_id", f"no customer with id {raw['customer_id']}")],
            )
        if customer.status != "active":
            raise InvalidStateTransition(detail=f"customer {customer.id} is {customer.status}")
        gateway = self.gateways.get(scope, raw["gateway_id"])
        if gateway is None:
            raise ValidationFailed(
                detail="the gateway does not exist",
                errors=[FieldError("/gateway_id", f"no payment gateway with id {raw['gateway_id']}")],
            )
        if gateway.status != "active":
            raise InvalidStateTransition(detail=f"payment gateway {gateway.id} is disabled")
        if raw["type"] not in gateway.supported_methods:
            raise ValidationFailed(
                detail=f"gateway {gateway.id} takes {', '.join(gateway.supported_methods)}",
                errors=[
                    FieldError(
                        "/type", f"{gateway.provider} gateway {gateway.id} does not take {raw['type']}"
                    )
                ],
            )
        details = dict(raw.get("details") or {})
        check_token(gateway.provider, raw["gateway_token"])
        check_customer_token(gateway.provider, raw.get("gateway_customer_token"))
        check_details(details)
        now = rfc3339(self.clock.now())
        current_default = self._current_default(scope, customer.id)
        method = PaymentMethod(
            id=self.new_id(),
            livemode=scope.livemode,
            customer_id=customer.id,
            gateway_id=gateway.id,
            type=raw["type"],
            gateway_token=raw["gateway_token"],
            gateway_customer_token=raw.get("gateway_customer_token"),
            created_at=now,
            updated_at=now,
            details=details,
            is_default=bool(raw.get("is_default")) or current_default is None,
            metadata=dict(raw.get("metadata") or {}),
        )
        changes = [(None, method), *default_moved(current_default, method, now)]
        events = [self._event(scope, "payment_method.attached", method)]
        events += [self._event(scope, "payment_method.updated", after) for _, after in changes[1:]]
        self.methods.save(scope, changes, events)
        return method

    def get(self, scope: Scope, method_id: str) -> PaymentMethod:
        method = self.methods.get(scope, method_id)
        if method is None:
            raise NotFound(detail=f"no payment method with id {method_id}")
        return method

    def list(
        self, scope: Scope, page: Page, customer_id: str | None, status: str | None
    ) -> PageResult[PaymentMethod]:
        if customer_id is None:
            return self.methods.list(scope, page, status)
        # A customer has a few methods: one page holds them all.
        found = [m for m in self.methods.of_customer(scope, customer_id) if status in (None, m.status)]
        return PageResult(items=found[: page.limit], next_position=None)

    def _change(
        self,
        scope: Scope,
        method_id: str,
        if_match: int | None,
        decide: Callable[[str, PaymentMethod], PaymentMethod | None],
    ) -> PaymentMethod:
        now = rfc3339(self.clock.now())

        def write(before: PaymentMethod, after: PaymentMethod) -> None:
            pairs: list[tuple[PaymentMethod | None, PaymentMethod]] = [(before, after)]
            if after.is_default and not before.is_default:
                pairs += default_moved(self._current_default(scope, after.customer_id), after, now)
            event = "payment_method.detached" if after.status == "detached" else "payment_method.updated"
            events = [self._event(scope, event, after)]
            events += [self._event(scope, "payment_method.updated", changed) for _, changed in pairs[1:]]
            self.methods.save(scope, pairs, events)

        return read_decide_write(
            partial(self.get, scope, method_id),
            partial(decide, now),
            write,
            if_match=if_match,
            version_of=lambda method: method.version,
            what="payment method",
        )

    def update(
        self, scope: Scope, method_id: str, raw: Mapping[str, Any], if_match: int | None
    ) -> PaymentMethod:
        refuse_account_data(raw)
        if raw.get("is_default") is False:
            raise ValidationFailed(
                detail="a customer with active methods always has a default",
                errors=[FieldError("/is_default", "make another method the default instead")],
            )

        def decide(now: str, before: PaymentMethod) -> PaymentMethod | None:
            changes: dict[str, Any] = {}
            if raw.get("is_default") and not before.is_default:
                if before.status != "active":
                    raise InvalidStateTransition(detail=f"payment method {before.id} is detached")
                changes["is_default"] = True
            if "details" in raw:
                details = {**before.details, **(raw["details"] or {})}
                check_details(details)
                changes["details"] = details
            if "metadata" in raw:
                changes["metadata"] = merge_metadata(before.metadata, raw["metadata"])
            if all(getattr(before, name) == value for name, value in changes.items()):
                return None
            return before.touched(now, **changes)

        return self._change(scope, method_id, if_match, decide)

    def detach(self, scope: Scope, method_id: str, if_match: int | None) -> PaymentMethod:
        return self._change(scope, method_id, if_match, lambda now, method: method.detach(now))
