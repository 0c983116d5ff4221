"""Reset a seeded user's MFA on the emulated tenant, through the real HTTP functions.

Starts the Graph + managed identity emulator and Azurite (the ledger's Table Storage), points the
app at them with the same app settings a deployment uses (GRAPH_BASE_URL, IDENTITY_ENDPOINT,
IDENTITY_HEADER, RESET_STORAGE), then calls the functions the way the Functions host would: a dry
run of ``POST /api/resets`` that prints the plan, the reset itself ("mode": "sync", with a new
phone and a Temporary Access Pass), whose verified outcome is printed with the Graph calls it took,
and ``GET /api/resets/{id}``, the ledger's record of it. The user is told, as they would be in a
tenant with ``NOTIFY_SENDER`` set: the mails the emulator's outbox received are printed, and one
"this wasn't me" link is opened the way the user's browser would (the page only, not its button).
Last, a reset that waits for proof: the user's page, the emulated wallet presenting the user's
VerifiedEmployee credential with a passing Face Check, Verified ID's callbacks, and the reset
running once the user is verified.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import azure.functions as func

from emulator import GraphEmulator, demo_tenant
from emulator.azurite import Azurite

USER = "adele.vance@contoso.example"
MANAGER = "alex.wilber@contoso.example"
SENDER = "mfa-notices@contoso.example"
APP_URL = "http://127.0.0.1:7071"
AUTHORITY = "did:web:verifiedid.contoso.example"
VERIFIED_USER = "alex.wilber@contoso.example"
REQUEST: dict[str, Any] = {
    "user": USER,
    "ticket_id": "INC0012345",
    "requested_by": "helpdesk.agent@contoso.example",
    "reason": "Lost phone; identity verified by manager call-back",
    "mode": "sync",
    "new_phone": {"number": "+14255550199", "type": "mobile"},
    "temporary_access_pass": {"lifetime_minutes": 60, "usable_once": True},
}


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _steps(outcome: dict[str, Any]) -> str:
    rows = [
        [
            str(n),
            s["action"],
            s.get("phone_type") or s.get("method_type") or "",
            (s.get("method_id") or "")[:8],
            s["result"],
            s.get("detail") or "",
        ]
        for n, s in enumerate(outcome["steps"], 1)
    ]
    return _table(rows, ["#", "action", "method", "id", "result", "detail"])


class _QueueOutput(func.Out[str]):
    """A queue output binding (work items, callbacks); a synchronous reset leaves it unset."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, val: str) -> None:
        self.value = val

    def get(self) -> str:
        return self.value or ""


async def _call(submit: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = func.HttpRequest(
        method="POST",
        url="http://localhost:7071/api/resets",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )
    response: func.HttpResponse = await submit(request, _QueueOutput())
    return response.status_code, json.loads(response.get_body())


async def main() -> int:
    tenant = demo_tenant()
    # The mailbox notifications come from (the app may send only as it) and Adele's manager.
    tenant.add_shared_mailbox(SENDER, display_name="MFA notices")
    tenant.allow_send_as(SENDER)
    tenant.set_manager(USER, MANAGER)
    with GraphEmulator(tenant) as emu, Azurite() as storage:
        os.environ.update(emu.env())
        os.environ.update(
            RESET_STORAGE=storage.connection_string,
            RESET_QUEUE_NAME="mfa-resets",
            # A fresh key per run; deployed, it is a Key Vault secret.
            WORK_ITEM_SIGNING_KEY=secrets.token_urlsafe(48),
            NOTIFY_SENDER=SENDER,
            PUBLIC_BASE_URL=APP_URL,
            VERIFIED_ID_AUTHORITY=AUTHORITY,
            VERIFIED_ID_ACCEPTED_ISSUERS=AUTHORITY,
        )
        import function_app
        from shared.graph.client import close_gateway
        from shared.ledger import close_ledger

        functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
        submit = functions["submit_reset"].get_user_function()
        user = emu.tenant.user(USER)
        assert user is not None
        before = emu.tenant.methods(user.id)
        print(f"Emulated tenant at {emu.base_url}; {USER} has {len(before)} methods:")
        for method in before:
            print(f"  {method['@odata.type'].split('.')[-1]:<48} {method['id']}")

        status, plan = await _call(submit, {**REQUEST, "dry_run": True})
        print(f"\nPOST /api/resets (dry_run) -> {status}, status={plan['status']}; the plan:")
        print(_steps(plan))
        assert not emu.writes(), "a dry run must not write"

        tokens = len(emu.token_requests)
        emu.clear_log()
        status, outcome = await _call(submit, REQUEST)
        body = outcome.get("outcome", outcome)  # a 502 problem carries the outcome inside
        print(f"\nPOST /api/resets -> {status}, status={body['status']}:")
        print(_steps(body))
        remaining = [
            f"{m['type']}:{m.get('phone_type') or ''} {m.get('display') or ''}".strip()
            for m in body["remaining_methods"] or []
        ]
        print(f"\nVerified remaining methods: {remaining or 'none'}")
        print(f"Sessions revoked at: {body['sessions_revoked_at']}")
        tap = body.get("temporary_access_pass")
        if tap:
            print(
                f"Temporary Access Pass: {tap['value'][:2]}****** (shown once, to the caller), "
                f"{tap['lifetime_minutes']} min, usable once: {tap['usable_once']}"
            )

        print("\nGraph calls made by the reset:")
        calls = [
            [r.method, r.path.removeprefix("/v1.0").replace(user.id, "{id}"), str(r.status)]
            for r in emu.requests
        ]
        print(_table(calls, ["method", "path", "status"]))
        tokens += len(emu.token_requests)
        print(f"\nManaged identity token requests for both calls: {tokens} (cached, reused)")

        get_reset = functions["get_reset"].get_user_function()
        read: func.HttpResponse = await get_reset(
            func.HttpRequest(
                method="GET",
                url=f"http://localhost:7071/api/resets/{body['id']}",
                route_params={"reset_id": body["id"]},
                body=b"",
            )
        )
        record = json.loads(read.get_body())
        print(
            f"\nGET /api/resets/{body['id']} -> {read.status_code}: status={record['status']}, "
            f"attempts={record['attempts']}, temporary_access_pass.value="
            f"{(record.get('temporary_access_pass') or {}).get('value')!r} (never stored)"
        )
        await _show_notifications(emu, functions)
        await _verified_reset(emu, functions)
        await close_ledger()
        await close_gateway()
        return 0 if body["status"] == "succeeded" else 1


async def _show_notifications(emu: GraphEmulator, functions: dict[Any, Any]) -> None:
    """The mails the user, their email method and their manager received, and the page one of
    their links opens."""
    mails = emu.outbox.messages()
    print(f"\nNotifications sent from {SENDER} (the emulator's outbox):")
    print(_table([[", ".join(m.to), m.subject] for m in mails], ["to", "subject"]))
    last = next(m for m in reversed(mails) if USER in m.to)
    print(f"\nThe last one to {USER}, as text (an HTML part says the same):\n")
    print("  " + (last.text or "").strip().replace("\n", "\n  "))
    link = re.search(re.escape(APP_URL) + r"/api/notices/\S+", last.text or "")
    assert link, "a notification carries its link"
    reset_id, recipient, token = link.group(0).split("/api/notices/")[1].split("/")
    page: func.HttpResponse = await functions["notice_page"].get_user_function()(
        func.HttpRequest(
            method="GET",
            url=link.group(0),
            route_params={"reset_id": reset_id, "recipient": recipient, "token": token},
            body=b"",
        )
    )
    words = html.unescape(
        re.sub(
            r"<title>.*?</title>|<style>.*?</style>|<[^>]+>",
            " ",
            page.get_body().decode(),
            flags=re.S,
        )
    )
    print(f"\nGET {APP_URL}/api/notices/{reset_id}/{recipient}/... -> {page.status_code}:")
    print("  " + " ".join(words.split()))


def _text(page: func.HttpResponse) -> str:
    body = re.sub(
        r"<title>.*?</title>|<style>.*?</style>|<svg.*?</svg>|<[^>]+>",
        " ",
        page.get_body().decode(),
        flags=re.S,
    )
    return " ".join(html.unescape(body).split())


async def _verified_reset(emu: GraphEmulator, functions: dict[Any, Any]) -> None:
    """A reset that waits for the user's proof (Verified ID and Face Check, the emulator's
    wallet playing the user's phone), then runs."""
    print(f'\nPOST /api/resets for {VERIFIED_USER} with "verification": "verified-id":')
    queue = _QueueOutput()
    request = {
        "user": VERIFIED_USER,
        "ticket_id": "INC0012346",
        "requested_by": "helpdesk.agent@contoso.example",
        "verification": "verified-id",
    }
    answer: func.HttpResponse = await functions["submit_reset"].get_user_function()(
        func.HttpRequest(
            method="POST",
            url=f"{APP_URL}/api/resets",
            headers={"Content-Type": "application/json"},
            body=json.dumps(request).encode(),
        ),
        queue,
    )
    view = json.loads(answer.get_body())
    link = view["verification"]["link"]
    print(f"  {answer.status_code}, status={view['status']}; the link for the user: {link}")
    reset_id, token = link.split("/api/verify/")[1].split("/")
    route = {"reset_id": reset_id, "token": token}
    page = functions["verify_page"].get_user_function()

    async def open_page() -> str:
        shown = await page(
            func.HttpRequest(method="GET", url=link, route_params=route, body=b""), _QueueOutput()
        )
        return _text(shown)

    print(f"\nThe user opens it (a QR code is drawn beside this text):\n  {await open_page()}")
    service = emu.verified_id
    credential = service.wallet.employee_credential(VERIFIED_USER, AUTHORITY)
    callback = functions["verified_id_callback"].get_user_function()
    for event in service.wallet.present(service.latest().request_id, credential):
        response = await callback(
            func.HttpRequest(
                method="POST",
                url=f"{APP_URL}/api/verify-callback",
                headers={**event.headers, "Content-Type": "application/json"},
                body=json.dumps(event.body).encode(),
            ),
            _QueueOutput(),
        )
        print(f"  Verified ID calls back {event.body['requestStatus']} -> {response.status_code}")
    print(f"\nThe page now:\n  {await open_page()}")
    await functions["process_reset"].get_user_function()(
        func.QueueMessage(body=queue.get().encode(), id="demo"), _QueueOutput()
    )
    print(f"\nAfter the worker ran the reset:\n  {await open_page()}")


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
