"""The pages a notification's link opens ("this wasn't me"): anonymous, the link is the key.

``GET`` shows the reset and one button and changes nothing (mail scanners open links); ``POST``
acts once: it stops a reset that waits, or reports one that ran. Every answer is a page, never
a problem document or a stack trace: a used, expired or mistyped link gets its own plain page.
The link's token is compared by its keyed digest, bound to the reset and the recipient in the
path, so a token for another reset or recipient matches nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from shared.clock import utc_now
from shared.ledger import LedgerRecord, get_ledger
from shared.models import Recipient
from shared.notify import links
from shared.notify.page_states import PageFacts, PageState
from shared.reset.status import find_reset
from shared.settings import get_settings
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION
from shared.triggers.responses import page_response

if TYPE_CHECKING:
    from shared.ledger.notices import NoticeLink

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]

ROUTE = f"{links.ROUTE}/{{reset_id}}/{{recipient}}/{{token}}"
_MAX_TOKEN = 64


def page(state: PageState, facts: PageFacts | None = None) -> func.HttpResponse:
    from shared.notify.pages import render  # loaded by the first page, not at start-up

    return page_response(render(state, facts))


async def _link(
    req: func.HttpRequest,
) -> tuple[PageState | None, NoticeLink | None, LedgerRecord | None]:
    """The link and its reset, or the page that says why there is nothing to act on."""
    params = req.route_params
    reset_id, recipient, token = (params.get(k) or "" for k in ("reset_id", "recipient", "token"))
    if recipient not in {r.value for r in Recipient} or not 0 < len(token) <= _MAX_TOKEN:
        return PageState.invalid, None, None
    record = await find_reset(reset_id)
    if record is None:
        return PageState.invalid, None, None
    ledger = await get_ledger()
    keyring = get_settings().keyring()
    link = None
    for digest in links.digests(keyring, record.id, recipient, token):
        link = await ledger.notices.find(digest)
        if link is not None:
            break
    if link is None or link.reset_id != record.id or link.recipient != recipient:
        return PageState.invalid, None, None
    if link.used_at is not None:
        return PageState.used, link, record
    if link.expires_at <= utc_now():
        return PageState.expired, link, record
    return None, link, record


async def _facts(record: LedgerRecord, recipient: str) -> PageFacts:
    notices = await (await get_ledger()).notices.about(record.id)
    return PageFacts(
        # The user's own links greet them; the manager's link greets no one by name.
        first_name=notices.first_name if recipient != Recipient.manager else None,
        account=record.target,
        ticket=record.ticket_id,
        requested_by=record.requested_by,
        at=record.accepted_at,
        runs_at=record.hold_until if record.status == "accepted" else None,
    )


def _action(record: LedgerRecord) -> PageState:
    waiting = record.status in ("accepted", "awaiting-verification")
    return PageState.stop if waiting else PageState.report


@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def notice_page(req: func.HttpRequest) -> func.HttpResponse:
    """Show the reset and one button; nothing changes."""
    try:
        state, link, record = await _link(req)
        if state is not None or record is None or link is None:
            return page(state or PageState.invalid)
        return page(_action(record), await _facts(record, link.recipient))
    except Exception:
        log.exception("a notice page could not be shown")
        return page(PageState.invalid)


@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def notice_action(req: func.HttpRequest, callbacks: func.Out[str]) -> func.HttpResponse:
    """The button: stop the reset while it waits, report it once it ran. Once per link."""
    state, link, record = await _link(req)
    if state is not None or link is None or record is None:
        return page(state or PageState.invalid)
    ledger = await get_ledger()
    if not await ledger.notices.use(link):
        return page(PageState.used)
    from shared.reset.cancel import stop_by_user  # its first use, not at start-up

    stopped = await stop_by_user(record.id, link.recipient)
    if stopped.callback is not None:
        callbacks.set(stopped.callback)
    return page(PageState.stopped if stopped.cancelled else PageState.reported)
