"""A stand-in for the Functions host's Storage Queues extension, driven by the tests.

The host cannot run here, yet the app's queue functions depend on what it does around
them: how message text is encoded on the wire, which ``dequeue_count`` a retry carries,
when a failing message stops being retried and lands in ``<queue>-poison``. This module
does those things against a real queue service (Azurite), with the knobs read from the
repository's ``host.json``, following the extension's documented and published behaviour:

* a batch is received with one Get Messages call, each message invisible while it runs;
* success deletes the message; failure releases it after ``visibilityTimeout``, unless its
  ``dequeue_count`` has reached ``maxDequeueCount``, when its body is copied to the poison
  queue (created on first use) and the original deleted;
* a message already received more than ``maxDequeueCount`` times (a host died while running
  it) goes to the poison queue without running the function;
* with ``messageEncoding: base64`` a message that is not valid Base64 is moved to the poison
  queue as stored, without running the function -- the usual symptom of a producer that
  forgot to encode;
* a missing trigger queue reads as empty, while output bindings create their queue.

What it leaves out: polling intervals, running a batch in parallel, renewing visibility
of long-running messages, and the function timeout.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import inspect
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import azure.functions as func
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as WorkerQueueMessage
from azure.storage.queue import QueueMessage as StorageQueueMessage
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from tests.support.app import output_queues
from tests.support.bindings import Out
from tests.support.paths import HOST_JSON

logger = logging.getLogger(__name__)

Encoding = Literal["base64", "none"]
Handler = Callable[[func.QueueMessage], Awaitable[None] | None]

# Defaults of the Storage Queues extension when host.json leaves a setting out.
DEFAULT_MAX_DEQUEUE_COUNT = 5
DEFAULT_MESSAGE_ENCODING: Encoding = "base64"
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 0.0
DEFAULT_BATCH_SIZE = 16
# The queue service's own limits on one Get/Peek Messages call.
MAX_MESSAGES_PER_CALL = 32

# Errors the extension treats as "someone else already settled this message".
_SETTLED_ELSEWHERE = frozenset(
    {"PopReceiptMismatch", "MessageNotFound", "QueueNotFound", "QueueBeingDeleted"}
)
_TIMESPAN = re.compile(
    r"^(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2})"
    r"(?::(?P<seconds>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?)?$"
)
_BASE64_WHITESPACE = re.compile(r"[ \t\r\n]")


def parse_timespan(value: str) -> float:
    """Seconds in a .NET ``TimeSpan`` string (``[d.]hh:mm[:ss[.fffffff]]``), the format
    host.json uses for durations."""
    match = _TIMESPAN.match(value.strip())
    if match is None:
        raise ValueError(f"not a TimeSpan: {value!r} (expected [d.]hh:mm[:ss[.fffffff]])")
    parts = match.groupdict()
    seconds = (
        int(parts["days"] or 0) * 86400
        + int(parts["hours"]) * 3600
        + int(parts["minutes"]) * 60
        + int(parts["seconds"] or 0)
    )
    if parts["fraction"]:
        seconds += int(parts["fraction"]) / 10 ** len(parts["fraction"])
    return float(seconds)


@dataclass(frozen=True)
class QueueSettings:
    """The ``extensions.queues`` settings this stand-in honours."""

    max_dequeue_count: int = DEFAULT_MAX_DEQUEUE_COUNT
    message_encoding: Encoding = DEFAULT_MESSAGE_ENCODING
    visibility_timeout_seconds: float = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
    batch_size: int = DEFAULT_BATCH_SIZE

    @classmethod
    def from_host_json(cls, path: Path) -> QueueSettings:
        document = json.loads(path.read_text(encoding="utf-8"))
        section: Any = document.get("extensions", {}).get("queues", {})
        if not isinstance(section, dict):
            raise ValueError(f"{path}: extensions.queues must be an object")
        encoding = str(section.get("messageEncoding", DEFAULT_MESSAGE_ENCODING)).lower()
        if encoding not in ("base64", "none"):
            raise ValueError(f"{path}: messageEncoding must be 'base64' or 'none'")
        max_dequeue_count = int(section.get("maxDequeueCount", DEFAULT_MAX_DEQUEUE_COUNT))
        if max_dequeue_count < 1:
            raise ValueError(f"{path}: maxDequeueCount must be at least 1")
        batch_size = int(section.get("batchSize", DEFAULT_BATCH_SIZE))
        if not 1 <= batch_size <= MAX_MESSAGES_PER_CALL:
            raise ValueError(f"{path}: batchSize must be between 1 and {MAX_MESSAGES_PER_CALL}")
        visibility = section.get("visibilityTimeout")
        return cls(
            max_dequeue_count=max_dequeue_count,
            message_encoding="base64" if encoding == "base64" else "none",
            visibility_timeout_seconds=(
                DEFAULT_VISIBILITY_TIMEOUT_SECONDS
                if visibility is None
                else parse_timespan(str(visibility))
            ),
            batch_size=batch_size,
        )


@dataclass
class QueueRunReport:
    """What happened to each message a run received, by message id.

    A failure that exhausted the retries appears in both ``failed`` and ``poisoned``; a
    message poisoned without running the function (undecodable, or already over the
    limit) appears in ``poisoned`` only.
    """

    received: list[str] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    poisoned: list[str] = field(default_factory=list)

    def extend(self, other: QueueRunReport) -> None:
        self.received.extend(other.received)
        self.processed.extend(other.processed)
        self.failed.extend(other.failed)
        self.poisoned.extend(other.poisoned)


def _whole_seconds(seconds: float) -> int:
    """The queue service takes whole seconds; round up so a message is never visible
    sooner than asked."""
    if seconds < 0:
        raise ValueError("a visibility timeout cannot be negative")
    return math.ceil(seconds)


class QueueHost:
    """Plays the host's queue listener and queue output binding for one storage account.

    Each ``run_once`` call is one poll of one listener; calling it from several asyncio
    tasks, or from several ``QueueHost`` instances, behaves like several host instances
    sharing the queue, because exclusivity comes from the service's visibility timeout.
    """

    def __init__(
        self,
        connection_string: str,
        *,
        host_json: Path = HOST_JSON,
        retry_visibility_seconds: float | None = None,
    ) -> None:
        self.settings = QueueSettings.from_host_json(host_json)
        self.retry_visibility_seconds = (
            self.settings.visibility_timeout_seconds
            if retry_visibility_seconds is None
            else retry_visibility_seconds
        )
        _whole_seconds(self.retry_visibility_seconds)
        # No encode/decode policy on the client: the queue service's Base64 decode policy
        # works a whole page at a time, so one bad message would fail the batch, whereas
        # the host decodes, and poisons, message by message.
        self._service = QueueServiceClient.from_connection_string(connection_string)
        self._clients: dict[str, QueueClient] = {}
        self._closed = False

    @property
    def max_dequeue_count(self) -> int:
        return self.settings.max_dequeue_count

    @property
    def message_encoding(self) -> Encoding:
        return self.settings.message_encoding

    def poison_queue_name(self, queue_name: str) -> str:
        return f"{queue_name}-poison"

    def _client(self, queue_name: str) -> QueueClient:
        if self._closed:
            raise RuntimeError("this QueueHost is closed")
        client = self._clients.get(queue_name)
        if client is None:
            client = self._service.get_queue_client(queue_name)
            self._clients[queue_name] = client
        return client

    # -- encoding --------------------------------------------------------------------------

    def encode(self, body: str) -> str:
        """The stored form of ``body`` under this host's ``messageEncoding``."""
        if self.message_encoding == "base64":
            return TextBase64EncodePolicy().encode(body)
        return body

    def _stored_form(self, body: bytes) -> str:
        if self.message_encoding == "base64":
            return base64.b64encode(body).decode("ascii")
        return body.decode("utf-8")

    def _decode(self, stored: str) -> bytes | None:
        """The body the function sees, or ``None`` when the host could not decode it.

        Whitespace is ignored, as .NET's Base64 decoder does; anything else outside the
        alphabet fails.
        """
        if self.message_encoding == "none":
            return stored.encode("utf-8")
        try:
            return base64.b64decode(_BASE64_WHITESPACE.sub("", stored), validate=True)
        except (binascii.Error, ValueError):
            return None

    # -- queue output binding --------------------------------------------------------------

    async def create_queue(self, name: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._client(name).create_queue()

    async def send(self, queue_name: str, body: str) -> None:
        """What a queue output binding does with a string: encode it per
        ``messageEncoding`` and add it, creating the queue if it does not exist yet."""
        await self._send_stored(queue_name, self.encode(body))

    async def _send_stored(self, queue_name: str, stored: str) -> None:
        client = self._client(queue_name)
        try:
            await client.send_message(stored)
        except ResourceNotFoundError:
            await self.create_queue(queue_name)
            await client.send_message(stored)

    # -- queue trigger listener ------------------------------------------------------------

    async def run_once(
        self,
        queue_name: str,
        handler: Handler,
        *,
        max_messages: int | None = None,
        processing_visibility_seconds: float = 60,
    ) -> QueueRunReport:
        """One poll: receive up to ``max_messages`` (host.json ``batchSize`` by default)
        visible messages and run ``handler`` on each in turn, settling each as the host
        would."""
        batch = self.settings.batch_size if max_messages is None else max_messages
        if not 1 <= batch <= MAX_MESSAGES_PER_CALL:
            raise ValueError(f"max_messages must be between 1 and {MAX_MESSAGES_PER_CALL}")
        visibility = max(1, _whole_seconds(processing_visibility_seconds))
        report = QueueRunReport()
        client = self._client(queue_name)
        try:
            messages = await self._receive(client, batch, visibility)
        except ResourceNotFoundError:
            return report
        for message in messages:
            report.received.append(message.id)
            await self._process(queue_name, client, message, handler, report)
        return report

    async def drain(
        self,
        queue_name: str,
        handler: Handler,
        *,
        max_rounds: int = 50,
        max_messages: int | None = None,
        processing_visibility_seconds: float = 60,
    ) -> QueueRunReport:
        """Poll until a poll receives nothing; raises if the queue is still not empty
        after ``max_rounds``, which means the test's retry visibility keeps messages
        coming back forever."""
        combined = QueueRunReport()
        for _ in range(max_rounds):
            report = await self.run_once(
                queue_name,
                handler,
                max_messages=max_messages,
                processing_visibility_seconds=processing_visibility_seconds,
            )
            if not report.received:
                return combined
            combined.extend(report)
        raise RuntimeError(f"queue {queue_name!r} still had messages after {max_rounds} rounds")

    async def _receive(
        self, client: QueueClient, batch: int, visibility: int
    ) -> list[StorageQueueMessage]:
        pages = client.receive_messages(
            messages_per_page=batch, visibility_timeout=visibility
        ).by_page()
        async for page in pages:
            return [message async for message in page]
        return []

    async def _process(
        self,
        queue_name: str,
        client: QueueClient,
        message: StorageQueueMessage,
        handler: Handler,
        report: QueueRunReport,
    ) -> None:
        stored = message.content if isinstance(message.content, str) else ""
        dequeue_count = int(message.dequeue_count or 0)
        body = self._decode(stored)
        if body is None:
            logger.warning(
                "Message %s in %r is not valid Base64; moving it to the poison queue as stored",
                message.id,
                queue_name,
            )
            await self._poison(queue_name, client, message, stored)
            report.poisoned.append(message.id)
            return
        if dequeue_count > self.max_dequeue_count:
            await self._poison(queue_name, client, message, self._stored_form(body))
            report.poisoned.append(message.id)
            return

        trigger_message = _worker_message(message, body)
        outputs = output_queues(handler)
        slots: dict[str, Out[str]] = {arg: Out() for arg in outputs}
        try:
            outcome = handler(trigger_message, **slots)
            if inspect.isawaitable(outcome):
                await outcome
            # Like the host: output bindings are written once the function has returned.
            for arg, slot in slots.items():
                if slot.set_count:
                    await self.send(outputs[arg], slot.get())
        except Exception as exc:
            report.failed.append((message.id, repr(exc)))
            if dequeue_count >= self.max_dequeue_count:
                await self._poison(queue_name, client, message, self._stored_form(body))
                report.poisoned.append(message.id)
            else:
                await self._release(client, message)
            return
        await self._delete(client, message)
        report.processed.append(message.id)

    async def _poison(
        self,
        queue_name: str,
        client: QueueClient,
        message: StorageQueueMessage,
        stored: str,
    ) -> None:
        poison = self.poison_queue_name(queue_name)
        logger.warning(
            "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            self.max_dequeue_count,
            poison,
        )
        await self._send_stored(poison, stored)
        await self._delete(client, message)

    async def _release(self, client: QueueClient, message: StorageQueueMessage) -> None:
        try:
            await client.update_message(
                message.id,
                pop_receipt=message.pop_receipt,
                visibility_timeout=_whole_seconds(self.retry_visibility_seconds),
            )
        except HttpResponseError as exc:
            if not _settled_elsewhere(exc):
                raise

    async def _delete(self, client: QueueClient, message: StorageQueueMessage) -> None:
        try:
            await client.delete_message(message.id, pop_receipt=message.pop_receipt)
        except HttpResponseError as exc:
            if not _settled_elsewhere(exc):
                raise
            logger.debug("Message %s was already settled elsewhere: %s", message.id, exc)

    # -- assertions ------------------------------------------------------------------------

    async def raw_bodies(self, queue_name: str) -> list[str]:
        """The stored text of up to 32 visible messages, oldest first; ``[]`` if the queue
        does not exist."""
        try:
            peeked = await self._client(queue_name).peek_messages(
                max_messages=MAX_MESSAGES_PER_CALL
            )
        except ResourceNotFoundError:
            return []
        return [m.content if isinstance(m.content, str) else "" for m in peeked]

    async def bodies(self, queue_name: str) -> list[str]:
        """The decoded text of up to 32 visible messages, oldest first; ``[]`` if the queue
        does not exist. Raises if a message is not in this host's encoding."""
        decoded: list[str] = []
        for stored in await self.raw_bodies(queue_name):
            body = self._decode(stored)
            if body is None:
                raise ValueError(f"message in {queue_name!r} is not valid Base64: {stored!r}")
            decoded.append(body.decode("utf-8"))
        return decoded

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._clients.clear()
        await self._service.close()

    async def __aenter__(self) -> QueueHost:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _settled_elsewhere(exc: HttpResponseError) -> bool:
    # The SDK usually gives a StorageErrorCode member, but a plain string for codes it does
    # not know; compare the text either way.
    code = getattr(exc, "error_code", None)
    code_text = str(getattr(code, "value", code))
    return exc.status_code == 404 or code_text in _SETTLED_ELSEWHERE


def _worker_message(message: StorageQueueMessage, body: bytes) -> func.QueueMessage:
    """The message object the Python worker builds from the host's trigger metadata; unlike
    ``func.QueueMessage`` it carries ``dequeue_count`` and the timestamps."""
    return WorkerQueueMessage(  # type: ignore[no-untyped-call]
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        pop_receipt=message.pop_receipt,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        time_next_visible=message.next_visible_on,
    )
