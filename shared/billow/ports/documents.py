"""The documents ports: where rendered PDFs and e-invoices are kept, and who renders them.

Rendering needs fpdf2, which only the documents function carries (template.yaml's
DocumentsLayer); the API asks it through ``DocumentRendering`` and hands out presigned URLs
of what it stored. Tests and the local stack render in the same process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from billow.domain.tenancy import Scope

DocumentSource = Literal["invoice", "credit_note"]
DocumentFormat = Literal["pdf", "ubl", "cii"]

CONTENT_TYPES: dict[str, str] = {"pdf": "application/pdf", "ubl": "application/xml", "cii": "application/xml"}


@dataclass(frozen=True)
class DocumentRequest:
    """Render one document of one invoice or credit note at the version the caller read."""

    scope: Scope
    source: DocumentSource
    source_id: str
    format: DocumentFormat

    def to_event(self) -> dict[str, Any]:
        return {
            "tenant_id": self.scope.tenant_id,
            "livemode": self.scope.livemode,
            "source": self.source,
            "source_id": self.source_id,
            "format": self.format,
        }

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> DocumentRequest:
        return cls(
            scope=Scope(str(event["tenant_id"]), bool(event["livemode"])),
            source=event["source"],
            source_id=str(event["source_id"]),
            format=event["format"],
        )


@dataclass(frozen=True)
class StoredDocument:
    key: str
    file_name: str
    content_type: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "file_name": self.file_name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredDocument:
        return cls(
            key=str(data["key"]),
            file_name=str(data["file_name"]),
            content_type=str(data["content_type"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
        )


class DocumentStore(Protocol):
    def find(self, key: str) -> StoredDocument | None:
        """The stored document under ``key`` with its metadata, or None."""
        ...

    def put(self, document: StoredDocument, body: bytes) -> None: ...

    def link(self, document: StoredDocument, expires_in_seconds: int) -> str:
        """A URL anyone holding it may fetch the document from until it expires."""
        ...


class DocumentRendering(Protocol):
    def render(self, request: DocumentRequest) -> StoredDocument:
        """Render and store the document (or find it already stored). Raises the domain's
        errors (not found, e-invoice incomplete) as the API should answer them."""
        ...
