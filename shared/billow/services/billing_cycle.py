"""The billing cycle: everything time brings, as the steps of statemachines/billing_cycle.asl.json.

A run goes in rounds. Each round lists the subscriptions with a step due (``list_due``), closes
each one's due periods (``close_period``: recurring fees in advance, usage in arrears, pending
prorations and add-ons, into an invoice draft), finalizes the drafts whose grace period is over
(``finalize_due``: tax through the tax port, credit balance applied, gap-free number), hands the
finalized invoices to payment collection (``collect``), and goes round again while anything is
still due. ``finish`` ends the run (a test clock becomes ready). A Step Functions execution
holds at most 25,000 history events, so after ``ROUNDS_PER_EXECUTION`` rounds ``continue_run``
starts the rest of the run as a new execution with the same state and ends this one.

In AWS the state machine calls these steps through the billing-cycle function; the local stack
runs the same definition on the emulator; ``run_inline`` performs the same rounds in this
process for code paths without a state machine (unit and handler tests). Every step is safe to
repeat: the subscription's version and the invoice's uniqueness key make a period close once,
finalization skips what is no longer a draft, and collection is once per invoice.

Bound to a test clock, a round takes only the work due at the earliest due time, so the steps of
all the clock's subscriptions and invoices interleave strictly in time order; in real time a
round takes everything due by now.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from billow.domain.errors import BillowError
from billow.domain.tenancy import Scope
from billow.ports.billing_cycle import BillingCycleRunner
from billow.ports.repositories import InvoiceRepository, SubscriptionRepository
from billow.services.invoices import FINALIZE_BATCH, InvoiceService
from billow.services.subscriptions import SubscriptionService

if TYPE_CHECKING:
    from billow.services.dunning import DunningService

logger = Logger(service="billow")
# Subscriptions per round: a round's list travels in the execution's state (256 KB at most).
ROUND_SIZE = 200
# Invoices one finalize_due step finalizes before handing back to the state machine.
FINALIZE_PER_STEP = 480
# Rounds one execution goes before it continues in a new one. A round adds about 30 events to
# the execution's history (the Maps are Distributed: their items run as child executions), so
# 400 rounds stay well inside the 25,000-event limit even with retries.
ROUNDS_PER_EXECUTION = 400


def _ref(scope: Scope, **ids: str) -> dict[str, Any]:
    return {"tenant_id": scope.tenant_id, "livemode": scope.livemode, **ids}


def _scope(ref: Mapping[str, Any]) -> Scope:
    return Scope(str(ref["tenant_id"]), bool(ref["livemode"]))


def _clock(state: Mapping[str, Any]) -> tuple[Scope, str] | None:
    clock = state.get("clock")
    return (_scope(clock), str(clock["clock_id"])) if clock else None


@dataclass(frozen=True)
class CycleReport:
    rounds: int
    closed: int
    finalized: int
    failed: int

    def as_dict(self) -> dict[str, int]:
        return {
            "rounds": self.rounds,
            "closed": self.closed,
            "finalized": self.finalized,
            "failed": self.failed,
        }


@dataclass
class BillingCycleService:
    subscriptions: SubscriptionRepository
    subscription_steps: SubscriptionService
    invoices: InvoiceRepository
    invoicing: InvoiceService
    # Marks a test clock ready at its target (TestClockService.finish_advance).
    finish_clock: Callable[[Scope, str, str], object]
    # Starts the continuation of a run that reached ROUNDS_PER_EXECUTION (the state machine).
    runner: Callable[[], BillingCycleRunner] | None = None
    dunning: DunningService | None = None

    # --- the state machine's steps (each takes and returns the execution's JSON state) ---------

    def list_due(self, state: Mapping[str, Any]) -> dict[str, Any]:
        # Invoices whose dunning step failed last round wait for the next run.
        failed = [d["failed"]["invoice_id"] for d in state.get("dunned") or () if d and d.get("failed")]
        if failed:
            state = {**state, "skip": [*(state.get("skip") or ()), *failed]}
        state = {k: v for k, v in state.items() if k != "dunned"}
        now, clock, skip = str(state["now"]), _clock(state), set(state.get("skip") or ())
        round_ = int(state.get("round") or 0) + 1
        if round_ > ROUNDS_PER_EXECUTION:
            return {**state, "bound": now, "subscriptions": [], "done": False, "continue": True}
        state = {**state, "round": round_, "continue": False}
        bound = now
        if clock is not None:
            # The earliest work of the clock, subscriptions and invoices alike.
            first_step = [
                e.due_at
                for e in self.subscriptions.due(now, clock=clock, limit=len(skip) + 1)
                if e.subscription_id not in skip
            ]
            first_work = [
                w.at
                for w in self.invoices.work_due(now, clock=clock, limit=len(skip) + 25)
                if w.invoice_id not in skip and w.action in ("finalize", "dunning")
            ]
            if not first_step and not first_work:
                return {**state, "bound": now, "subscriptions": [], "done": True}
            bound = min(first_step[:1] + first_work[:1])
        entries = [
            e
            for e in self.subscriptions.due(bound, clock=clock, limit=ROUND_SIZE + len(skip))
            if e.subscription_id not in skip
        ][:ROUND_SIZE]
        # Only drafts make another round worth it; a collection that keeps failing is retried
        # in each round that runs anyway, and by the next run.
        has_work = any(
            w.invoice_id not in skip and w.action in ("finalize", "dunning")
            for w in self.invoices.work_due(bound, clock=clock, limit=len(skip) + 25)
        )
        subscriptions = [_ref(e.scope, subscription_id=e.subscription_id) for e in entries]
        return {
            **state,
            "bound": bound,
            "subscriptions": subscriptions,
            "done": not subscriptions and not has_work,
        }

    def close_period(self, state: Mapping[str, Any]) -> dict[str, Any]:
        ref = state["subscription"]
        drafted = self.subscription_steps.close_due_periods(
            _scope(ref), ref["subscription_id"], str(state["bound"])
        )
        return {"subscription": ref, "invoice_ids": list(drafted)}

    def finalize_due(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Finalize drafts due by the round's bound, tenant by tenant in batches (each batch one
        transaction with consecutive numbers), and list what is left to collect."""
        bound, clock = str(state["bound"]), _clock(state)
        skip = list(state.get("skip") or ())
        skip += [c["failed"]["subscription_id"] for c in state.get("closed") or () if c.get("failed")]
        work = [
            w
            for w in self.invoices.work_due(bound, clock=clock, limit=FINALIZE_PER_STEP + len(skip))
            if w.invoice_id not in skip
        ][:FINALIZE_PER_STEP]
        to_finalize: dict[Scope, list[str]] = defaultdict(list)
        collect: list[dict[str, Any]] = []
        dunning: list[dict[str, Any]] = []
        for entry in work:
            if entry.action == "finalize":
                to_finalize[entry.scope].append(entry.invoice_id)
            elif entry.action == "dunning":
                item = self._dunning_item(entry.scope, entry.invoice_id, bound)
                if item["due"]:
                    dunning.append(item)
                else:
                    # Indexed but not due (changed meanwhile): it must not keep the run going.
                    skip.append(entry.invoice_id)
            else:
                collect.append(_ref(entry.scope, invoice_id=entry.invoice_id))
        finalized = 0
        for scope, ids in to_finalize.items():
            for start in range(0, len(ids), FINALIZE_BATCH):
                batch = ids[start : start + FINALIZE_BATCH]
                try:
                    # A converted draft without its FX rate yet stays a draft; the others go on.
                    done = self.invoicing.finalize_batch(scope, batch, bound, defer_without_rate=True)
                except Exception as error:  # noqa: BLE001 - logged; one bad batch must not hold back the rest
                    skip += batch
                    _log_failure(
                        "finalizing invoices failed", error, tenant_id=scope.tenant_id, invoices=batch
                    )
                    continue
                finalized += len(done)
                collect += [_ref(scope, invoice_id=i.id) for i in done if i.collection_pending]
                # A draft the batch did not finalize (no lines, voided meanwhile, no FX rate held
                # for its date) must not keep the run going round: it waits for its next edit or
                # the next run, which tries it again.
                finished = {i.id for i in done}
                skip += [invoice_id for invoice_id in batch if invoice_id not in finished]
        more_work = len(work) >= FINALIZE_PER_STEP
        listed = state.get("subscriptions") or ()
        return {
            "now": state["now"],
            "clock": state.get("clock"),
            "skip": skip,
            "bound": bound,
            "collect": collect,
            "dunning": dunning,
            "finalized": int(state.get("finalized") or 0) + finalized,
            "round": int(state.get("round") or 0),
            "part": int(state.get("part") or 0),
            "more": bool(listed)
            or more_work
            or bool(dunning)
            or (clock is not None and bound < str(state["now"])),
        }

    def _dunning_item(self, scope: Scope, invoice_id: str, bound: str) -> dict[str, Any]:
        """The dunning step due on the invoice, as the input of its state machine execution."""
        if self.dunning is None:
            return {"due": False}
        return self.dunning.plan({"invoice": _ref(scope, invoice_id=invoice_id), "bound": bound})

    def dunning_step(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Run one due dunning step in this process (no dunning state machine configured)."""
        if self.dunning is None:
            raise RuntimeError("dunning needs the dunning service")
        return self.dunning.run_step(state)

    def collect(self, state: Mapping[str, Any]) -> dict[str, Any]:
        ref = state["invoice"]
        handover = self.invoicing.collect(_scope(ref), ref["invoice_id"], str(state["bound"]))
        return {
            "invoice_id": ref["invoice_id"],
            "outcome": handover.outcome if handover else "nothing_to_collect",
        }

    def continue_run(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Go on in a new execution, named after this one's run and the next part number (so a
        retried step joins the execution it started), with what this one has learnt."""
        if self.runner is None:
            raise RuntimeError("continuing a run needs the state machine runner")
        part = int(state.get("part") or 0) + 1
        name = f"{re.sub(r'-p[0-9]+$', '', str(state['run']))}-p{part}"
        carry = {"skip": list(state.get("skip") or ()), "finalized": int(state.get("finalized") or 0)}
        run = self.runner().start(str(state["now"]), _clock(state), name, carry={**carry, "part": part})
        logger.info("billing cycle run continues", extra={"continued_as": run, "part": part})
        return {"continued_as": run, "part": part}

    def finish(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The run's last step: a test clock now stands at its target and is ready."""
        clock = state.get("clock")
        if clock:
            self.finish_clock(_scope(clock), str(clock["clock_id"]), str(state["now"]))
        logger.info("billing cycle run finished", extra={"finalized": state.get("finalized", 0)})
        return {"now": state["now"], "clock": clock, "finalized": state.get("finalized", 0)}

    # --- the same rounds in this process ---------------------------------------------------

    def run_inline(
        self, now: str, clock: tuple[Scope, str] | None = None, *, max_rounds: int = 100_000
    ) -> CycleReport:
        state: dict[str, Any] = {
            "now": now,
            "clock": _ref(clock[0], clock_id=clock[1]) if clock else None,
            "skip": [],
        }
        rounds = closed = failed = 0
        finalized = 0
        while rounds < max_rounds:
            rounds += 1
            listed = self.list_due(state)
            if listed["continue"]:
                # No execution history here to keep short: the same run goes on.
                state = {**state, "round": 0, "part": int(state.get("part") or 0) + 1}
                continue
            if listed["done"]:
                break
            results = []
            for ref in listed["subscriptions"]:
                try:
                    results.append(self.close_period({"subscription": ref, "bound": listed["bound"]}))
                    closed += 1
                except Exception as error:  # noqa: BLE001 - logged; the state machine's Catch does the same
                    failed += 1
                    _log_failure(
                        "closing a billing period failed", error, subscription_id=ref["subscription_id"]
                    )
                    results.append({"failed": ref})
            after = self.finalize_due({**listed, "closed": results})
            for ref in after["collect"]:
                self.collect({"invoice": ref, "bound": after["bound"]})
            dunned: list[dict[str, Any]] = []
            for item in after["dunning"]:
                try:
                    self.dunning_step(item)
                except Exception as error:  # noqa: BLE001 - logged; the state machine's Catch does the same
                    _log_failure("a dunning step failed", error, invoice_id=item["invoice"]["invoice_id"])
                    dunned.append({"failed": item["invoice"]})
            finalized = after["finalized"]
            state = {
                "now": now,
                "clock": state["clock"],
                "skip": after["skip"],
                "finalized": finalized,
                "round": after["round"],
                "part": after["part"],
                "dunned": dunned,
            }
            if not after["more"]:
                break
        self.finish(state)
        return CycleReport(rounds, closed, finalized, failed)


def _log_failure(message: str, error: Exception, **context: Any) -> None:
    logger.exception(
        message,
        extra={
            **context,
            "code": error.code if isinstance(error, BillowError) else "internal_error",
            "detail": error.detail if isinstance(error, BillowError) else type(error).__name__,
        },
    )
