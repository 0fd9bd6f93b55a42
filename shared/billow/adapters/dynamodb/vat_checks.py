"""VIES answers cached per tenant and mode (services/vat_ids.py; docs/data-model.md):

    pk = {scope}#VAT_CHECK#{vat_id}   sk = VAT_CHECK   status, name, address, checked_at,
                                                       request_identifier, reason, received_at,
                                                       expires_at (TTL)

Per tenant, not shared: a consultation number names the requester (the tenant's own VAT ID),
and one tenant's lookups must not be visible to another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billow.adapters.dynamodb.table import DynamoTable, Transaction
from billow.domain.tenancy import Scope
from billow.domain.vat_check import VatCheck
from billow.ports.clock import rfc3339

SK = "VAT_CHECK"
# Kept a while after they go stale: a stale yes or no is still shown when VIES is down.
KEEP_SECONDS = 90 * 24 * 3600


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


class DynamoVatCheckCache:
    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    @staticmethod
    def _pk(scope: Scope, vat_id: str) -> str:
        return f"{scope.key_prefix}#VAT_CHECK#{vat_id}"

    def get(self, scope: Scope, vat_id: str) -> tuple[VatCheck, datetime] | None:
        item = self.table.get(self._pk(scope, vat_id), SK)
        if not item:
            return None
        received = _time(item["received_at"])
        assert received is not None
        check = VatCheck(
            status=item["status"],
            prefix=item["prefix"],
            number=item["number"],
            name=item.get("name"),
            address=item.get("address"),
            checked_at=_time(item.get("checked_at")),
            request_identifier=item.get("request_identifier"),
            reason=item.get("reason"),
        )
        return check, received

    def put(self, scope: Scope, check: VatCheck, received_at: datetime, fresh_until: datetime) -> None:
        item = {
            "pk": self._pk(scope, check.vat_id),
            "sk": SK,
            "kind": "vat_check",
            "status": check.status,
            "prefix": check.prefix,
            "number": check.number,
            "name": check.name,
            "address": check.address,
            "checked_at": rfc3339(check.checked_at) if check.checked_at else None,
            "request_identifier": check.request_identifier,
            "reason": check.reason,
            "received_at": rfc3339(received_at),
            "fresh_until": rfc3339(fresh_until),
            "expires_at": int(received_at.timestamp()) + KEEP_SECONDS,
        }
        tx = Transaction()
        tx.put("vat_check", self.table.name, item)
        self.table.write(tx)
