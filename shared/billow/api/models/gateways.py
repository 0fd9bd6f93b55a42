"""Request bodies of /v1/payment-gateways. Credentials are write-only: accepted here, sealed by
the service, never in a response."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from billow.api.models.common import Metadata, StrictModel

GatewayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
CredentialName = Annotated[str, StringConstraints(min_length=1, max_length=40)]
CredentialValue = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Credentials = Annotated[
    dict[CredentialName, CredentialValue],
    Field(
        max_length=10,
        description="write-only: stripe {secret_key, webhook_secret}, gocardless {access_token, "
        "webhook_secret}, sandbox none",
    ),
]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
MethodName = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class GatewayCreate(StrictModel):
    provider: Literal["stripe", "gocardless", "sandbox"]
    mode: Literal["test", "live"] | None = Field(
        default=None, description="the API key's mode; may be omitted"
    )
    name: GatewayName | None = None
    credentials: Credentials = Field(default_factory=dict)
    supported_currencies: Annotated[list[CurrencyCode], Field(max_length=200)] | None = None
    supported_methods: Annotated[list[MethodName], Field(max_length=20)] | None = None
    is_default: bool = False
    metadata: Metadata = Field(default_factory=dict)


class GatewayUpdate(StrictModel):
    """The provider and mode are fixed; new credentials replace all the old ones."""

    name: GatewayName | None = None
    credentials: Credentials | None = None
    supported_currencies: Annotated[list[CurrencyCode], Field(min_length=1, max_length=200)] | None = None
    supported_methods: Annotated[list[MethodName], Field(min_length=1, max_length=20)] | None = None
    is_default: bool | None = None
    status: Literal["active", "disabled"] | None = None
    metadata: Metadata | None = None


NOT_NULLABLE = frozenset(
    {"name", "credentials", "supported_currencies", "supported_methods", "is_default", "status", "metadata"}
)
