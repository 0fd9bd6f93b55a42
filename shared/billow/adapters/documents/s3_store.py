"""Rendered documents in the documents bucket (template.yaml's DocumentsBucket).

Keys are deterministic per document and version (services/documents.py), so a document is
rendered once and every later request finds it with one HeadObject. The checksum and the file
name travel as object metadata; links are presigned GETs that name the file for the browser.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from billow.ports.documents import StoredDocument


class S3DocumentStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def find(self, key: str) -> StoredDocument | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        meta = head.get("Metadata") or {}
        return StoredDocument(
            key=key,
            file_name=meta.get("file-name", key.rsplit("/", 1)[-1]),
            content_type=head.get("ContentType", "application/octet-stream"),
            size=int(head.get("ContentLength", 0)),
            sha256=meta.get("sha256", ""),
        )

    def put(self, document: StoredDocument, body: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=document.key,
            Body=body,
            ContentType=document.content_type,
            Metadata={"sha256": document.sha256, "file-name": document.file_name},
        )

    def link(self, document: StoredDocument, expires_in_seconds: int) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": document.key,
                "ResponseContentType": document.content_type,
                "ResponseContentDisposition": f'attachment; filename="{document.file_name}"',
            },
            ExpiresIn=expires_in_seconds,
        )
        return url
