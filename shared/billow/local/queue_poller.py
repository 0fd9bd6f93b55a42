"""Run the template's SQS-triggered functions locally the way Lambda's poller does.

moto's own event-source mapping invokes the function inside ``SendMessage`` with one message
and ignores ``batchItemFailures``, so nothing failed is ever redelivered and FIFO groups are
not respected. This poller instead, for each ``SQS`` event of a function (provision.py
``QueueMapping``), receives batches from moto (which keeps FIFO message groups in flight
apart, like SQS), invokes the handler through lambda_hook with Lambda's record shape, deletes
the messages that succeeded and leaves the reported failures to reappear after their
visibility timeout (or whatever the handler set it to). A raising handler leaves the whole
batch. It never stops on an error.

Public API::

    QueuePoller(mappings: Sequence[QueueMapping], *, endpoint_url: str, region: str,
                poll_seconds: float = 0.1, invoke = lambda_hook.invoke)
    start() -> None; stop(timeout: float = 5.0) -> None   # a polling thread per queue
    poll_once() -> int            # one pass over every queue; the number of messages handled
    idle() -> bool                # True when the last pass found nothing anywhere
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import boto3

from billow.local import lambda_hook
from billow.local.lambda_hook import InvocationResult
from billow.local.provision import QueueMapping

logger = logging.getLogger(__name__)


def sqs_event(mapping: QueueMapping, messages: Sequence[Any], region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller hands a function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}),
                "messageAttributes": dict(m.get("MessageAttributes") or {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": mapping.queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class QueuePoller:
    def __init__(
        self,
        mappings: Sequence[QueueMapping],
        *,
        endpoint_url: str,
        region: str,
        poll_seconds: float = 0.1,
        invoke: Callable[[str, Any], InvocationResult] = lambda_hook.invoke,
    ) -> None:
        self.mappings = list(mappings)
        self.region = region
        self.poll_seconds = poll_seconds
        self.invoke = invoke
        self.client: Any = boto3.client(
            "sqs",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._idle = True

    def start(self) -> None:
        """One thread per queue, as Lambda polls each event source on its own."""
        if self._threads:
            return
        self._stop.clear()
        for mapping in self.mappings:
            thread = threading.Thread(
                target=self._run, args=(mapping,), name=f"billow-poller-{mapping.function_name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def idle(self) -> bool:
        return self._idle

    def _run(self, mapping: QueueMapping) -> None:
        while not self._stop.is_set():
            try:
                handled = self._poll(mapping)
            except Exception:
                logger.exception("polling the local queues failed")
                handled = 0
            if not handled:
                self._stop.wait(self.poll_seconds)

    def poll_once(self) -> int:
        handled = 0
        for mapping in self.mappings:
            handled += self._poll(mapping)
        self._idle = handled == 0
        return handled

    def _poll(self, mapping: QueueMapping) -> int:
        received = self.client.receive_message(
            QueueUrl=mapping.queue_url,
            MaxNumberOfMessages=min(mapping.batch_size, 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages = received.get("Messages") or []
        if not messages:
            return 0
        started = time.perf_counter()
        try:
            result = self.invoke(mapping.function_name, sqs_event(mapping, messages, self.region))
        except Exception:
            logger.exception("function %s failed on a batch of %d", mapping.function_name, len(messages))
            return len(messages)
        if result.errored:
            logger.warning("function %s errored; its batch comes back", mapping.function_name)
            return len(messages)
        failed: set[str] = set()
        if mapping.report_batch_item_failures and isinstance(result.value, dict):
            failed = {str(f["itemIdentifier"]) for f in result.value.get("batchItemFailures") or ()}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.client.delete_message_batch(
                QueueUrl=mapping.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        logger.debug(
            "%s handled %d (%d failed) in %.3f s",
            mapping.function_name,
            len(messages),
            len(failed),
            time.perf_counter() - started,
        )
        return len(messages)
