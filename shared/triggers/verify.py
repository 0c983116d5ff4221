"""The user's page for proof before reset, and the endpoint Verified ID calls back.

Both are anonymous: the page's link is its own key (a keyed MAC of the reset's id), and the
callback brings the per-request ``api-key`` the app gave Verified ID (compared by keyed
digest, in constant time); Verified ID can send no function key. Every answer of the page is a
page, never a problem document; the callback answers Verified ID with a status only.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import azure.functions as func

from shared.clock import utc_now
from shared.ledger import LedgerRecord, ResetStatus, get_ledger
from shared.reset.status import find_reset
from shared.settings import get_settings
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION
from shared.triggers.responses import page_response
from shared.verify import links
from shared.verify.links import PROOF_WINDOW

if TYPE_CHECKING:
    from shared.verify.pages import Greeting

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]

ROUTE = f"{links.ROUTE}/{{reset_id}}/{{token}}"
MAX_CALLBACK_BYTES = 1024 * 1024


def _page(text: str) -> func.HttpResponse:
    return page_response(text)


async def _record(req: func.HttpRequest) -> LedgerRecord | None:
    """The reset the link is for, or None for a link this app did not make."""
    reset_id = req.route_params.get("reset_id") or ""
    token = req.route_params.get("token") or ""
    record = await find_reset(reset_id)
    if record is None or not token or len(token) > 128:
        return None
    if not links.genuine(get_settings().keyring(), record.id, token):
        return None
    return record


async def _greeting(record: LedgerRecord) -> Greeting:
    from shared.verify.pages import Greeting

    notices = await (await get_ledger()).notices.about(record.id)
    return Greeting(notices.first_name, record.ticket_id)


def _not_valid() -> str:
    from shared.verify import pages as views

    return views.ended(
        "This link does not work",
        "It may have been copied incompletely. Open it again from the message you received.",
    )


@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def verify_page(req: func.HttpRequest, callbacks: func.Out[str]) -> func.HttpResponse:
    """The QR code to prove it is you, or how far the reset has come."""
    from shared.reset.verification import end_failed, next_step  # loaded by the first page
    from shared.verify import pages as views
    from shared.verify.rules import PLAIN

    try:
        record = await _record(req)
        if record is None:
            return _page(_not_valid())
        greeting = await _greeting(record)
        if record.status is ResetStatus.awaiting_verification:
            if utc_now() - record.accepted_at > PROOF_WINDOW:
                message = await end_failed(record.id, "expired")
                if message:
                    callbacks.set(message)
                return _page(
                    views.ended(
                        "This link has expired",
                        "The time to prove it was you is over: ask your service desk again.",
                    )
                )
            step = await next_step(record)
            if step.state == "retrieved":
                return _page(views.waiting(greeting))
            if step.state == "ended" or step.presentation is None:
                if step.presentation is None and step.state != "ended":
                    raise RuntimeError("no presentation to show")
                return _page(
                    views.ended(
                        "We could not confirm it is you",
                        f"{PLAIN.get(step.rule or '', 'The check did not succeed')}. Your sign-in "
                        "methods were not changed.",
                    )
                )
            return _page(
                views.present(greeting, step.presentation.url, step.rule, step.attempts_left)
            )
        if record.status in (ResetStatus.accepted, ResetStatus.running):
            return _page(views.released(greeting))
        if record.status is ResetStatus.succeeded:
            verification = await (await get_ledger()).verifications.get(record.id)
            waiting_pass = bool(
                record.request.get("temporary_access_pass")
                and verification is not None
                and verification.state == "verified"
                and verification.pass_shown_at is None
            )
            return _page(views.done(greeting, pass_waiting=waiting_pass))
        return _page(views.ended("This reset has ended", _ended_text(record)))
    except Exception:
        log.exception("the proof page could not be shown")
        return _page(views.ended("Something went wrong", "Try again in a minute."))


def _ended_text(record: LedgerRecord) -> str:
    if record.status is ResetStatus.cancelled:
        return "It was cancelled: nothing was changed on your account."
    if (record.last_error or "").startswith("verification-failed"):
        return "We could not confirm it was you, so nothing was changed on your account."
    return f"It ended: {record.status}."


@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def verify_pass(req: func.HttpRequest) -> func.HttpResponse:
    """The one button: show the pass to the verified person, once."""
    from shared.reset.verification import show_pass
    from shared.verify import pages as views

    try:
        record = await _record(req)
        if record is None:
            return _page(_not_valid())
        greeting = await _greeting(record)
        value = await show_pass(record)
        if value is None:
            return _page(
                views.ended(
                    "The pass was already shown",
                    "It is shown only once. If you did not write it down, ask your service desk "
                    "for a new reset.",
                )
            )
        return _page(views.the_pass(greeting, value))
    except Exception:
        log.exception("the pass could not be shown")
        return _page(
            views.ended(
                "The pass could not be issued",
                "Call your service desk on the number you already know.",
            )
        )


@bp.route(route=links.CALLBACK_ROUTE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def verified_id_callback(
    req: func.HttpRequest, callbacks: func.Out[str]
) -> func.HttpResponse:
    """Verified ID's callbacks: each checked against the request the app created for it."""
    body = req.get_body() or b""
    if len(body) > MAX_CALLBACK_BYTES:
        return func.HttpResponse(status_code=413)
    try:
        event = json.loads(body)
    except ValueError:
        return func.HttpResponse(status_code=400)
    if not isinstance(event, dict):
        return func.HttpResponse(status_code=400)
    from shared.reset.verification import on_callback

    answer = await on_callback(event, req.headers.get("api-key"))
    if answer.callback is not None:
        callbacks.set(answer.callback)
    return func.HttpResponse(status_code=answer.status)
