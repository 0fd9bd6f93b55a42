"""Gateway credentials sealed with KMS (ports/credentials.py).

The key is the template's ``CredentialsKey`` (``BILLOW_CREDENTIALS_KEY``); the local stack
creates it on the emulator, so the same code runs there. The encryption context names the
tenant, the mode and the gateway: KMS refuses to decrypt under any other, and CloudTrail
records it with every use of the key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from billow.domain.tenancy import Scope


def _context(scope: Scope, gateway_id: str) -> dict[str, str]:
    return {
        "billow:tenant_id": scope.tenant_id,
        "billow:livemode": "true" if scope.livemode else "false",
        "billow:gateway_id": gateway_id,
    }


class KmsCredentialVault:
    def __init__(self, client: Any, key_id: str) -> None:
        self.client = client
        self.key_id = key_id

    def seal(self, scope: Scope, gateway_id: str, credentials: Mapping[str, str]) -> str:
        if not self.key_id:
            raise RuntimeError("BILLOW_CREDENTIALS_KEY is not set: gateway credentials cannot be sealed")
        encrypted = self.client.encrypt(
            KeyId=self.key_id,
            Plaintext=json.dumps(dict(credentials), sort_keys=True).encode(),
            EncryptionContext=_context(scope, gateway_id),
        )
        return base64.b64encode(encrypted["CiphertextBlob"]).decode()

    def open(self, scope: Scope, gateway_id: str, sealed: str) -> dict[str, str]:
        decrypted = self.client.decrypt(
            CiphertextBlob=base64.b64decode(sealed),
            EncryptionContext=_context(scope, gateway_id),
        )
        opened: dict[str, str] = json.loads(decrypted["Plaintext"])
        return opened
