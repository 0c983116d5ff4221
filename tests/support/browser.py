"""A real headless browser for the pages the app serves: the installed Chromium, driven with
Playwright's Python package, every console message and page error collected, screenshots
kept under ``test-artifacts/`` (git-ignored) for a human to look at after a run.

A page that renders in a unit test can still be broken where it matters: a Content-Security-
Policy that blocks its own stylesheet, a script error, a layout unreadable on a phone. Only a
browser shows those, so a browser test opens the page, asserts what it shows, and ends with
:meth:`WatchedPage.assert_clean` (no console error, no uncaught exception).

The browser is the system's Chromium (Debian/Ubuntu's ``chromium`` package; ``.ci/run``
installs it), never a Playwright download: ``CHROMIUM_PATH`` points elsewhere (e.g. a Chrome
or Chromium on macOS). A missing browser fails the browser tests with that advice; it does
not skip them, so a CI run without a browser cannot pass unnoticed.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.paths import REPO_ROOT

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page

ARTIFACTS = REPO_ROOT / "test-artifacts"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# A phone-sized viewport (an iPhone SE's CSS pixels), for pages that must read on a phone.
PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}


def chromium_path() -> str:
    """The Chromium to drive: ``CHROMIUM_PATH`` or Debian's ``/usr/bin/chromium``; a clear
    failure (not a skip) when there is none."""
    configured = os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM
    found = shutil.which(configured) if os.sep not in configured else configured
    if not found or not os.access(found, os.X_OK):
        pytest.fail(
            f"No Chromium at {configured!r}: the browser tests need one. On Debian/Ubuntu run "
            "`apt-get install -y chromium` (.ci/run does); elsewhere set CHROMIUM_PATH to a "
            "Chromium or Chrome executable.",
            pytrace=False,
        )
    return found


def launch_args() -> list[str]:
    """Chromium's sandbox refuses to run as root (containers, CI); only then is it off."""
    return ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


@dataclass(frozen=True)
class ConsoleEntry:
    type: str  # "log", "warning", "error", ...
    text: str
    url: str = ""
    line: int = 0

    @property
    def location(self) -> str:
        return f"{self.url}:{self.line}"


@dataclass
class WatchedPage:
    """A Playwright page whose console messages, uncaught errors and failed requests are
    kept, with a place for its screenshots."""

    page: Page
    artifacts: Path
    console: list[ConsoleEntry] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def watch(self) -> WatchedPage:
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on(
            "requestfailed",
            lambda request: self.failed_requests.append(f"{request.method} {request.url}"),
        )
        return self

    def _on_console(self, message: ConsoleMessage) -> None:
        where = message.location or {}
        entry = ConsoleEntry(
            message.type, message.text, str(where.get("url", "")), int(where.get("lineNumber", 0))
        )
        self.console.append(entry)

    @property
    def console_errors(self) -> list[ConsoleEntry]:
        """Console errors, which include what the Content-Security-Policy refused. The 404 of
        the ``/favicon.ico`` Chromium asks for on its own is left out: the page did not ask
        for it, and the Functions host answers it 404 too (no route serves it)."""
        return [
            c
            for c in self.console
            if c.type == "error" and not c.url.split("?")[0].endswith("/favicon.ico")
        ]

    def problems(self) -> list[str]:
        return [
            *(f"console error: {c.text} ({c.location})" for c in self.console_errors),
            *(f"page error: {e}" for e in self.page_errors),
        ]

    def assert_clean(self) -> None:
        """No console error and no uncaught exception so far."""
        problems = self.problems()
        assert not problems, "the page reported problems:\n" + "\n".join(problems)

    async def screenshot(self, label: str, *, full_page: bool = True) -> Path:
        """Save a PNG as ``test-artifacts/screenshots/<test>/<label>.png`` and return its path."""
        path = self.artifacts / f"{_slug(label)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path


class BrowserSession:
    """Pages for one test, each in its own context (no shared cookies or storage)."""

    def __init__(self, browser: Browser, artifacts: Path) -> None:
        self.browser = browser
        self.artifacts = artifacts
        self.pages: list[WatchedPage] = []
        self._contexts: list[BrowserContext] = []

    async def new_page(
        self, *, viewport: dict[str, int] | None = None, **options: Any
    ) -> WatchedPage:
        """A fresh watched page; ``viewport=PHONE`` for a phone, other keywords go to
        Playwright's ``new_context`` (``locale``, ``java_script_enabled``...)."""
        context = await self.browser.new_context(viewport=viewport or DESKTOP, **options)  # type: ignore[arg-type]
        self._contexts.append(context)
        watched = WatchedPage(await context.new_page(), self.artifacts).watch()
        self.pages.append(watched)
        return watched

    async def close(self) -> None:
        for context in self._contexts:
            await context.close()
        self._contexts.clear()


def artifacts_for(node_id: str) -> Path:
    return ARTIFACTS / "screenshots" / _slug(node_id)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:120] or "page"
