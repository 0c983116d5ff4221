"""The "this wasn't me" pages in a real headless Chromium, phone-sized, as a user meets them.

Every page the link can lead to: the button to stop a held reset, the stopped page, the used
link, the report button after the reset ran and the reported page, and a link that does not
work. Each must render with the strict Content-Security-Policy (a refused style or script shows
as a console error) and fit a phone without sideways scrolling. Screenshots are kept under
test-artifacts/, never in the repository.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from emulator import GraphEmulator, Tenant
from tests.integration.test_notifications import (  # noqa: F401 (fixtures)
    ADELE,
    ALEX,
    BASE,
    BODY,
    held,
    link_in,
    notifying,
    text,
)
from tests.support.browser import PHONE, BrowserSession, WatchedPage
from tests.support.fixtures import StorageNames
from tests.support.http import body_of, status, submit
from tests.support.pages import fits_a_phone
from tests.support.pages import on_bridge as bridge_url
from tests.support.web import FunctionBridge


def on_bridge(bridge: FunctionBridge, link: str) -> str:
    return bridge_url(bridge, link, BASE)


async def phone(browser: BrowserSession) -> WatchedPage:
    return await browser.new_page(viewport=PHONE, is_mobile=True)


async def test_a_user_stops_a_held_reset_on_a_phone(
    held: list[tuple[list[str], timedelta]],  # noqa: F811
    web_bridge: FunctionBridge,
    browser: BrowserSession,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
):
    response, _ = await submit(BODY)
    reset_id = body_of(response)["id"]
    mail = next(m for m in graph_emulator.outbox.messages() if m.to[0].lower() == ADELE)
    url = on_bridge(web_bridge, link_in(text(mail)))
    watched = await phone(browser)
    page = watched.page

    answer = await page.goto(url)
    assert answer is not None and answer.status == 200
    assert await page.locator("h1").inner_text() == "Did you ask for this?"
    assert "INC0424242" in await page.locator("main").inner_text()
    await fits_a_phone(watched)
    await watched.screenshot("stop button")
    assert body_of(await status(reset_id))["status"] == "held"  # opening changed nothing

    await page.get_by_role("button", name="Stop this reset").click()
    await page.wait_for_load_state("load")
    assert await page.locator("h1").inner_text() == "The reset is stopped"
    await watched.screenshot("stopped")
    assert body_of(await status(reset_id))["status"] == "cancelled"

    await page.goto(url)
    assert await page.locator("h1").inner_text() == "This link was already used"
    assert await page.get_by_role("button").count() == 0
    await fits_a_phone(watched)
    await watched.screenshot("used")
    watched.assert_clean()


async def test_a_manager_reports_a_reset_that_ran(
    notifying: Tenant,  # noqa: F811
    web_bridge: FunctionBridge,
    browser: BrowserSession,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
):
    response, _ = await submit({**BODY, "mode": "sync"})
    assert response.status_code == 200
    ended = [m for m in graph_emulator.outbox.messages() if m.to[0].lower() == ALEX][-1]
    watched = await phone(browser)
    page = watched.page

    await page.goto(on_bridge(web_bridge, link_in(text(ended))))
    button = page.get_by_role("button", name="Report it")
    assert await button.is_visible()
    await fits_a_phone(watched)
    await watched.screenshot("report button")
    await button.click()
    await page.wait_for_load_state("load")
    assert await page.locator("h1").inner_text() == "Thank you: it is reported"
    await watched.screenshot("reported")
    watched.assert_clean()


@pytest.mark.parametrize("broken", ["token", "recipient"])
async def test_a_link_that_does_not_work_says_so_plainly(
    notifying: Tenant,  # noqa: F811
    web_bridge: FunctionBridge,
    browser: BrowserSession,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    broken: str,
):
    await submit(BODY)
    mail = next(m for m in graph_emulator.outbox.messages() if m.to[0].lower() == ADELE)
    link = link_in(text(mail))
    assert "/mailbox/" in link
    wrong = link[:-4] + "xxxx" if broken == "token" else link.replace("/mailbox/", "/manager/")
    watched = await phone(browser)
    answer = await watched.page.goto(on_bridge(web_bridge, wrong))
    assert answer is not None and answer.status == 200
    assert await watched.page.locator("h1").inner_text() == "This link does not work"
    await fits_a_phone(watched)
    await watched.screenshot(f"broken {broken}")
    watched.assert_clean()
