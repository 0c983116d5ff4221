"""Telling the user, through the functions, Graph's sendMail on the emulator and Azurite.

Every reset is announced to the user's mailbox, their registered email method and their manager
when it is accepted and when it ends; a link in each lets the person stop it while it waits
(cancelled, nothing done in Graph) or report it after (disputed, alerted, called back). Nothing
about the notifications can stop or fail the reset itself.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from emulator import Fault, GraphEmulator, Tenant
from shared.clock import utc_now
from shared.settings import get_settings
from tests.integration.test_callbacks import (  # noqa: F401 (fixtures)
    Receiver,
    callbacks_on,
    receiver,
    run_reset,
    verified,
)
from tests.integration.test_scheduled_cleanup import admit, timer_pages
from tests.support.app import handler
from tests.support.audit import audit_events
from tests.support.bindings import Out
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, cancel, status, submit
from tests.support.pages import keep_delayed_sends

SENDER = "mfa-notices@contoso.example"
BASE = "https://mfa-reset.contoso.example"
ADELE = "adele.vance@contoso.example"
ALEX = "alex.wilber@contoso.example"
PERSONAL = "adele.home@mail.example"
BODY = {"user": ADELE, "ticket_id": "INC0424242", "requested_by": "agent.smith@contoso.example"}


@pytest.fixture
def notifying(
    app_env: StorageNames, graph_emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> Tenant:
    """A sender mailbox the app may send as; Adele with a mailbox, a personal email method and
    a manager (Alex)."""
    tenant = graph_emulator.tenant
    tenant.add_shared_mailbox(SENDER, display_name="MFA notices")
    tenant.allow_send_as(SENDER)
    adele = tenant.user(ADELE)
    assert adele is not None
    for method in tenant.methods(adele.id):
        if method.get("@odata.type") == "#microsoft.graph.emailAuthenticationMethod":
            break
    else:
        tenant.add_method(adele.id, "email", emailAddress=PERSONAL)
    tenant.set_manager(ADELE, ALEX)
    monkeypatch.setenv("NOTIFY_SENDER", SENDER)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    get_settings.cache_clear()
    return tenant


def email_method_address(tenant: Tenant, upn: str) -> str:
    user = tenant.user(upn)
    assert user is not None
    return next(
        str(m["emailAddress"])
        for m in tenant.methods(user.id)
        if m.get("@odata.type") == "#microsoft.graph.emailAuthenticationMethod"
    )


def text(mail: Any) -> str:
    assert isinstance(mail.text, str), "a mail without a text part"
    return mail.text


def html(mail: Any) -> str:
    assert isinstance(mail.html, str), "a mail without an HTML part"
    return mail.html


def changes(emu: GraphEmulator) -> list[Any]:
    """Graph writes that change the user: every write but the notifications' own mails."""
    return [w for w in emu.writes() if not w.path.endswith("/sendMail")]


def link_in(text: str) -> str:
    found = re.search(re.escape(BASE) + r"/api/notices/\S+", text)
    assert found, text
    return found.group(0)


def route_params(link: str) -> dict[str, str]:
    reset_id, recipient, token = link.removeprefix(f"{BASE}/api/notices/").split("/")
    return {"reset_id": reset_id, "recipient": recipient, "token": token}


async def open_link(link: str, method: str = "GET") -> tuple[func.HttpResponse, Out[str]]:
    """The page a link opens (GET), or its button (POST), as the host would call them."""
    callbacks: Out[str] = Out()
    request = func.HttpRequest(
        method=method, url=link, route_params=route_params(link), headers={}, body=b""
    )
    if method == "GET":
        response: func.HttpResponse = await handler("notice_page")(request)
    else:
        response = await handler("notice_action")(request, callbacks)
    return response, callbacks


def page_text(response: func.HttpResponse) -> str:
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    return response.get_body().decode()


async def run_queued(queue_host: QueueHost, names: StorageNames, queue: Out[str]) -> None:
    await queue_host.send(names.queue, queue.get())
    report = await queue_host.drain(names.queue, handler("process_reset"))
    assert report.failed == [], report.failed


async def test_the_user_mailbox_email_method_and_manager_hear_of_acceptance_and_end(
    notifying: Tenant,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    personal = email_method_address(notifying, ADELE)
    response, queue = await submit(BODY)
    assert response.status_code == 202
    reset_id = body_of(response)["id"]

    accepted = graph_emulator.outbox.messages()
    assert sorted(m.to[0].lower() for m in accepted) == sorted([ADELE, personal.lower(), ALEX])
    for mail in accepted:
        assert mail.sender.lower() == SENDER and mail.form == "mime"
        for body in (text(mail), html(mail)):  # the same facts in both
            assert "INC0424242" in body and "agent.smith@contoso.example" in body
            assert SENDER in body
        assert link_in(text(mail)) in html(mail)
        assert "<img" not in html(mail) and "http" not in html(mail).replace(
            link_in(text(mail)), ""
        )
    # Told before anything changed: the mails are the only writes yet.
    assert changes(graph_emulator) == []

    await run_queued(queue_host, app_env, queue)

    ended = graph_emulator.outbox.messages()[len(accepted) :]
    assert len(ended) == 3
    assert all("were reset" in m.subject or "were reset" in text(m) for m in ended)
    view = body_of(await status(reset_id))
    assert view["status"] == "succeeded"
    results = {(n["stage"], n["recipient"]): n for n in view["notifications"]}
    assert set(results) == {
        (stage, who)
        for stage in ("accepted", "finished")
        for who in ("mailbox", "email-method", "manager")
    }
    assert {n["result"] for n in results.values()} == {"sent"}
    assert results[("accepted", "mailbox")]["address"] == "a***@contoso.example"
    notified = [e for e in audit_events(caplog) if e["event"] == "notified"]
    assert len(notified) == 2
    assert all(len(e["notifications"]) == 3 for e in notified)
    assert personal not in caplog.text  # masked everywhere


async def test_missing_recipients_are_skipped_with_the_reason_and_the_reset_goes_on(
    notifying: Tenant, queue_host: QueueHost, graph_emulator: GraphEmulator, app_env: StorageNames
):
    diego = "diego.siciliani@contoso.example"  # no mail, no email method, no manager
    response, queue = await submit({**BODY, "user": diego})
    assert response.status_code == 202
    await run_queued(queue_host, app_env, queue)
    view = body_of(await status(body_of(response)["id"]))
    assert view["status"] == "succeeded"
    reasons = {n["recipient"]: (n["result"], n["reason"]) for n in view["notifications"]}
    assert reasons == {
        "mailbox": ("skipped", "no mailbox"),
        "email-method": ("skipped", "none registered"),
        "manager": ("skipped", "none"),
    }
    assert graph_emulator.outbox.messages() == []


async def test_a_guest_is_not_mailed_in_this_tenant(
    notifying: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    guest = "megan.bowen_fabrikam.example#EXT#@contoso.example"
    response, _ = await submit({**BODY, "user": guest})
    view = body_of(await status(body_of(response)["id"]))
    mailbox = next(n for n in view["notifications"] if n["recipient"] == "mailbox")
    assert (mailbox["result"], mailbox["reason"]) == (
        "skipped",
        "guest: the mailbox is in the home tenant",
    )


@pytest.mark.parametrize("refusal", ["not-in-scope", "throttled"])
async def test_a_refused_or_throttled_mail_is_recorded_and_the_reset_still_runs(
    notifying: Tenant,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    refusal: str,
):
    if refusal == "not-in-scope":
        notifying.disallow_send_as(SENDER)
        expected = "Graph 403 ErrorAccessDenied"
    else:
        graph_emulator.faults.add(
            Fault(method="POST", path="sendMail", status=429, retry_after="1", times=None)
        )
        expected = "Graph 429"
    response, queue = await submit(BODY)
    assert response.status_code == 202
    await run_queued(queue_host, app_env, queue)
    view = body_of(await status(body_of(response)["id"]))
    assert view["status"] == "succeeded"
    sent = [n for n in view["notifications"] if n["result"] != "skipped"]
    assert len(sent) == 6
    assert {n["result"] for n in sent} == {"failed"}
    assert all(str(n["reason"]).startswith(expected) for n in sent)


@pytest.fixture
def held(notifying: Tenant, monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], timedelta]]:
    """A 30-minute hold; what the app sends with a delay is kept here instead of a queue that
    would hide it for half an hour (the real delayed send is tested on its own)."""
    monkeypatch.setenv("RESET_HOLD_MINUTES", "30")
    get_settings.cache_clear()
    return keep_delayed_sends(monkeypatch)


async def test_a_held_reset_waits_is_shown_held_and_its_caller_can_cancel_it(
    held: list[tuple[list[str], timedelta]],
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    response, queue = await submit(BODY)
    assert response.status_code == 202
    reset_id = body_of(response)["id"]
    assert not queue.is_set  # not through the binding: with the queue's own delay
    ((messages, delay),) = held
    assert timedelta(minutes=29) < delay <= timedelta(minutes=30)
    view = body_of(await status(reset_id))
    assert view["status"] == "held"
    assert "runs_at" in view
    accepted_mail = graph_emulator.outbox.messages()[0]
    assert "not before" in text(accepted_mail)

    # Delivered early (a redelivery): put back for the rest of the hold, nothing done.
    await queue_host.send(app_env.queue, messages[0])
    await queue_host.drain(app_env.queue, handler("process_reset"))
    assert len(held) == 2 and changes(graph_emulator) == []

    cancelled, _ = await cancel(reset_id)
    assert cancelled.status_code == 200
    assert body_of(cancelled)["status"] == "cancelled"
    (event,) = [e for e in audit_events(caplog) if e["event"] == "cancelled"]
    assert event["_level"] == "WARNING"

    # The message comes when the hold is over: it runs nothing.
    await queue_host.send(app_env.queue, messages[0])
    await queue_host.drain(app_env.queue, handler("process_reset"))
    assert changes(graph_emulator) == []
    again, _ = await cancel(reset_id)
    assert again.status_code == 200  # cancelling twice is no error


async def test_a_reset_already_run_cannot_be_cancelled(
    notifying: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    response, _ = await submit({**BODY, "mode": "sync"})
    refused, _ = await cancel(body_of(response)["id"])
    assert refused.status_code == 409
    assert body_of(refused)["reset_status"] == "succeeded"


async def test_the_user_stops_a_held_reset_from_the_mail_and_nothing_is_done(
    held: list[tuple[list[str], timedelta]],
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
):
    response, _ = await submit(BODY)
    reset_id = body_of(response)["id"]
    mail = next(m for m in graph_emulator.outbox.messages() if m.to[0].lower() == ADELE)
    link = link_in(text(mail))

    shown = page_text((await open_link(link))[0])
    assert "Stop this reset" in shown and "INC0424242" in shown
    assert body_of(await status(reset_id))["status"] == "held"  # looking changed nothing

    stopped = page_text((await open_link(link, "POST"))[0])
    assert "stopped" in stopped
    assert body_of(await status(reset_id))["status"] == "cancelled"
    (messages, _), *_ = held
    await queue_host.send(app_env.queue, messages[0])
    await queue_host.drain(app_env.queue, handler("process_reset"))
    assert changes(graph_emulator) == []

    assert "already used" in page_text((await open_link(link, "POST"))[0])
    assert "already used" in page_text((await open_link(link))[0])


async def test_links_for_another_reset_or_recipient_or_expired_ones_do_nothing(
    notifying: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames, monkeypatch: Any
):
    first, _ = await submit(BODY)
    second, _ = await submit({**BODY, "ticket_id": "INC0424243", "revoke_sessions": False})
    mails = graph_emulator.outbox.messages()
    link = link_in(text(next(m for m in mails if m.to[0].lower() == ADELE)))
    params = route_params(link)
    other_reset = link.replace(params["reset_id"], body_of(second)["id"])
    other_recipient = link.replace("/mailbox/", "/manager/")
    mangled = link[:-3] + "abc"
    for wrong in (other_reset, other_recipient, mangled):
        assert "does not work" in page_text((await open_link(wrong, "POST"))[0])
    assert body_of(await status(body_of(first)["id"]))["status"] == "accepted"

    later = utc_now() + timedelta(days=8)
    monkeypatch.setattr("shared.triggers.pages.utc_now", lambda: later)
    assert "expired" in page_text((await open_link(link, "POST"))[0])
    assert body_of(await status(body_of(first)["id"]))["status"] == "accepted"


async def test_a_dispute_after_the_reset_alerts_and_calls_the_ticket_back(
    notifying: Tenant,
    callbacks_on: StorageNames,  # noqa: F811 (the fixture imported above)
    receiver: Receiver,  # noqa: F811
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    callbacks = f"{callbacks_on.queue}-callbacks"
    await queue_host.drain(callbacks, handler("deliver_callback"))
    assert [verified(r)["event"] for r in receiver.received] == ["reset.succeeded"]
    ended = [m for m in graph_emulator.outbox.messages() if m.to[0].lower() == ALEX][-1]
    writes = len(changes(graph_emulator))

    page = page_text((await open_link(link_in(text(ended))))[0])
    assert "Report it" in page
    reported, queued = await open_link(link_in(text(ended)), "POST")
    assert "reported" in page_text(reported)

    assert len(changes(graph_emulator)) == writes  # nothing is undone by itself
    view = body_of(await status(reset_id))
    assert view["status"] == "succeeded"
    assert view["disputed"]["recipient"] == "manager"
    (event,) = [e for e in audit_events(caplog) if e["event"] == "disputed"]
    assert event["_level"] == "ERROR"
    await queue_host.send(callbacks, queued.get())
    await queue_host.drain(callbacks, handler("deliver_callback"))
    events = [verified(r)["event"] for r in receiver.received]
    assert events == ["reset.succeeded", "reset.disputed"]
    ids = [r[1]["webhook-id"] for r in receiver.received]
    assert ids[0] != ids[1]  # another event: another webhook-id


async def test_a_stopped_reset_calls_its_ticket_back_cancelled(
    held: list[tuple[list[str], timedelta]],
    callbacks_on: StorageNames,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
):
    response, _ = await submit({**BODY, "callback_url": receiver.url()})
    assert response.status_code == 202
    mail = next(m for m in graph_emulator.outbox.messages() if m.to[0].lower() == ADELE)
    stopped, queued = await open_link(link_in(text(mail)), "POST")
    assert "stopped" in page_text(stopped)
    callbacks = f"{callbacks_on.queue}-callbacks"
    await queue_host.send(callbacks, queued.get())
    await queue_host.drain(callbacks, handler("deliver_callback"))
    ((_, _, _),) = receiver.received
    payload = verified(receiver.received[0])
    assert (payload["event"], payload["status"]) == ("reset.cancelled", "cancelled")
    assert changes(graph_emulator) == []


async def test_a_held_message_is_really_kept_back_by_the_queue(
    notifying: Tenant, queue_host: QueueHost, app_env: StorageNames
):
    """The delayed send against the storage emulator: invisible for the delay, then the
    worker's to take, encoded as the queue trigger reads it."""
    from shared.triggers.delayed import send_later

    await send_later(get_settings(), app_env.queue, ['{"probe": 1}'], timedelta(seconds=2))
    assert (await queue_host.drain(app_env.queue, lambda m: None)).processed == []
    await asyncio.sleep(2.5)
    seen: list[bytes] = []
    report = await queue_host.drain(app_env.queue, lambda m: seen.append(m.get_body()))
    assert len(report.processed) == 1
    assert seen == [b'{"probe": 1}']


async def test_a_swept_member_gets_the_same_mails(
    notifying: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    monkeypatch: pytest.MonkeyPatch,
):
    group = notifying.add_group("MFA reset pending")
    adele = notifying.user(ADELE)
    assert adele is not None
    notifying.add_member(group.id, adele.id)
    monkeypatch.setenv("RESET_GROUP_ID", group.id)
    get_settings.cache_clear()

    (page,) = await timer_pages()
    (item,) = await admit(page)

    told = sorted(m.to[0].lower() for m in graph_emulator.outbox.messages())
    assert told == sorted([ADELE, email_method_address(notifying, ADELE).lower(), ALEX])
    view = body_of(await status(item.reset_id))
    assert {n["result"] for n in view["notifications"]} == {"sent"}
