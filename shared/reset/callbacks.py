"""Completion callbacks: which URLs may be called, and one signed delivery attempt.

A callback is an outbound request to a URL a caller chose, so it is a server-side request
forgery risk: HTTPS only, to hosts the operator allowed (``CALLBACK_ALLOWED_HOSTS``), checked
when the request is admitted and again before every attempt; no redirects; short timeouts; at
most a few KiB of the answer read. Plain http is possible only to a loopback address, only with
``CALLBACK_ALLOW_LOOPBACK_HTTP`` (local runs; the templates never set it). The time limit is on
the whole attempt (connect, send, read), not on each read: a receiver dripping its answer a byte
at a time would otherwise hold a worker as long as it liked.

Every attempt is signed per the Standard Webhooks specification (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``) with ``CALLBACK_SIGNING_SECRET``; the id is the
same on every attempt for the same reset and event, so receivers can drop duplicates. The URL
is never logged: only its host.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.models import CallbackEvent, masked_callback_url
from shared.reset.status import status_view
from shared.settings import Settings

if TYPE_CHECKING:
    import httpx

    from shared.ledger import Ledger, LedgerRecord

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0
# Each network operation, and the whole attempt: an attempt past it is one with no answer.
TIMEOUT_SECONDS = 10.0
# What is read of a receiver's answer: enough for a log line's status, never a download.
MAX_ANSWER_BYTES = 4096
_LOOPBACK_NAMES = {"localhost"}
# Set while a callback is sent: httpx logs every request's full URL at INFO, and a callback URL
# may carry the receiver's secret in its query string or path.
_SENDING = contextvars.ContextVar("sending_callback", default=False)
_EVENTS = {
    "succeeded": CallbackEvent.succeeded,
    "failed": CallbackEvent.failed,
    "refused": CallbackEvent.refused,
    "cancelled": CallbackEvent.cancelled,
}


class CallbackNotAllowedError(Exception):
    """The request's callback cannot be accepted; ``kind`` names why, ``detail`` says it
    without the URL."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Exact names, or ``*.domain`` for any name below that domain (not the domain itself)."""
    host = host.lower().rstrip(".")
    return any(
        host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern
        for pattern in allowed
    )


def check_callback_allowed(url: str, settings: Settings) -> None:
    """Raise ``CallbackNotAllowedError`` unless the app may call ``url`` back."""
    if settings.callback_signing_secret is None:
        raise CallbackNotAllowedError(
            "callback-not-configured",
            "This app sends no callbacks: CALLBACK_SIGNING_SECRET is not set (or its Key Vault "
            "reference does not resolve). Poll the reset's Location instead.",
        )
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" and not (
        parts.scheme == "http" and settings.callback_allow_loopback_http and _loopback(host)
    ):
        raise CallbackNotAllowedError("callback-not-allowed", "callback_url must be https.")
    if not host_allowed(host, settings.callback_allowed_hosts):
        raise CallbackNotAllowedError(
            "callback-not-allowed",
            f"Callbacks to {host} are not allowed by this app's CALLBACK_ALLOWED_HOSTS.",
        )


def callback_event(record: LedgerRecord) -> CallbackEvent | None:
    """The event to send, from its row (never from a message anyone could write): the one the
    callback was armed for again (a dispute), else how the reset ended."""
    if record.callback is not None and record.callback.event:
        return CallbackEvent(record.callback.event)
    return _EVENTS.get(str(record.status))


def callback_body(record: LedgerRecord, event: CallbackEvent) -> str:
    """What ``GET /api/resets/{id}`` shows of the reset, and the event: no pass value (the
    ledger never has one), phone numbers masked."""
    return json.dumps({"event": str(event), **status_view(record)}, separators=(",", ":"))


@dataclass(frozen=True)
class Attempt:
    """How one delivery attempt went: the receiver's status (None: no answer) and why not."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class CallbackSender:
    """One HTTP client per process for callbacks: no redirects, short timeouts."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    async def send(self, record: LedgerRecord, event: CallbackEvent, settings: Settings) -> Attempt:
        """One signed attempt to the reset's callback URL, checked against the settings first
        (they may have changed since admission). Raises ``CallbackNotAllowedError``."""
        import httpx
        from standardwebhooks.webhooks import Webhook

        assert record.callback is not None
        assert record.callback.url is not None
        url = record.callback.url
        check_callback_allowed(url, settings)
        assert settings.callback_signing_secret is not None
        body = callback_body(record, event)
        webhook_id = f"msg_{record.id}_{event.name}"
        now = datetime.now(UTC)
        signature = Webhook(settings.callback_signing_secret.get_secret_value()).sign(
            webhook_id, now, body
        )
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        if self._http is None:
            logging.getLogger("httpx").addFilter(_hide_callback_urls)
            self._http = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            )
        sending = _SENDING.set(True)
        try:
            # httpx's timeouts bound each read; this bounds connect, send and every read together.
            async with asyncio.timeout(TIMEOUT_SECONDS):
                async with self._http.stream("POST", url, content=body, headers=headers) as answer:
                    await _read_at_most(answer, MAX_ANSWER_BYTES)
                    return Attempt(answer.status_code)
        except TimeoutError:
            return Attempt(None, f"no complete answer within {TIMEOUT_SECONDS:g} s")
        except httpx.HTTPError as exc:
            return Attempt(None, type(exc).__name__)
        finally:
            _SENDING.reset(sending)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _hide_callback_urls(record: logging.LogRecord) -> bool:
    """A filter on httpx's logger: while a callback is sent, URLs are logged as their host."""
    if _SENDING.get() and isinstance(record.args, tuple):
        record.args = tuple(
            masked_callback_url(str(a)) if type(a).__name__ == "URL" else a for a in record.args
        )
    return True


async def _read_at_most(answer: Any, limit: int) -> None:
    read = 0
    async for chunk in answer.aiter_raw():
        read += len(chunk)
        if read >= limit:
            break


sender = CallbackSender()


def describe(record: LedgerRecord, attempt: Attempt) -> str:
    """An attempt as logs and audit events tell it: the host, never the URL."""
    host = record.callback.host if record.callback else "?"
    answer = f"HTTP {attempt.status}" if attempt.status is not None else attempt.error
    return f"callback to {host}: {answer}"


async def arm_callback(ledger: Ledger, record: LedgerRecord, event: CallbackEvent) -> str | None:
    """Send ``event`` now, before the reset's end (a reset awaiting proof gives its caller the
    link); the signed callback message to queue, or None when the request named no callback."""
    if record.callback is None:
        return None
    armed = await ledger.callback_again(record.id, str(event))
    if armed is None:
        return None
    from shared.reset.callback_messages import callback_message
    from shared.settings import get_settings

    return callback_message(get_settings().keyring(), record.id)


async def arm_end_callback(ledger: Ledger, record: LedgerRecord) -> LedgerRecord:
    """A reset that sent an earlier event (awaiting proof) sends its end's too: arm it again
    for the event its status ends with; the row as it now is."""
    callback = record.callback
    if callback is None or not callback.event or not record.status.finished:
        return record
    end = _EVENTS.get(str(record.status))
    if end is None or callback.event == str(end) or callback.event == str(CallbackEvent.disputed):
        return record
    armed = await ledger.callback_again(record.id, str(end))
    return armed or record
