"""Pytest fixtures for storage-backed and browser tests, loaded as a plugin with
``pytest_plugins = ["tests.support.fixtures"]`` in the root conftest.

Azurite is started once per session and only when a test asks for it, so suites that do
not touch storage pay nothing. Tests share that one account and stay apart through the
unique queue and table names ``storage_names`` hands out.

The same holds for the browser: Chromium is launched once per session, on first use, and each
test gets its own contexts (``browser``) or a ready page (``browser_page``); ``web_bridge``
serves the app's HTTP functions to it (see :mod:`tests.support.web` and
:mod:`tests.support.browser`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from emulator.azurite import Azurite
from tests.support.browser import (
    BrowserSession,
    WatchedPage,
    artifacts_for,
    chromium_path,
    launch_args,
)
from tests.support.functions_host import QueueHost
from tests.support.web import FunctionBridge

if TYPE_CHECKING:
    from playwright.async_api import Browser

# A queue name may be 63 characters; leave room for the "-poison" suffix.
_QUEUE_NAME_BUDGET = 63 - len("-poison")
_SLUG_CHARS = 24


class _SharedAzurite:
    """One process however many times the fixture is registered: a suite that imports the
    fixtures into its own conftest while the root conftest also loads the plugin gets two
    fixture definitions, and each would otherwise start its own Azurite."""

    def __init__(self) -> None:
        self._instance: Azurite | None = None
        self._users = 0

    def acquire(self) -> Azurite:
        if self._instance is None:
            self._instance = Azurite().start()
        self._users += 1
        return self._instance

    def release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._instance is not None:
            instance, self._instance = self._instance, None
            instance.stop()


_shared_azurite = _SharedAzurite()


@dataclass(frozen=True)
class StorageNames:
    """Names no other test uses, so tests can share one storage account."""

    queue: str
    table: str

    @property
    def poison(self) -> str:
        return f"{self.queue}-poison"


def _slug(text: str, *, hyphens: bool) -> str:
    if hyphens:
        return re.sub(r"[^a-z0-9]+", "-", text.lower())[:_SLUG_CHARS].strip("-")
    return re.sub(r"[^a-z0-9]+", "", text.lower())[:_SLUG_CHARS]


def unique_storage_names(test_name: str) -> StorageNames:
    """Queue: lowercase letters, digits and single hyphens, starting and ending with a
    letter or digit. Table: letters and digits, starting with a letter."""
    token = uuid.uuid4().hex[:12]
    queue_slug = _slug(test_name, hyphens=True)
    queue = f"t-{queue_slug}-{token}" if queue_slug else f"t-{token}"
    table = f"t{_slug(test_name, hyphens=False)}{token}"
    assert len(queue) <= _QUEUE_NAME_BUDGET and len(table) <= 63
    return StorageNames(queue=queue, table=table)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    instance = _shared_azurite.acquire()
    try:
        yield instance
    finally:
        _shared_azurite.release()


@pytest.fixture
async def queue_host(azurite: Azurite) -> AsyncIterator[QueueHost]:
    """Retries come back at once, whatever host.json's visibilityTimeout says, so a test
    can walk a message through every delivery without waiting."""
    async with QueueHost(azurite.connection_string, retry_visibility_seconds=0) as host:
        yield host


@pytest.fixture
def storage_names(request: pytest.FixtureRequest) -> StorageNames:
    return unique_storage_names(request.node.name)


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """The installed Chromium, headless, launched once (Playwright imported only here, so
    sessions without browser tests never load it)."""
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=launch_args()
        )
        yield browser
        await browser.close()


@pytest.fixture
async def browser(
    chromium: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[BrowserSession]:
    """New pages for this test (``await browser.new_page(viewport=PHONE)``); screenshots go to
    ``test-artifacts/screenshots/<test id>/``."""
    session = BrowserSession(chromium, artifacts_for(request.node.nodeid))
    yield session
    await session.close()


@pytest.fixture
async def browser_page(browser: BrowserSession) -> WatchedPage:
    """One desktop-sized watched page: ``.page`` is Playwright's, ``.assert_clean()`` checks
    the console, ``await .screenshot("label")`` keeps a PNG."""
    return await browser.new_page()


@pytest.fixture
async def web_bridge() -> AsyncIterator[FunctionBridge]:
    """Every HTTP function of the app on a loopback port, served from the test's loop."""
    async with FunctionBridge() as bridge:
        yield bridge
