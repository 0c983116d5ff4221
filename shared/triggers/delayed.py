"""Messages that must wait: a held reset's work item, sent with a delay the queue keeps.

The queue output bindings send at once, and a worker that received a reset before its hold
ended could only put it back for the queue's visibility timeout (30 s), over and over, until
``maxDequeueCount`` sent it to the poison queue. So a held reset's message is sent by the app
itself with the queue's own visibility delay (at most seven days, the message's lifetime), on
the same connection the bindings use, base64-encoded as the queue trigger expects
(``host.json``). Nothing waits in a function meanwhile.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clock import utc_now
from shared.identity import get_credential
from shared.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from azure.functions import Out
    from azure.storage.queue.aio import QueueClient


def _client(settings: Settings, queue_name: str) -> QueueClient:
    from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    policies: dict[str, Any] = {
        "message_encode_policy": TextBase64EncodePolicy(),
        "message_decode_policy": BinaryBase64DecodePolicy(),
    }
    if settings.storage_connection_string:
        return QueueClient.from_connection_string(
            settings.storage_connection_string, queue_name, **policies
        )
    if not settings.storage_queue_service_uri:
        raise SettingsError(
            "no storage connection: set RESET_STORAGE or RESET_STORAGE__queueServiceUri"
        )
    client_id = settings.storage_client_id or settings.managed_identity_client_id
    return QueueClient(
        settings.storage_queue_service_uri,
        queue_name,
        credential=get_credential(client_id),
        **policies,
    )


async def send_later(
    settings: Settings, queue_name: str, messages: list[str], delay: timedelta
) -> None:
    """Put ``messages`` on the queue, each invisible for ``delay`` (whole seconds, rounded up)."""
    if not messages:
        return
    seconds = max(0, math.ceil(delay.total_seconds()))
    async with _client(settings, queue_name) as client:
        for message in messages:
            await client.send_message(message, visibility_timeout=seconds)


async def queue_work_item(item: str, hold_until: datetime | None, queue: Out[str]) -> None:
    """Queue a work item: through the output binding, or, for a reset still held, with the
    delay left."""
    left = hold_until - utc_now() if hold_until is not None else None
    if left is None or left <= timedelta(0):
        queue.set(item)
        return
    settings = get_settings()
    await send_later(settings, settings.reset_queue_name, [item], left)
