"""Completion callbacks: what a caller asks to be told, and what the app tells it.

A ticket that submitted a reset asynchronously often cannot poll (a Jira automation's web
request cannot follow a ``Location``), so it may name a ``callback_url``: when the reset ends,
the app POSTs the reset as ``GET /api/resets/{id}`` shows it, plus the ``event`` that ended it,
signed per the Standard Webhooks specification. Callback URLs often carry a secret (Power
Automate's in the query string, Jira automation's in the path), so everything but delivery
sees only the host.
"""

from __future__ import annotations

import base64
import binascii
import re
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

MAX_CALLBACK_URL = 2048
# A host name, an IPv4 address, or "*." and a domain of at least two labels; matched whole
# (fullmatch: "$" would also match before a final line break).
_HOST_PATTERN = re.compile(
    r"(?:\*\.(?=[^.]+\.[^.]+))?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)


class CallbackEvent(StrEnum):
    """Why a callback was sent: how the reset ended."""

    succeeded = "reset.succeeded"
    failed = "reset.failed"
    refused = "reset.refused"
    cancelled = "reset.cancelled"  # stopped before it ran (the caller, or the user notified)
    disputed = "reset.disputed"  # someone notified said "this wasn't me" after it ran
    # Admitted; the user must prove who they are on the page the callback links to.
    awaiting_verification = "reset.awaiting_verification"


class CallbackState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class CallbackView(BaseModel):
    """What a status read shows of a reset's callback: never the URL, only its host."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="The host the callback goes to (the URL itself is not shown).")
    state: CallbackState = Field(
        description="pending until the receiver answered 2xx (delivered) or every attempt "
        "failed (failed)."
    )
    attempts: int = Field(ge=0, description="Delivery attempts so far.")
    last_status: int | None = Field(
        default=None, description="The HTTP status of the last attempt (none: no answer)."
    )


def check_callback_url(value: str) -> str:
    """The shape every callback URL must have, whatever the app's settings allow.

    Errors never repeat the URL: it may carry a secret.
    """
    if len(value) > MAX_CALLBACK_URL:
        raise ValueError(f"must be at most {MAX_CALLBACK_URL} characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials before the host")
    if parts.fragment:
        raise ValueError("must not have a fragment")
    if not parts.hostname.isascii() or any(c.isspace() for c in value):
        raise ValueError("must be ASCII without spaces (punycode for international names)")
    if port == 0:
        raise ValueError("is not a valid URL")
    return value


def callback_host(url: str) -> str:
    """The URL's host, lower case: what logs, audit events and status reads show."""
    return (urlsplit(url).hostname or "").lower()


def masked_callback_url(url: str) -> str:
    """The URL as stored with the request and logged: scheme and host, nothing after."""
    return f"{urlsplit(url).scheme}://{callback_host(url)}/..."


def unresolved_key_vault_reference(value: object) -> bool:
    """App Service leaves a Key Vault reference it cannot resolve (no secret yet, no access) in
    place as the setting's text: that is no secret at all."""
    return isinstance(value, str) and value.strip().startswith("@Microsoft.KeyVault(")


def check_webhook_secret(value: SecretStr | None) -> SecretStr | None:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 24-64 random bytes."""
    if value is None:
        return None
    text = value.get_secret_value().removeprefix("whsec_")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64") from None
    if not 24 <= len(raw) <= 64:
        raise ValueError("must decode to 24-64 bytes")
    return value


def check_host_patterns(value: tuple[str, ...]) -> tuple[str, ...]:
    """Allowed callback hosts: exact names, or ``*.domain`` below a domain of two labels."""
    hosts = tuple(v.lower() for v in value)
    bad = [h for h in hosts if not _HOST_PATTERN.fullmatch(h)]
    if bad:
        raise ValueError(f"not host names or *.domain patterns: {', '.join(bad)}")
    return hosts
