"""One presentation request as the emulated service keeps it: the body the app sent (a copy),
where and how the service calls back, and when the request expires. Its own module so the
service that creates requests and the wallet that answers them both read it without
depending on each other."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class PresentationRequest:
    """One request the service created: the body as sent (a copy), where and how it calls
    back, and when it expires."""

    request_id: str
    body: dict[str, Any]
    url: str
    expiry: int
    created_at: float
    presented: bool = False

    @property
    def callback_url(self) -> str:
        return str(self.body["callback"]["url"])

    @property
    def state(self) -> str | None:
        state = self.body["callback"].get("state")
        return None if state is None else str(state)

    @property
    def callback_headers(self) -> dict[str, str]:
        return dict(self.body["callback"].get("headers") or {})

    @property
    def requested_credentials(self) -> list[dict[str, Any]]:
        return list(self.body["requestedCredentials"])

    @property
    def expired(self) -> bool:
        return time.time() >= self.expiry
