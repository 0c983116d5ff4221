"""The mail the emulated tenant accepted through ``sendMail``, decoded for tests and the demo.

Graph answers ``202 Accepted`` and shows nothing of what it will deliver, so a test that wants
to know what a user was told needs somewhere to look: every accepted message lands here as a
:class:`SentMessage`, whichever form it was sent in (JSON ``message`` or base64 MIME), with
its recipients as plain addresses, its text and HTML bodies decoded and its headers kept::

    mail = emu.outbox.to("adele@fabrikam.example")[-1]
    assert "wasn't me" in mail.text
    link = mail.links()[0]

The outbox shares the tenant's lock, so a test may read it while requests are being served.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import html
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

from ._common import utcnow

_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s+")


class MimeError(ValueError):
    """The body of a MIME ``sendMail`` is not base64, or not a message once decoded."""


@dataclass(frozen=True)
class SentMessage:
    """One accepted message. ``sender`` is the mailbox the call named in its path (the one
    Exchange sends as); ``from_address`` is what the message itself claims, if anything."""

    sender: str
    sender_id: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    form: str  # "json" or "mime"
    save_to_sent_items: bool = True
    from_address: str | None = None
    reply_to: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sent_at: datetime = field(default_factory=utcnow)

    @property
    def recipients(self) -> list[str]:
        """Every address the message goes to: to, then cc, then bcc."""
        return [*self.to, *self.cc, *self.bcc]

    def links(self) -> list[str]:
        """The URLs in the bodies (HTML ``href`` values and bare URLs), each once, in order."""
        found = extract_links(self.text or "") + extract_links(self.html or "", html_body=True)
        return list(dict.fromkeys(found))


class Outbox:
    """Thread-safe, append-only (until cleared) list of accepted messages."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._messages: list[SentMessage] = []

    def add(self, message: SentMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def messages(self) -> list[SentMessage]:
        """A snapshot, oldest first."""
        with self._lock:
            return list(self._messages)

    def to(self, address: str) -> list[SentMessage]:
        """Messages with ``address`` among their recipients (case-insensitive), oldest first."""
        wanted = address.lower()
        return [m for m in self.messages() if wanted in (r.lower() for r in m.recipients)]

    def clear(self) -> None:
        with self._lock:
            self._messages = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)

    def __iter__(self) -> Iterator[SentMessage]:
        return iter(self.messages())


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "href" and value and _URL.match(value):
                self.found.append(value)


def extract_links(body: str, *, html_body: bool = False) -> list[str]:
    """The http(s) URLs in a body: for HTML, ``href`` values first, then URLs in its text."""
    found: list[str] = []
    if html_body:
        parser = _Hrefs()
        parser.feed(body)
        parser.close()
        found.extend(parser.found)
        body = html.unescape(body)
    # Sentence punctuation right after a URL is not part of it.
    found.extend(url.rstrip(".,;:!?") for url in _URL.findall(body))
    return list(dict.fromkeys(found))


def decode_mime(raw: bytes) -> EmailMessage:
    """The message in a MIME ``sendMail`` body: base64 (line breaks allowed, as the
    documented example has them) of an RFC 5322 message."""
    compact = _WHITESPACE.sub(b"", raw)
    if not compact:
        raise MimeError("empty MIME content")
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MimeError(str(exc)) from exc
    message = email.message_from_bytes(decoded, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise MimeError("no message headers")
    return message


def _addresses(values: list[str]) -> list[str]:
    return [address for _, address in getaddresses(values) if address]


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def from_mime(message: EmailMessage, *, sender: str, sender_id: str) -> SentMessage:
    """An accepted MIME message: recipients from To/Cc/Bcc, the text/plain and text/html
    parts (a single-part message fills the one it is), every header as sent."""
    headers = {str(k): str(v) for k, v in message.items()}
    return SentMessage(
        sender=sender,
        sender_id=sender_id,
        to=_addresses(message.get_all("To") or []),
        cc=_addresses(message.get_all("Cc") or []),
        bcc=_addresses(message.get_all("Bcc") or []),
        subject=str(message.get("Subject") or ""),
        text=_part(message, "plain"),
        html=_part(message, "html"),
        headers=headers,
        form="mime",
        from_address=next(iter(_addresses(message.get_all("From") or [])), None),
        reply_to=_addresses(message.get_all("Reply-To") or []),
    )


def _json_addresses(recipients: Any) -> list[str]:
    if recipients is None:
        return []
    if not isinstance(recipients, list):
        raise ValueError("recipients must be a collection")
    out: list[str] = []
    for recipient in recipients:
        address = (recipient or {}).get("emailAddress", {}).get("address")
        if not isinstance(address, str) or "@" not in address:
            raise ValueError(f"invalid recipient: {recipient!r}")
        out.append(address)
    return out


def from_json(
    message: dict[str, Any], *, sender: str, sender_id: str, save_to_sent_items: bool
) -> SentMessage:
    """An accepted JSON ``message``: ``body.contentType`` ``text`` or ``html`` (any case)
    decides which body it fills; ``internetMessageHeaders`` become the headers.
    Raises ``ValueError`` for a recipient without an address."""
    body = message.get("body") or {}
    content = body.get("content")
    kind = str(body.get("contentType") or "text").lower()
    headers = {
        str(h.get("name")): str(h.get("value"))
        for h in message.get("internetMessageHeaders") or []
        if isinstance(h, dict)
    }
    sent_from = (message.get("from") or {}).get("emailAddress", {}).get("address")
    return SentMessage(
        sender=sender,
        sender_id=sender_id,
        to=_json_addresses(message.get("toRecipients")),
        cc=_json_addresses(message.get("ccRecipients")),
        bcc=_json_addresses(message.get("bccRecipients")),
        subject=str(message.get("subject") or ""),
        text=content if kind == "text" and isinstance(content, str) else None,
        html=content if kind == "html" and isinstance(content, str) else None,
        headers=headers,
        form="json",
        save_to_sent_items=save_to_sent_items,
        from_address=sent_from if isinstance(sent_from, str) else None,
        reply_to=_json_addresses(message.get("replyTo")),
    )
