"""The seller's tax profile (``/v1/tax/profile``): one per tenant and mode, set whole with PUT or
changed with a JSON merge patch (RFC 7396), each change checked as a whole profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from billow.domain.errors import ConcurrentModification, NotFound, PreconditionFailed
from billow.domain.events import DomainEvent, EventEnvelope
from billow.domain.tax_profile import SellerTaxProfile, parse_tax_profile, tax_profile_to_dict
from billow.domain.tenancy import Scope
from billow.ports.clock import Clock, rfc3339
from billow.ports.ids import IdGenerator
from billow.services.concurrency import MAX_ATTEMPTS, committed, read_decide_write, require_version
from billow.services.events import envelope

NOT_SET = (
    "the seller's tax profile is not set yet: PUT /v1/tax/profile with the legal name, address and VAT ID "
    "(or tax number) that invoices name as the seller"
)


class TaxProfileRepository(Protocol):
    def get(self, scope: Scope) -> SellerTaxProfile | None: ...

    def save(
        self,
        scope: Scope,
        before: SellerTaxProfile | None,
        after: SellerTaxProfile,
        events: Sequence[EventEnvelope],
    ) -> None:
        """Only if absent (``before`` None) or still at ``before``'s version;
        ConcurrentModification otherwise."""
        ...


def _same_content(before: SellerTaxProfile, after: SellerTaxProfile) -> bool:
    return (
        replace(after, created_at=before.created_at, updated_at=before.updated_at, version=before.version)
        == before
    )


@dataclass
class TaxProfileService:
    profiles: TaxProfileRepository
    clock: Clock
    new_id: IdGenerator

    def _event(self, scope: Scope, profile: SellerTaxProfile) -> EventEnvelope:
        # One profile per tenant and mode: the tenant is the aggregate, the version its sequence.
        return envelope(
            scope,
            DomainEvent("tax_profile.updated", "tax_profile", scope.tenant_id, tax_profile_to_dict(profile)),
            sequence=profile.version,
            created_at=str(profile.updated_at),
            new_id=self.new_id,
        )

    def _write(self, scope: Scope, before: SellerTaxProfile | None, after: SellerTaxProfile) -> None:
        self.profiles.save(scope, before, after, [self._event(scope, after)])

    def get(self, scope: Scope) -> SellerTaxProfile:
        profile = self.profiles.get(scope)
        if profile is None:
            raise NotFound(detail=NOT_SET)
        return profile

    def put(
        self, scope: Scope, raw: Mapping[str, Any], if_match: int | None
    ) -> tuple[SellerTaxProfile, bool]:
        """Set the whole profile; True when this created it. The same profile again writes nothing."""
        for _ in range(MAX_ATTEMPTS):
            now = rfc3339(self.clock.now())
            parsed = parse_tax_profile(raw, livemode=scope.livemode, now=now)
            before = self.profiles.get(scope)
            if before is None:
                if if_match is not None:
                    raise PreconditionFailed(
                        detail=f"If-Match names version {if_match}, but there is no profile"
                    )
                after = parsed
            else:
                require_version(if_match, before.version)
                if _same_content(before, parsed):
                    return before, False
                after = replace(parsed, created_at=before.created_at, version=before.version + 1)
            if committed(if_match, partial(self._write, scope, before, after)):
                return after, before is None
        raise ConcurrentModification(
            detail="the tax profile is being changed by many requests at once; retry"
        )

    def patch(self, scope: Scope, raw: Mapping[str, Any], if_match: int | None) -> SellerTaxProfile:
        """A JSON merge patch: objects merge, null removes a field; the result must be a valid profile."""

        def decide(before: SellerTaxProfile) -> SellerTaxProfile | None:
            after = before.with_changes(raw, rfc3339(self.clock.now()))
            return None if _same_content(before, after) else after

        return read_decide_write(
            lambda: self.get(scope),
            decide,
            lambda before, after: self._write(scope, before, after),
            if_match=if_match,
            version_of=lambda profile: profile.version,
            what="tax profile",
        )
