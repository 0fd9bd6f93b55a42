"""The credential vault: gateway credentials are sealed before they are stored and opened only
where a gateway is called. The seal is bound to the tenant, the mode and the gateway, so a
sealed value copied to another gateway or tenant does not open."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from billow.domain.tenancy import Scope


class CredentialVault(Protocol):
    def seal(self, scope: Scope, gateway_id: str, credentials: Mapping[str, str]) -> str:
        """The credentials, encrypted, as text to store."""
        ...

    def open(self, scope: Scope, gateway_id: str, sealed: str) -> dict[str, str]:
        """The credentials a ``seal`` for the same tenant, mode and gateway produced."""
        ...
