"""The user's proof page in a real headless Chromium, phone-sized: the QR code to scan, the
page once the user is verified, and the pass shown once. Each renders under the strict
Content-Security-Policy (a refused style or script shows as a console error) and fits a phone.
"""

from __future__ import annotations

from datetime import timedelta

from emulator import GraphEmulator
from tests.integration.test_verification import (  # noqa: F401 (fixtures)
    ALEX,
    AUTHORITY,
    BASE,
    BODY,
    accepted,
    call_back,
    proving,
    run_item,
)
from tests.support.browser import PHONE, BrowserSession
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.pages import fits_a_phone
from tests.support.pages import on_bridge as bridge_url
from tests.support.web import FunctionBridge


def on_bridge(bridge: FunctionBridge, link: str) -> str:
    return bridge_url(bridge, link, BASE)


async def test_a_user_proves_it_is_them_and_sees_the_pass_once_on_a_phone(
    proving: list[tuple[list[str], timedelta]],  # noqa: F811
    web_bridge: FunctionBridge,
    browser: BrowserSession,
    graph_emulator: GraphEmulator,
    queue_host: QueueHost,
    app_env: StorageNames,
):
    body = {**BODY, "temporary_access_pass": {"lifetime_minutes": 60, "usable_once": True}}
    _, link, item = await accepted(body)
    url = on_bridge(web_bridge, link)
    watched = await browser.new_page(viewport=PHONE, is_mobile=True)
    page = watched.page

    await page.goto(url)
    assert await page.locator("h1").inner_text() == "Prove it is you"
    qr = page.locator(".qr svg")
    assert await qr.count() == 1
    box = await qr.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    assert await page.get_by_role("link", name="Open in Authenticator").get_attribute("href")
    await fits_a_phone(watched)
    await watched.screenshot("scan the code")

    service = graph_emulator.verified_id
    for callback in service.wallet.present(
        service.latest().request_id, service.wallet.employee_credential(ALEX, AUTHORITY)
    ):
        assert await call_back(callback) == 200
    await page.goto(url)
    assert await page.locator("h1").inner_text() == "You are verified"
    await watched.screenshot("verified")

    await run_item(queue_host, app_env, item)
    await page.goto(url)
    assert await page.locator("h1").inner_text() == "Done"
    await watched.screenshot("pass button")
    await page.get_by_role("button", name="Show my Temporary Access Pass").click()
    await page.wait_for_load_state("load")
    assert await page.locator("h1").inner_text() == "Your Temporary Access Pass"
    user = graph_emulator.tenant.user(ALEX)
    assert user is not None
    value = graph_emulator.tenant.last_tap_value(user.id)
    assert value and value in await page.locator(".pass").inner_text()
    await fits_a_phone(watched)
    await watched.screenshot("the pass")

    await page.goto(url)
    assert value not in await page.content()  # shown once: never again
    watched.assert_clean()
