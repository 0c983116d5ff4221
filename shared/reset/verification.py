"""Proof before reset, as a step of the reset: wait, present, decide, release or end.

A reset that needs proof is admitted ``awaiting-verification`` and its work item waits in the
queue (the worker puts it back until the reset is released). The user opens the app's page
(``shared.triggers.verify``), which creates a Verified ID presentation request when there is no
live one (they live about five minutes) and shows its QR code. Verified ID calls back; only a
presentation that proves this user (``shared.verify.rules``) releases the reset (``accepted``:
the worker's next delivery runs it). Each failed or expired presentation counts; after
``VERIFICATION_ATTEMPTS`` the reset ends ``failed`` (``verification-failed: <rule>``), and so it
does when the proof window closes. A pass the request asked for is issued after the reset and
shown once on that page to the person who proved who they are.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import audit
from shared.audit import AuditEvent
from shared.clock import utc_now
from shared.graph.client import get_gateway
from shared.guards import Caller
from shared.ledger import LedgerRecord, ResetStatus, get_ledger
from shared.models import CallbackState, ResetRequest
from shared.notify.notifier import Notifier
from shared.reset.callback_messages import callback_message
from shared.settings import Settings, get_settings
from shared.verify import links
from shared.verify.client import Presentation, client, presentation_body
from shared.verify.errors import VerificationNotConfiguredError
from shared.verify.rules import PLAIN, Subject, Verdict, judge

if TYPE_CHECKING:
    from shared.ledger import Ledger
    from shared.ledger.verifications import Verification

log = logging.getLogger(__name__)


def needs_proof(request: ResetRequest, settings: Settings, caller: Caller) -> bool:
    """A request that asks for proof, or any caller's when the app requires it (a scheduled
    sweep is the admins' own and is exempt)."""
    if request.dry_run:
        return False
    return request.verification is not None or (
        settings.require_verification and caller.authenticated_by != "schedule"
    )


def check_ready(settings: Settings) -> None:
    if not settings.verification_ready or not settings.links_base_url:
        raise VerificationNotConfiguredError(VerificationNotConfiguredError.detail)


@dataclass(frozen=True)
class Step:
    """What the user's page shows next."""

    state: str  # present, retrieved, released, failed-attempt, ended
    presentation: Presentation | None = None
    rule: str | None = None
    attempts_left: int = 0


async def next_step(record: LedgerRecord) -> Step:
    """For a reset still waiting for proof: the live presentation, or a new one."""
    settings = get_settings()
    ledger = await get_ledger()
    verification = await ledger.verifications.get(record.id)
    now = utc_now().timestamp()
    if verification is not None and verification.state == "retrieved":
        return Step("retrieved")
    left = settings.verification_attempts - (verification.attempts if verification else 0)
    live = verification.live_request(now) if verification else None
    if verification is not None and live is not None:
        presentation = Presentation(
            live, verification.requests[live]["url"], float(verification.requests[live]["expiry"])
        )
        return Step("present", presentation, verification.rule, left)
    if verification is not None:  # requests created before have expired: they count
        expired = [r for r, v in verification.requests.items() if not v.get("decided")]
        if expired:
            verification = await _count_expired(ledger, record.id, expired)
            left = settings.verification_attempts - verification.attempts
    if left <= 0:
        await end_failed(record.id, verification.rule if verification else "expired")
        return Step("ended", rule=verification.rule if verification else None)
    presentation = await _create(record, settings)
    return Step("present", presentation, verification.rule if verification else None, left)


async def _count_expired(ledger: Ledger, reset_id: str, expired: list[str]) -> Verification:
    def change(v: Verification) -> Verification:
        for request_id in expired:
            if not v.requests[request_id].get("decided"):
                v.requests[request_id]["decided"] = True
                v.attempts += 1
                v.rule = "expired-request"
        return v

    changed = await ledger.verifications.change(reset_id, change)
    assert changed is not None
    return changed


async def _create(record: LedgerRecord, settings: Settings) -> Presentation:
    gateway = await get_gateway()
    user = await gateway.get_user(record.user_id or record.target)
    api_key = secrets.token_urlsafe(32)
    base = settings.links_base_url or ""
    body = presentation_body(
        settings,
        user.user_principal_name,
        callback_url=links.callback_url(base),
        state=record.id,
        api_key=api_key,
    )
    presentation = await client.create(settings, body)
    digest = links.api_key_digest(settings.keyring(), presentation.request_id, api_key)

    def add(v: Verification) -> Verification:
        v.requests[presentation.request_id] = {
            "api_key": digest,
            "expiry": presentation.expiry,
            "url": presentation.url,
        }
        if v.state == "failed":
            v.state = "awaiting"
        return v

    await (await get_ledger()).verifications.change(record.id, add)
    return presentation


@dataclass(frozen=True)
class Answer:
    """How the callback endpoint answers Verified ID, and a callback message to queue."""

    status: int
    callback: str | None = None


async def on_callback(event: dict[str, Any], api_key: str | None) -> Answer:
    """One callback from Verified ID: ``request_retrieved``, ``presentation_verified`` or
    ``presentation_error``, in any order, duplicated or late."""
    reset_id = str(event.get("state") or "")
    request_id = str(event.get("requestId") or "")
    status = str(event.get("requestStatus") or "")
    settings = get_settings()
    ledger = await get_ledger()
    verification = await ledger.verifications.get(reset_id) if reset_id else None
    request = verification.requests.get(request_id) if verification else None
    if verification is None or request is None:
        return Answer(400)  # not a request this app created
    if not api_key or not links.api_key_matches(
        settings.keyring(), request_id, api_key, str(request["api_key"])
    ):
        return Answer(401)
    if status == "request_retrieved":
        await ledger.verifications.change(reset_id, _retrieved(request_id))
        return Answer(200)
    if status not in ("presentation_verified", "presentation_error"):
        return Answer(400)
    if request.get("decided"):
        return Answer(409)  # this request's result was taken already: a replay
    record = await ledger.get(reset_id)
    if record is None or record.status is not ResetStatus.awaiting_verification:
        await ledger.verifications.change(reset_id, _decided(request_id, None))
        return Answer(200)  # cancelled, or decided by another request meanwhile
    if status == "presentation_error":
        code = str((event.get("error") or {}).get("code") or "")
        rule = "face-check" if code == "claimValidationError" else "presentation-error"
        verdict = Verdict(rule)
    else:
        gateway = await get_gateway()
        user = await gateway.get_user(record.user_id or record.target)
        subject = Subject(user.user_principal_name, user.given_name, user.surname)
        verdict = judge(event, subject, settings, utc_now())
    return await _decide(record, request_id, verdict, settings)


def _retrieved(request_id: str) -> Any:
    def change(v: Verification) -> Verification | None:
        if v.requests[request_id].get("decided") or v.state != "awaiting":
            return None
        v.state = "retrieved"
        return v

    return change


def _decided(request_id: str, verdict: Verdict | None) -> Any:
    def change(v: Verification) -> Verification | None:
        if v.requests[request_id].get("decided"):
            return None
        v.requests[request_id]["decided"] = True
        if verdict is None:
            return v
        v.outcome = {**verdict.record(), "request_id": request_id}
        if verdict.proven:
            v.state, v.rule = "verified", None
        else:
            v.state, v.rule, v.attempts = "failed", verdict.rule, v.attempts + 1
        return v

    return change


async def _decide(
    record: LedgerRecord, request_id: str, verdict: Verdict, settings: Settings
) -> Answer:
    ledger = await get_ledger()
    written = await ledger.verifications.change(record.id, _decided(request_id, verdict))
    if written is None or written.outcome.get("request_id") != request_id:
        return Answer(409)  # decided by a duplicate of this callback first
    detail = (
        f"verified: {verdict.type} from {verdict.issuer}, claims compared "
        f"{', '.join(verdict.claims)}, Face Check {verdict.score}, request {request_id}"
        if verdict.proven
        else failure_detail(
            verdict.rule, written.attempts, settings.verification_attempts, request_id
        )
    )
    audit.emit_record(
        AuditEvent.verified if verdict.proven else AuditEvent.verification_failed,
        record,
        detail=detail,
    )
    if verdict.proven:
        await ledger.settle_verification(record.id, verified=True)
        return Answer(200)
    if written.attempts >= settings.verification_attempts:
        return Answer(200, await end_failed(record.id, verdict.rule))
    return Answer(200)


def failure_detail(rule: str | None, attempt: int, attempts: int, request_id: str) -> str:
    """A failed presentation as the audit trail tells it (the workbook reads the rule from it)."""
    return f"verification-failed: {rule} (attempt {attempt} of {attempts}), request {request_id}"


async def end_failed(reset_id: str, rule: str | None) -> str | None:
    """End a reset whose user did not prove who they are; its callback message, if one is due."""
    ledger = await get_ledger()
    reason = f"verification-failed: {rule or 'expired'} ({PLAIN.get(rule or '', 'no proof')})"
    record = await ledger.settle_verification(reset_id, verified=False, reason=reason)
    if record is None or record.status is not ResetStatus.failed or record.last_error != reason:
        return None
    audit.emit_record(AuditEvent.failed, record, detail=reason)
    settings = get_settings()
    gateway = await get_gateway()
    await Notifier(gateway.mail, ledger, settings).finished(record, None)
    if record.callback is not None and record.callback.state is CallbackState.pending:
        return callback_message(settings.keyring(), reset_id)
    return None


async def show_pass(record: LedgerRecord) -> str | None:
    """Issue the pass the verified reset asked for, once; its value, or None when it was shown
    before (or the reset did not ask for one, or did not succeed)."""
    wanted = record.request.get("temporary_access_pass")
    if record.status is not ResetStatus.succeeded or not wanted or record.user_id is None:
        return None
    ledger = await get_ledger()
    verification = await ledger.verifications.get(record.id)
    if verification is None or verification.state != "verified":
        return None
    if not await ledger.verifications.mark_pass_shown(verification):
        return None
    gateway = await get_gateway()
    created = await gateway.create_temporary_access_pass(
        record.user_id, int(wanted["lifetime_minutes"]), bool(wanted["usable_once"])
    )
    audit.emit_record(
        AuditEvent.executed,
        record,
        detail=f"Temporary Access Pass shown once to the verified user (method {created.id})",
    )
    return created.value
