"""Telling the user, at the two moments NIST asks for: when a reset is accepted, and when it ends.

Every notification is best effort for the reset and exact for the record: a mail Graph refuses
(403 outside the sender's RBAC scope, 429, a missing mailbox) never stops or fails the reset,
and each recipient's result (sent, skipped or failed, and why) is recorded beside the reset, in
a ``notified`` audit event and in the status view. The acceptance mail goes before anything is
changed (before sessions are revoked, so a still signed-in laptop shows it), with a link that
stops the reset while it waits; the end's mail carries a link to dispute it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared import audit
from shared.audit import AuditEvent
from shared.clock import Clock, utc_now
from shared.graph.contract import DirectoryUser, GraphError, Mailer
from shared.models import NoticeResult, NoticeStage, Outcome, Recipient, mask_address
from shared.notify import compose, links
from shared.notify.recipients import Address, find_addresses
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.ledger import Ledger, LedgerRecord

log = logging.getLogger(__name__)


class Notifier:
    def __init__(
        self, mailer: Mailer, ledger: Ledger, settings: Settings, clock: Clock = utc_now
    ) -> None:
        self._mailer = mailer
        self._ledger = ledger
        self._settings = settings
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Mail goes out only with a sender; links need to know where the app is reached."""
        return bool(self._settings.notify_sender and self._settings.links_base_url)

    async def accepted(
        self, record: LedgerRecord, user: DirectoryUser, runs_at: datetime | None
    ) -> list[dict[str, Any]]:
        """Tell every recipient the reset was accepted (and when it will run); never raises."""
        if not self.enabled:
            return []
        try:
            addresses = await find_addresses(self._mailer, user)
            first_name = user.given_name or user.display_name or "there"

            def mail(address: Address, link: str, expires: datetime) -> compose.Mail:
                return compose.accepted_mail(
                    record,
                    first_name=address.name or first_name,
                    sender=self._sender,
                    link=link,
                    link_expires=expires,
                    runs_at=runs_at,
                )

            results = await self._send_all(record, NoticeStage.accepted, addresses, mail)
            keep = [
                {
                    "recipient": str(a.recipient),
                    "address": a.address,
                    "first_name": a.name or first_name,
                }
                for a in addresses
                if a.address
            ]
            await self._ledger.notices.record(record.id, results, keep, first_name)
        except Exception:  # the reset goes on; the record says nothing was sent
            log.exception("reset %s: the acceptance notifications failed", record.id)
            return []
        self._audit(record, results)
        return results

    async def finished(self, record: LedgerRecord, outcome: Outcome | None) -> list[dict[str, Any]]:
        """Tell the same recipients how the reset ended; never raises. The addresses read at
        acceptance are forgotten once this has gone."""
        if not self.enabled:
            return []
        try:
            notices = await self._ledger.notices.about(record.id)
            if not notices.notify_to:
                return []
            addresses = [
                Address(
                    Recipient(entry["recipient"]),
                    entry["address"],
                    name=entry.get("first_name") or "there",
                )
                for entry in notices.notify_to
            ]

            def mail(address: Address, link: str, expires: datetime) -> compose.Mail:
                return compose.finished_mail(
                    record,
                    outcome,
                    first_name=address.name or "there",
                    sender=self._sender,
                    link=link,
                    link_expires=expires,
                )

            results = await self._send_all(record, NoticeStage.finished, addresses, mail)
            await self._ledger.notices.record(record.id, results, [])
        except Exception:
            log.exception("reset %s: the notifications of its end failed", record.id)
            return []
        self._audit(record, results)
        return results

    @property
    def _sender(self) -> str:
        assert self._settings.notify_sender is not None
        return self._settings.notify_sender

    async def _send_all(
        self,
        record: LedgerRecord,
        stage: NoticeStage,
        addresses: list[Address],
        mail: Any,
    ) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._send(record, stage, a, mail) for a in addresses)))

    async def _send(
        self, record: LedgerRecord, stage: NoticeStage, address: Address, mail: Any
    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "stage": str(stage),
            "recipient": str(address.recipient),
            "address": mask_address(address.address),
        }
        if not address.address:
            return {**result, "result": str(NoticeResult.skipped), "reason": address.reason}
        token = links.new_token()
        keyring = self._settings.keyring()
        expires = self._clock() + links.LINK_LIFETIME
        digest = links.digest(keyring, record.id, str(address.recipient), token)
        await self._ledger.notices.issue(digest, record.id, str(address.recipient), expires)
        base = self._settings.links_base_url or ""
        link = links.link_url(base, record.id, str(address.recipient), token)
        message = mail(address, link, expires)
        try:
            await self._mailer.send_mail(
                self._sender, compose.mime(message, self._sender, address.address)
            )
        except GraphError as exc:
            reason = f"Graph {exc.status or 'no response'} {exc.code}"
            return {**result, "result": str(NoticeResult.failed), "reason": reason}
        return {**result, "result": str(NoticeResult.sent), "reason": None}

    def _audit(self, record: LedgerRecord, results: list[dict[str, Any]]) -> None:
        failed = [r for r in results if r["result"] == NoticeResult.failed]
        sent = sum(r["result"] == NoticeResult.sent for r in results)
        audit.emit_record(
            AuditEvent.notified,
            record,
            detail=f"{results[0]['stage'] if results else ''}: {sent} sent, {len(failed)} failed",
            level=logging.WARNING if failed or not sent else None,
            notifications=results,
        )
