"""What tests of the app's pages share: delayed sends kept for the test, links on the bridge,
and the check that a page fits a phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.browser import PHONE, WatchedPage
from tests.support.web import FunctionBridge

Delayed = list[tuple[list[str], timedelta]]


def keep_delayed_sends(monkeypatch: pytest.MonkeyPatch) -> Delayed:
    """What the app sends with a queue delay is kept here instead: a hidden message would
    keep the test waiting (the real delayed send is tested on its own)."""
    sent: Delayed = []

    async def keep(settings: Any, queue_name: str, messages: list[str], delay: timedelta) -> None:
        sent.append((messages, delay))

    for module in ("shared.triggers.delayed", "shared.triggers.queue"):
        monkeypatch.setattr(f"{module}.send_later", keep)
    return sent


def on_bridge(bridge: FunctionBridge, link: str, base: str) -> str:
    """A link the app made for ``base`` (its public address), served by the test's bridge."""
    return bridge.url(link.removeprefix(f"{base}/api/"))


async def fits_a_phone(watched: WatchedPage) -> None:
    width = await watched.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width}px"
