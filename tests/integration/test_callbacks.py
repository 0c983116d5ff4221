"""Completion callbacks end to end: the HTTP function, the reset worker, the callback queue and
a receiver on 127.0.0.1 that verifies signatures with the ``standardwebhooks`` library, as a
ticket system's endpoint would (not with the app's own code)."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from emulator import Fault, GraphEmulator
from emulator.azurite import Azurite
from shared.keyring import Keyring
from shared.ledger import get_ledger
from shared.reset import callbacks as callbacks_module
from shared.reset.callback_messages import callback_message
from shared.settings import get_settings
from tests.support.app import handler
from tests.support.audit import audit_events
from tests.support.bindings import Out, TimerStub
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, problem, status, submit

SECRET = "whsec_" + base64.b64encode(b"callback-test-secret-0123456789ab").decode()
# Incoming-webhook URLs carry a secret of their own in the query string.
URL_TOKEN = "sig=s3cr3t-t0ken-of-the-receiver"
BODY = {
    "user": "alex.wilber@contoso.example",
    "ticket_id": "INC0077",
    "requested_by": "desk@contoso.example",
}


@dataclass
class Receiver:
    """A ticket system's webhook endpoint: answers with the scripted statuses, in turn."""

    answers: list[int] = field(default_factory=lambda: [204])
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hooks/mfa") -> str:
        return f"http://127.0.0.1:{self.port}{path}?{URL_TOKEN}"


@contextmanager
def listening(state: Receiver) -> Iterator[Receiver]:
    """Serve ``state`` on 127.0.0.1 (on its port, or a free one) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            state.received.append((self.path, dict(self.headers), self.rfile.read(length)))
            code = state.answers.pop(0) if len(state.answers) > 1 else state.answers[0]
            self.send_response(code)
            if code in (301, 302, 307, 308):
                self.send_header("Location", f"http://127.0.0.1:{state.port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dripping(interval: float, length: int) -> Iterator[Receiver]:
    """A receiver that answers 200 at once, then its body a byte every ``interval`` seconds:
    no single read ever waits long, the whole answer does."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length_in = int(self.headers.get("content-length") or 0)
            state.received.append((self.path, dict(self.headers), self.rfile.read(length_in)))
            self.send_response(200)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            try:
                for _ in range(length):
                    self.wfile.write(b".")
                    self.wfile.flush()
                    time.sleep(interval)
            except OSError:  # the app hung up
                return

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with listening(Receiver()) as state:
        yield state


@pytest.fixture
def callbacks_on(app_env: StorageNames, monkeypatch: pytest.MonkeyPatch) -> StorageNames:
    monkeypatch.setenv("CALLBACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1,*.service-now.com")
    monkeypatch.setenv("CALLBACK_ALLOW_LOOPBACK_HTTP", "true")
    get_settings.cache_clear()
    return app_env


async def run_reset(host: QueueHost, names: StorageNames, body: dict[str, Any]) -> str:
    response, queue = await submit(body)
    assert response.status_code == 202, response.get_body()
    await host.send(names.queue, queue.get())
    await host.drain(names.queue, handler("process_reset"))
    return str(body_of(response)["id"])


def callback_queue(names: StorageNames) -> str:
    return f"{names.queue}-callbacks"


def signed_message(reset_id: str) -> str:
    """A callback message as the app queues it (signed with the work-item key)."""
    return callback_message(get_settings().keyring(), reset_id)


async def stored_callback_url(azurite: Azurite, names: StorageNames, reset_id: str) -> str:
    """The ledger row's URL column as stored (not as the app reads it back)."""
    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=names.table
    ) as table:
        entity = await table.get_entity("reset", reset_id)
    return str(entity["CallbackUrl"])


def verified(received: tuple[str, dict[str, str], bytes]) -> dict[str, Any]:
    _, headers, body = received
    payload: dict[str, Any] = Webhook(SECRET).verify(body, headers)
    return payload


async def test_a_reset_calls_its_ticket_back_once_signed(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    assert not receiver.received  # nothing is sent before the callback worker runs
    await queue_host.drain(callback_queue(callbacks_on), handler("deliver_callback"))

    assert len(receiver.received) == 1
    path, headers, _ = receiver.received[0]
    assert path == f"/hooks/mfa?{URL_TOKEN}"
    payload = verified(receiver.received[0])
    assert payload["event"] == "reset.succeeded"
    assert payload["id"] == reset_id
    assert payload["status"] == "succeeded"
    assert payload["ticket_id"] == "INC0077"
    assert payload["callback"]["host"] == "127.0.0.1"
    assert "temporary_access_pass" not in payload or payload["temporary_access_pass"] is None
    assert headers["webhook-id"] == f"msg_{reset_id}_succeeded"

    shown = body_of(await status(reset_id))["callback"]
    assert shown == {"host": "127.0.0.1", "state": "delivered", "attempts": 1, "last_status": 204}
    # The URL is gone from the ledger once delivered; the request keeps only its host.
    record = await (await get_ledger()).get(reset_id)
    assert record is not None and record.callback is not None
    assert record.callback.url is None
    assert record.request["callback_url"] == "http://127.0.0.1/..."
    delivered = [e for e in audit_events(caplog) if e["event"] == "callback-delivered"]
    assert len(delivered) == 1 and "127.0.0.1" in delivered[0]["detail"]
    # A duplicate message, the app's own, sends nothing more.
    await queue_host.send(callback_queue(callbacks_on), signed_message(reset_id))
    await queue_host.drain(callback_queue(callbacks_on), handler("deliver_callback"))
    assert len(receiver.received) == 1
    logged = "\n".join(f"{r.getMessage()} {vars(r)!r}" for r in caplog.records)
    assert URL_TOKEN not in logged and "/hooks/mfa" not in logged
    assert SECRET not in logged and SECRET.removeprefix("whsec_") not in logged


async def test_a_receiver_down_then_up_gets_the_same_webhook_id_again(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
):
    receiver.answers = [503, 502, 200]
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    report = await queue_host.drain(callback_queue(callbacks_on), handler("deliver_callback"))

    assert len(report.failed) == 2 and not report.poisoned
    ids = {headers["webhook-id"] for _, headers, _ in receiver.received}
    assert len(receiver.received) == 3 and ids == {f"msg_{reset_id}_succeeded"}
    for attempt in receiver.received:
        assert verified(attempt)["status"] == "succeeded"
    shown = body_of(await status(reset_id))["callback"]
    assert (shown["state"], shown["attempts"], shown["last_status"]) == ("delivered", 3, 200)


async def test_a_receiver_down_then_up_is_delivered_on_a_retry(
    callbacks_on: StorageNames, queue_host: QueueHost, graph_emulator: GraphEmulator
):
    with socket.socket() as probe:  # a port nothing listens on, for now
        probe.bind(("127.0.0.1", 0))
        down = Receiver(port=probe.getsockname()[1])
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": down.url()})
    queue = callback_queue(callbacks_on)

    report = await queue_host.run_once(queue, handler("deliver_callback"))
    assert len(report.failed) == 1
    shown = body_of(await status(reset_id))["callback"]
    assert (shown["state"], shown["attempts"], shown["last_status"]) == ("pending", 1, None)

    with listening(down) as up:
        await queue_host.drain(queue, handler("deliver_callback"))
    assert len(up.received) == 1
    assert up.received[0][1]["webhook-id"] == f"msg_{reset_id}_succeeded"
    assert verified(up.received[0])["id"] == reset_id
    shown = body_of(await status(reset_id))["callback"]
    assert (shown["state"], shown["attempts"]) == ("delivered", 2)


async def test_a_receiver_that_always_fails_ends_failed_audited_and_forgotten(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    azurite: Azurite,
):
    receiver.answers = [500]
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    report = await queue_host.drain(callback_queue(callbacks_on), handler("deliver_callback"))
    assert len(report.poisoned) == 1
    await queue_host.drain(f"{callback_queue(callbacks_on)}-poison", handler("callback_poisoned"))

    assert len(receiver.received) == queue_host.max_dequeue_count
    shown = body_of(await status(reset_id))
    assert shown["status"] == "succeeded"  # the reset's own result does not depend on it
    assert shown["callback"]["state"] == "failed"
    assert shown["callback"]["last_status"] == 500
    failed = [e for e in audit_events(caplog) if e["event"] == "callback-failed"]
    assert len(failed) == 1
    assert "127.0.0.1" in failed[0]["detail"] and URL_TOKEN not in failed[0]["detail"]
    error = [r for r in caplog.records if "callback-failed" in r.getMessage()]
    assert error and error[0].levelno == logging.ERROR
    # Nothing calls a failed callback again: its URL (the receiver's secret) is not kept.
    assert await stored_callback_url(azurite, callbacks_on, reset_id) == ""


async def test_a_redirect_is_not_followed(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
):
    receiver.answers = [302]
    await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    report = await queue_host.run_once(callback_queue(callbacks_on), handler("deliver_callback"))

    assert len(report.failed) == 1
    assert [path for path, _, _ in receiver.received] == [f"/hooks/mfa?{URL_TOKEN}"]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://attacker.example/collect", "callback-not-allowed"),
        ("https://service-now.com/api", "callback-not-allowed"),  # *.x is not x itself
        ("https://evil-service-now.com/api", "callback-not-allowed"),
        ("http://dev1.service-now.com/api", "callback-not-allowed"),  # not https
    ],
)
async def test_a_host_not_allowed_is_a_400_and_nothing_is_recorded(
    callbacks_on: StorageNames,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
    url: str,
    kind: str,
):
    response, queue = await submit({**BODY, "callback_url": url})

    assert response.status_code == 400
    body = problem(response)
    assert body["type"] == f"urn:mfa-reset:problem:{kind}"
    assert url not in json.dumps(body)
    assert queue.set_count == 0
    assert not graph_emulator.requests and not receiver.received


async def test_an_allowed_https_host_is_accepted(
    callbacks_on: StorageNames, graph_emulator: GraphEmulator
):
    response, _ = await submit({**BODY, "callback_url": "https://dev1.service-now.com/api?x=1"})
    assert response.status_code == 202, response.get_body()
    assert body_of(response)["callback"] == {
        "host": "dev1.service-now.com",
        "state": "pending",
        "attempts": 0,
        "last_status": None,
    }


async def test_without_a_secret_callbacks_are_refused(
    app_env: StorageNames, graph_emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "*.service-now.com")
    # A Key Vault reference App Service could not resolve is no secret either.
    monkeypatch.setenv("CALLBACK_SIGNING_SECRET", "@Microsoft.KeyVault(SecretUri=https://v/s)")
    get_settings.cache_clear()
    response, _ = await submit({**BODY, "callback_url": "https://dev1.service-now.com/api"})

    assert response.status_code == 400
    assert problem(response)["type"] == "urn:mfa-reset:problem:callback-not-configured"
    assert "CALLBACK_SIGNING_SECRET" in problem(response)["detail"]
    assert os.environ["CALLBACK_SIGNING_SECRET"].startswith("@Microsoft.KeyVault(")


async def test_a_synchronous_request_cannot_ask_for_a_callback(
    callbacks_on: StorageNames, graph_emulator: GraphEmulator
):
    response, _ = await submit(
        {**BODY, "mode": "sync", "callback_url": "https://dev1.service-now.com/api"}
    )
    assert response.status_code == 400
    assert problem(response)["errors"][0]["pointer"] == "#/callback_url"


async def test_a_reset_given_up_by_the_poison_path_calls_back_failed(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
):
    response, queue = await submit({**BODY, "callback_url": receiver.url()})
    reset_id = body_of(response)["id"]
    graph_emulator.faults.add(
        Fault(method="GET", path="/users/", status=503, retry_after="0", times=None)
    )
    await queue_host.send(callbacks_on.queue, queue.get())
    report = await queue_host.drain(callbacks_on.queue, handler("process_reset"))
    assert len(report.poisoned) == 1
    # Not ended yet: released for another attempt, so no callback.
    assert await queue_host.bodies(callback_queue(callbacks_on)) == []

    await queue_host.drain(callbacks_on.poison, handler("reset_poisoned"))
    await queue_host.drain(callback_queue(callbacks_on), handler("deliver_callback"))

    assert len(receiver.received) == 1
    payload = verified(receiver.received[0])
    assert (payload["event"], payload["status"]) == ("reset.failed", "failed")
    assert payload["id"] == reset_id
    assert "gave up" in payload["detail"]


async def test_a_callback_lost_on_its_way_is_queued_again_by_the_scheduled_run(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
    azurite: Azurite,
):
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    # The worker stopped after recording the end: its callback message never left.
    lost = await queue_host.drain(callback_queue(callbacks_on), lambda message: None)
    assert len(lost.processed) == 1
    callbacks: Out[list[str]] = Out()
    await handler("scheduled_cleanup")(TimerStub(), Out(), callbacks, Out())
    assert not callbacks.is_set  # ended a moment ago: its own message may still be on the way

    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=callbacks_on.table
    ) as table:
        await table.update_entity(
            {
                "PartitionKey": "reset",
                "RowKey": reset_id,
                "FinishedAt": datetime.now(UTC) - timedelta(hours=2),
            },
            mode=UpdateMode.MERGE,
        )
    await handler("scheduled_cleanup")(TimerStub(), Out(), callbacks, Out())
    assert callbacks.get() == [signed_message(reset_id)]
    for message in callbacks.get():
        await queue_host.send(callback_queue(callbacks_on), message)
    await queue_host.drain(callback_queue(callbacks_on), handler("deliver_callback"))
    assert len(receiver.received) == 1
    assert verified(receiver.received[0])["id"] == reset_id


async def test_a_host_removed_from_the_list_gets_no_callback_already_queued(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    azurite: Azurite,
):
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "*.service-now.com")
    get_settings.cache_clear()
    report = await queue_host.drain(callback_queue(callbacks_on), handler("deliver_callback"))

    assert report.failed == [] and not receiver.received
    assert body_of(await status(reset_id))["callback"]["state"] == "failed"
    (failed,) = [e for e in audit_events(caplog) if e["event"] == "callback-failed"]
    assert failed["detail"].startswith("callback-not-allowed")
    assert await stored_callback_url(azurite, callbacks_on, reset_id) == ""


async def test_a_callback_message_the_app_did_not_sign_changes_nothing(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    """Anyone able to write to the callback queues could otherwise fail a pending callback
    (after which no scheduled run sends it) or choose when it is sent."""
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    queue = callback_queue(callbacks_on)
    # The genuine message is still on its way (here: lost) when the forgeries come.
    assert len((await queue_host.drain(queue, lambda message: None)).processed) == 1
    other_key = Keyring([SecretStr("another-key-that-is-not-the-apps-0123456789")])
    forgeries = [
        json.dumps({"reset_id": reset_id}),  # the old shape: an id was enough
        json.dumps({"reset_id": reset_id, "signature": "f" * 64}),
        callback_message(other_key, reset_id),
        json.dumps({**json.loads(signed_message(str(uuid.uuid4()))), "reset_id": reset_id}),
    ]
    for forged in forgeries:
        await queue_host.send(f"{queue}-poison", forged)
    poisoned = await queue_host.drain(f"{queue}-poison", handler("callback_poisoned"))
    for forged in forgeries:
        await queue_host.send(queue, forged)
    delivered = await queue_host.drain(queue, handler("deliver_callback"))

    assert not receiver.received
    shown = body_of(await status(reset_id))["callback"]
    assert (shown["state"], shown["attempts"]) == ("pending", 0)
    assert not [e for e in audit_events(caplog) if e["event"].startswith("callback-")]
    errors = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    for message_id in [*poisoned.processed, *delivered.processed]:
        assert f"queue message {message_id} is not a callback message signed by" in errors
    assert len(poisoned.processed) == len(delivered.processed) == len(forgeries)

    # Nothing is lost: an hour after the reset ended the scheduled run queues it, signed.
    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=callbacks_on.table
    ) as table:
        await table.update_entity(
            {
                "PartitionKey": "reset",
                "RowKey": reset_id,
                "FinishedAt": datetime.now(UTC) - timedelta(hours=2),
            },
            mode=UpdateMode.MERGE,
        )
    callbacks: Out[list[str]] = Out()
    await handler("scheduled_cleanup")(TimerStub(), Out(), callbacks, Out())
    for message in callbacks.get():
        await queue_host.send(queue, message)
    await queue_host.drain(queue, handler("deliver_callback"))
    assert len(receiver.received) == 1
    assert verified(receiver.received[0])["id"] == reset_id


async def test_a_callback_signed_with_the_previous_key_is_still_delivered(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
):
    """Rotating the key does not strand the callbacks already queued."""
    reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": receiver.url()})
    monkeypatch.setenv("WORK_ITEM_SIGNING_KEY_PREVIOUS", os.environ["WORK_ITEM_SIGNING_KEY"])
    monkeypatch.setenv("WORK_ITEM_SIGNING_KEY", "a-new-work-item-key-after-rotation-0123456789")
    get_settings.cache_clear()
    await queue_host.drain(callback_queue(callbacks_on), handler("deliver_callback"))
    assert len(receiver.received) == 1
    assert verified(receiver.received[0])["id"] == reset_id


async def test_a_receiver_dripping_its_answer_is_cut_off_at_the_attempts_limit(
    callbacks_on: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
):
    """The limit is on the whole attempt, not on each read: a byte every 0.2 s never trips a
    per-read timeout, and would hold the attempt for 3 s against a 1 s limit."""
    monkeypatch.setattr(callbacks_module, "TIMEOUT_SECONDS", 1.0)
    with dripping(interval=0.2, length=15) as slow:
        reset_id = await run_reset(queue_host, callbacks_on, {**BODY, "callback_url": slow.url()})
        started = time.monotonic()
        report = await queue_host.run_once(
            callback_queue(callbacks_on), handler("deliver_callback")
        )
        took = time.monotonic() - started

    assert len(slow.received) == 1
    assert len(report.failed) == 1  # no answer: the queue tries again
    assert took < 2.5, f"the attempt took {took:.1f} s"
    shown = body_of(await status(reset_id))["callback"]
    assert (shown["state"], shown["attempts"], shown["last_status"]) == ("pending", 1, None)
