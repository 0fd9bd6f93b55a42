"""The event catalog: every event type Billow emits, what it belongs to, when it fires and what
its ``data.object`` holds.

docs/events.md's table is rendered from ``CATALOG`` (``make catalog``), and
tests/unit/test_event_catalog.py checks the registry against the types the services actually
emit, so the documentation cannot drift from the code. The order of ``CATALOG`` is the table's
order: one block per capability, in the order the capabilities were added.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = ("type", "aggregate", "when", "`data.object`")


@dataclass(frozen=True)
class EventType:
    """One event type: ``type`` is the envelope's ``type`` (and EventBridge's detail-type),
    ``aggregate`` the envelope's ``aggregate.type``; ``when`` and ``payload`` are Markdown."""

    type: str
    aggregate: str
    when: str
    payload: str


CATALOG: tuple[EventType, ...] = (
    EventType(
        "customer.created",
        "customer",
        "a customer is created (POST or upsert)",
        "the customer",
    ),
    EventType(
        "customer.updated",
        "customer",
        "any change: PATCH, upsert, disable, enable, and the source of a merge (archived)",
        "the customer after the change",
    ),
    EventType(
        "customer.merged",
        "customer",
        "another customer was merged into this one",
        "the surviving customer, plus `merged_customer_id`",
    ),
    EventType(
        "product.created",
        "product",
        "a product is created",
        "the product",
    ),
    EventType(
        "product.updated",
        "product",
        "any change: PATCH, archive, unarchive",
        "the product after the change",
    ),
    EventType(
        "price.created",
        "price",
        "a price is created",
        "the price",
    ),
    EventType(
        "price.updated",
        "price",
        "nickname or metadata changed, or archived",
        "the price after the change",
    ),
    EventType(
        "price_override.created",
        "price_override",
        "a customer-specific price is set",
        "the override",
    ),
    EventType(
        "price_override.updated",
        "price_override",
        "archived (ended)",
        "the override",
    ),
    EventType(
        "plan.created",
        "plan",
        "a plan is created with its draft version 1",
        "the plan with its versions",
    ),
    EventType(
        "plan.updated",
        "plan",
        "renamed, archived, a draft started or edited",
        "the plan after the change",
    ),
    EventType(
        "plan.version_published",
        "plan",
        "a version was published",
        "the plan; `latest_published_version` names it",
    ),
    EventType(
        "subscription.created",
        "subscription",
        "`POST /v1/subscriptions` (status `pending`; a subscription that starts now takes its next event "
        "in the same request)",
        "the subscription",
    ),
    EventType(
        "subscription.trial_started",
        "subscription",
        "the start step of a subscription with a trial",
        "the subscription, `trialing`",
    ),
    EventType(
        "subscription.trial_will_end",
        "subscription",
        "3 days before `trial_end`, or at the trial's start if the trial is shorter",
        "the subscription (`trial_end` says when)",
    ),
    EventType(
        "subscription.activated",
        "subscription",
        "the first paid period begins: the start without a trial, or the trial end (its "
        "`subscription_create` invoice is written in the same transaction); "
        "also when a past-due subscription's invoice is paid (dunning recovered)",
        "the subscription, `active`",
    ),
    EventType(
        "subscription.updated",
        "subscription",
        "a change applied (now, or a scheduled one running), a change or cancellation scheduled, a "
        "scheduled change cancelled, an add-on, a PATCH",
        "the subscription after the change",
    ),
    EventType(
        "subscription.renewed",
        "subscription",
        "a period ended and the next began (also when a fixed term rolls over)",
        "the subscription with its new period",
    ),
    EventType(
        "subscription.paused",
        "subscription",
        "`POST /{id}/pause`",
        "the subscription, `paused` (with the pending credit)",
    ),
    EventType(
        "subscription.resumed",
        "subscription",
        "`POST /{id}/resume` or `resume_at` reached",
        "the subscription with its new period",
    ),
    EventType(
        "subscription.canceled",
        "subscription",
        "cancelled now, or a scheduled cancellation ran",
        "the subscription, `canceled`",
    ),
    EventType(
        "subscription.expired",
        "subscription",
        "a term without auto-renewal ended (`end_at`, or the current period when there is no `end_at`), "
        "also while paused",
        "the subscription, `expired`",
    ),
    EventType(
        "subscription.scheduled_change_failed",
        "subscription",
        "a scheduled change could not apply when it fell due and was dropped",
        "the subscription; `last_failed_change` holds the change and the problem",
    ),
    EventType(
        "meter.created",
        "meter",
        "a meter is created",
        "the meter",
    ),
    EventType(
        "meter.updated",
        "meter",
        "renamed, late policy or metadata changed, archived, unarchived",
        "the meter after the change",
    ),
    EventType(
        "usage_alert.created",
        "usage_alert",
        "an alert is created",
        "the alert",
    ),
    EventType(
        "usage_alert.updated",
        "usage_alert",
        "renamed, archived, or a block lifted",
        "the alert after the change",
    ),
    EventType(
        "usage.threshold_reached",
        "usage_alert",
        "the subscription's usage of the meter reached a threshold, once per threshold per billing period",
        "the alert with `period_state`, plus `crossing`: `threshold`, `value`, `metric`, `currency` "
        "(amount alerts), `period` {start, end}, `action`",
    ),
    EventType(
        "invoice.created",
        "invoice",
        "a draft is written: by a subscription step, in the same transaction as the step and its "
        "`subscription.*` event (one per draft), or by `POST /v1/invoices`",
        "the draft",
    ),
    EventType(
        "invoice.updated",
        "invoice",
        "a draft changed (line added, changed or removed, PATCH, a refresh that changed the tax), a "
        "finalized invoice's metadata changed, or a credit note credited it without paying it",
        "the invoice after the change",
    ),
    EventType(
        "invoice.finalized",
        "invoice",
        "finalized by `finalize`, by an API request on a subscription that produced it, or by the "
        "billing cycle; one per invoice of a batch, in the batch's transaction",
        "the invoice, `finalized` (also when `invoice.paid` follows), with its number, pinned tax and "
        "FX, `credit_applied`, `due_date`",
    ),
    EventType(
        "invoice.paid",
        "invoice",
        "nothing is left to collect: right after `invoice.finalized` in the same transaction (zero or "
        "negative total, or covered by the credit balance), or an `offset` credit note brought "
        "`amount_remaining` to 0.00",
        "the invoice, `paid`",
    ),
    EventType(
        "invoice.voided",
        "invoice",
        "`POST /{id}/void` (a draft, or an unpaid invoice without payments or credit notes)",
        "the invoice, `void`",
    ),
    EventType(
        "invoice.marked_uncollectible",
        "invoice",
        "`POST /{id}/mark_uncollectible`",
        "the invoice, `uncollectible`",
    ),
    EventType(
        "credit_note.created",
        "credit_note",
        "a credit note is issued (with the invoice's `invoice.updated` or `invoice.paid` in the same "
        "transaction)",
        "the credit note (sequence 1: notes never change)",
    ),
    EventType(
        "payment_gateway.created",
        "payment_gateway",
        "a gateway is configured",
        "the gateway (credentials only by name: `credentials.set`)",
    ),
    EventType(
        "payment_gateway.updated",
        "payment_gateway",
        "renamed, new credentials, capabilities, status, or the default moved to or from it",
        "the gateway after the change",
    ),
    EventType(
        "invoice.payment_failed",
        "invoice",
        "a charge attempt failed (declined, refused by the gateway, or no usable payment method); in the "
        "transaction that records it",
        "the invoice (with `dunning` when it started) and `last_payment_error`",
    ),
    EventType(
        "invoice.reopened",
        "invoice",
        "a chargeback took back money of a paid invoice: it is `finalized` again",
        "the invoice",
    ),
    EventType(
        "payment.processing",
        "payment",
        "the gateway took the charge and will settle it later (a bank debit)",
        "the payment",
    ),
    EventType(
        "payment.succeeded",
        "payment",
        "a charge succeeded (its answer, a webhook or a simulation), or a manual payment was recorded",
        "the payment",
    ),
    EventType(
        "payment.failed",
        "payment",
        "a charge failed",
        "the payment with `failure`",
    ),
    EventType(
        "payment.requires_action",
        "payment",
        "the customer must authenticate",
        "the payment with `next_action`",
    ),
    EventType(
        "payment.charged_back",
        "payment",
        "the payer took the money back (a dispute)",
        "the payment",
    ),
    EventType(
        "payment.refunded",
        "payment",
        "a refund drew on the payment (in the refund's transaction)",
        "the payment with `amount_refunded`",
    ),
    EventType(
        "payment.updated",
        "payment",
        "a refused refund gave its amount back, or a charge still `pending` learnt the gateway's "
        "reference (the attempt itself is written with the invoice's `invoice.updated`)",
        "the payment",
    ),
    EventType(
        "refund.created",
        "refund",
        "a refund was issued (with its credit note)",
        "the refund, `pending` (or `succeeded` for a manual payment's)",
    ),
    EventType(
        "refund.succeeded",
        "refund",
        "the gateway's answer or webhook: the refund succeeded",
        "the refund, `succeeded`",
    ),
    EventType(
        "refund.failed",
        "refund",
        "the gateway's answer or webhook: the refund failed (its amount goes back to the payment: "
        "`payment.updated`)",
        "the refund, `failed`, with `failure`",
    ),
    EventType(
        "refund.updated",
        "refund",
        "the gateway's answer or webhook left the refund `pending`: it was sent, or its gateway "
        "reference became known",
        "the refund",
    ),
    EventType(
        "subscription.past_due",
        "subscription",
        "an invoice of the subscription went into dunning",
        "the subscription, `past_due`",
    ),
    EventType(
        "dunning.step_executed",
        "dunning_run",
        "a dunning step ran (in the transaction of its effect: the retry's attempt, the invoice marked "
        "uncollectible, …); `sequence` counts the run's steps",
        "the run: invoice, customer, subscription, the step, the steps and what is next",
    ),
    EventType(
        "dunning.exhausted",
        "dunning_run",
        "the run's last step ran and the invoice is still unpaid",
        "the run",
    ),
    EventType(
        "payment_method.attached",
        "payment_method",
        "a payment method is attached to a customer",
        "the method (token and details; never an account number)",
    ),
    EventType(
        "payment_method.updated",
        "payment_method",
        "details or metadata changed, or the customer's default moved to or from it",
        "the method after the change",
    ),
    EventType(
        "payment_method.detached",
        "payment_method",
        "`POST /{id}/detach`",
        "the method, `detached`",
    ),
    EventType(
        "dunning_policy.created",
        "dunning_policy",
        "a dunning policy is created (the old default's `dunning_policy.updated` in the same transaction "
        "when it takes the default)",
        "the policy",
    ),
    EventType(
        "dunning_policy.updated",
        "dunning_policy",
        "renamed, steps or `applies_to` changed, metadata, or the default moved to or from it",
        "the policy after the change",
    ),
    EventType(
        "dunning_policy.archived",
        "dunning_policy",
        "`POST /{id}/archive`: no longer the default, customers and plans released",
        "the policy, `archived`",
    ),
    EventType(
        "fx_policy.created",
        "fx_policy",
        "an FX policy is created (the old default's `fx_policy.updated` in the same transaction when "
        "it takes the default)",
        "the policy",
    ),
    EventType(
        "fx_policy.updated",
        "fx_policy",
        "renamed, markup, rate date or currency pairs changed, metadata, or the default moved to or from it",
        "the policy after the change",
    ),
    EventType(
        "fx_policy.archived",
        "fx_policy",
        "`POST /{id}/archive`: no longer the default, currency pairs released",
        "the policy, `archived`",
    ),
    EventType(
        "fx_override.created",
        "fx_override",
        "a tenant sets a pair's rate for a range of dates",
        "the override",
    ),
    EventType(
        "fx_override.deleted",
        "fx_override",
        "`DELETE /v1/fx/overrides/{id}`",
        "the override with `deleted: true` (its last `version` + 1)",
    ),
    EventType(
        "webhook_endpoint.created",
        "webhook_endpoint",
        "a webhook endpoint is created",
        "the endpoint (`secret` always null)",
    ),
    EventType(
        "webhook_endpoint.updated",
        "webhook_endpoint",
        "`PATCH`: url, description, event types, metadata, or enabled again",
        "the endpoint after the change",
    ),
    EventType(
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint",
        "`POST /{id}/rotate-secret`",
        "the endpoint with the new `secret_rotated_at` (`secret` null)",
    ),
    EventType(
        "webhook_endpoint.disabled",
        "webhook_endpoint",
        "`PATCH` to `disabled` (`disabled_reason: manual`), or deliveries failed for 3 days (`failing`)",
        "the endpoint, `disabled`; when failing, plus `failure_reason` (the last failure)",
    ),
    EventType(
        "test_clock.created",
        "test_clock",
        "a test clock is created",
        "the clock",
    ),
    EventType(
        "test_clock.advancing",
        "test_clock",
        "an advance began (status `advancing`, `advancing_to` = the target)",
        "the clock",
    ),
    EventType(
        "test_clock.advanced",
        "test_clock",
        "an advance finished (status back to `ready`, `frozen_time` = the target)",
        "the clock",
    ),
    EventType(
        "tax_rule.created",
        "tax_rule",
        "a tax rule, or a new version of a rule's series, is created",
        "the rule",
    ),
    EventType(
        "tax_rule.updated",
        "tax_rule",
        "name, description or metadata changed",
        "the rule after the change",
    ),
    EventType(
        "tax_rule.deleted",
        "tax_rule",
        "`DELETE /v1/tax-rules/{id}` of a version that had not taken effect",
        "the rule with `deleted: true` (its last `version` + 1)",
    ),
    EventType(
        "tax_profile.updated",
        "tax_profile",
        "the seller's tax profile is set (`PUT`, also the first time) or changed (`PATCH`); "
        "`aggregate.id` is the tenant's id",
        "the profile after the change",
    ),
)


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cells) + " |"


def catalog_markdown() -> str:
    """The Markdown table docs/events.md shows between its catalog markers."""
    lines = [_row(HEADER), "|" + "---|" * len(HEADER)]
    lines += [_row((f"`{event.type}`", event.aggregate, event.when, event.payload)) for event in CATALOG]
    return "\n".join(lines) + "\n"
