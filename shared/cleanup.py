"""The scheduled run: group sweep, re-drive of stuck resets, ledger retention, a summary.

Some organisations do not call a webhook per user: HR or the service desk puts users in a
"MFA reset pending" group and a nightly run handles them. Everything else a schedule is good
for rides along: finishing resets that stopped moving and keeping the ledger small.

A run may overlap another (a manual run, a slow run still going when the next starts) or die
half-way. Each part is safe for that:

* the sweep accepts each member under a ticket of the day (``sweep-YYYY-MM-DD``), so two runs
  on the same day find the same idempotency entry and only the first queues the user; a run
  that died before its messages were sent leaves rows ``accepted``, which the re-drive of a
  later run picks up;
* a re-drive first counts itself on the row with an ETag-conditional write: of two runs, one
  re-queues the reset, the other sees the row changed and leaves it;
* deleting a row twice is harmless.

Swept members go through the same door as webhook calls (``accept_reset``: limits, ledger,
audit) and the same worker (protection checks before any write). A protected member is
refused there and stays in the group, visibly: the refusal is in the ledger, in the audit
trail and in every run's summary.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import audit
from shared.audit import AuditEvent
from shared.clock import Clock, utc_now
from shared.graph.contract import Gateway
from shared.ledger import (
    LedgerRecord,
    ResetStatus,
)
from shared.reset.callback_messages import callback_message
from shared.reset.runner import leave_reset_group
from shared.settings import Settings
from shared.signing import WORK_ITEM_LIFETIME, work_item
from shared.sweep import page_messages

if TYPE_CHECKING:
    from shared.ledger import Ledger

log = logging.getLogger(__name__)

SUMMARY_PREFIX = "mfa-reset-cleanup"
# How long the queue keeps a message the output binding wrote (the service's default): a
# pending reset younger than that may still have its message on the way.
MESSAGE_TIME_TO_LIVE = timedelta(days=7)
# A pending callback of a reset that ended longer ago than this was lost on its way.
CALLBACK_GRACE = timedelta(hours=1)


@dataclass
class RunSummary:
    """What one run did; stored in the ledger and logged."""

    started_at: datetime
    finished_at: datetime | None = None
    reset_group_id: str | None = None
    # A run's own id; a sweep page's summary carries the id of the run that queued it.
    run_id: str = ""
    swept: int = 0  # user members found in the reset group
    pages: int = 0  # pages of members queued for admission (shared.sweep)
    # These four come from the summaries of the sweep's pages:
    queued: int = 0  # new resets the sweep accepted and queued
    already_requested: int = 0  # members whose reset of the day exists already
    refused: int = 0  # members refused: a limit now, or a protection by the worker
    deferred: int = 0  # members not requested because the tenant's hourly cap was reached
    left_group: int = 0  # members listed by the run but no longer in the group at admission
    removed_from_group: int = 0  # removals this run finished for resets that succeeded
    redriven: int = 0  # stuck or retryably failed resets queued again
    redrive_deferred: int = 0  # re-drives left for a later run: the hourly cap was reached
    tampered: int = 0  # rows whose state the app did not write: reported, never re-queued
    gave_up: int = 0  # resets left failed: past the re-drive limit, or not re-drivable
    purged: int = 0  # ledger rows deleted by retention
    callbacks_requeued: int = 0  # ended resets whose callback was never delivered nor given up
    callback_urls_forgotten: int = 0  # URLs kept for a dispute whose time is over
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["started_at"] = self.started_at.isoformat()
        values["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return values


class CleanupRun:
    def __init__(
        self,
        ledger: Ledger,
        gateway: Callable[[], Awaitable[Gateway]],
        settings: Settings,
        clock: Clock = utc_now,
    ) -> None:
        self._ledger = ledger
        self._gateway = gateway
        self._settings = settings
        self._clock = clock
        self.run_id = uuid.uuid4().hex
        self.summary = RunSummary(
            started_at=clock(), reset_group_id=settings.reset_group_id, run_id=self.run_id
        )
        self.messages: list[str] = []
        self.callback_messages: list[str] = []
        self.sweep_pages: list[str] = []

    async def run(self) -> RunSummary:
        """Every part, each on its own: one failing (Graph down for the sweep) does not stop
        the others, and nothing is raised. Queue ``self.messages`` and
        ``self.callback_messages`` afterwards."""
        parts: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("group removals", self._finish_group_removals),
            ("group sweep", self._sweep),
            ("re-drive", self._redrive),
            ("callbacks", self._requeue_callbacks),
            ("callback URLs", self._forget_callback_urls),
            ("overdue proofs", self._end_overdue_proofs),
            ("retention", self._purge),
        ]
        for name, part in parts:
            try:
                await part()
            except Exception as exc:  # recorded in the summary and logged
                log.exception("scheduled run: %s failed", name)
                self.summary.errors.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
        self.summary.finished_at = self._clock()
        await self._record()
        return self.summary

    async def _finish_group_removals(self) -> None:
        group_id = self._settings.reset_group_id
        if group_id is None:
            return
        records = await self._ledger.pending_group_removals(group_id)
        if not records:
            return
        gateway = await self._gateway()
        for record in records:
            if record.outcome is None or not self._trusted(record):
                continue
            result = await leave_reset_group(gateway, group_id, record.outcome)
            if result != "failed" and await self._ledger.set_group_removal(
                record, result, record.outcome
            ):
                self.summary.removed_from_group += 1

    async def _sweep(self) -> None:
        """List the reset group and queue its members a page at a time (``shared.sweep``):
        the run itself admits nobody, so its length does not grow with the group."""
        group_id = self._settings.reset_group_id
        if group_id is None:
            return
        members = await (await self._gateway()).group_user_members(group_id)
        self.summary.swept = len(members)
        outstanding = await self._ledger.sweep_outstanding(
            group_id, since=self.summary.started_at - timedelta(days=1)
        )
        due = [m for m in members if m.id.lower() not in outstanding]
        # Reset already requested and not over, or done and only the removal (or the group
        # listing) lags behind: never a second reset for that.
        self.summary.already_requested += len(members) - len(due)
        ticket = f"sweep-{self.summary.started_at:%Y-%m-%d}"
        self.sweep_pages = page_messages(
            self._settings, self.run_id, group_id, ticket, due, self.summary.started_at
        )
        self.summary.pages = len(self.sweep_pages)

    async def _redrive(self) -> None:
        """Queue again what the app itself left re-drivable, under the same rules as an
        admission: a row whose state the app did not write is reported and left alone, a
        reset older than a work item may live is given up, and each re-drive takes a place
        under the tenant's hourly cap (past it, the reset waits for a later run)."""
        stale_after = timedelta(seconds=self._settings.lease_seconds)
        for record in await self._ledger.redrive_candidates(stale_after):
            if not self._trusted(record):
                continue
            if not record.admitted:
                await self._give_up(
                    record,
                    "its limits were never counted (the instance stopped in between), so it "
                    "was never run: submit it again",
                )
                continue
            if self._clock() - record.accepted_at > WORK_ITEM_LIFETIME:
                await self._give_up(
                    record, "expired: admitted longer ago than a reset may wait; submit it again"
                )
                continue
            request = record.stored_request()
            if (
                request is None
                and record.status is not ResetStatus.failed
                and record.accepted_at > self._clock() - MESSAGE_TIME_TO_LIVE
            ):
                continue  # only its own message can run it; that may still come
            if request is None or record.signature is None:
                await self._give_up(
                    record,
                    "stopped, and cannot be re-run from the ledger (its new phone number or "
                    "TAP is not kept): submit it again",
                )
                continue
            if record.redrives >= self._settings.redrive_max_attempts:
                await self._give_up(
                    record, f"stopped after {record.redrives} re-drive(s) by scheduled runs"
                )
                continue
            if not await self._ledger.reserve_hour(1, self._settings.resets_per_hour):
                self.summary.redrive_deferred += 1
                continue
            if not await self._ledger.mark_redriven(record):
                await self._ledger.release_hour(1)
                continue
            self.messages.append(work_item(record, request))
            self.summary.redriven += 1
            log.warning(
                "reset %s re-driven (%d of %d) from %s",
                record.id,
                record.redrives,
                self._settings.redrive_max_attempts,
                record.status,
                extra={"reset_id": record.id, "redrives": record.redrives},
            )

    def _trusted(self, record: LedgerRecord) -> bool:
        """Whether the app wrote this row's state; if not, say so loudly and leave it."""
        if self._ledger.genuine(record):
            return True
        self.summary.tampered += 1
        audit.emit_record(
            AuditEvent.refused,
            record,
            detail="forged-work-item: the scheduled run left this reset alone: its ledger row's "
            "state was not written by this app (the seal does not verify)",
            level=logging.ERROR,
        )
        return False

    async def _requeue_callbacks(self) -> None:
        """Callbacks of resets that ended over an hour ago and are still pending: their
        message was lost (the worker stopped after recording the end). Long enough for the
        queue's own retries to have finished; an attempt that is still under way repeats the
        same ``webhook-id``, which receivers drop."""
        before = self._clock() - CALLBACK_GRACE
        for record in await self._ledger.undelivered_callbacks(before):
            self.callback_messages.append(callback_message(self._settings.keyring(), record.id))
            self.summary.callbacks_requeued += 1

    async def _end_overdue_proofs(self) -> None:
        """A reset whose user did not prove who they are within the window ends failed, with
        its callback, even when its work item was lost on the way."""
        from shared.reset.verification import end_failed
        from shared.verify.links import PROOF_WINDOW

        for record in await self._ledger.overdue_proofs(self._clock() - PROOF_WINDOW):
            if not self._trusted(record):
                continue
            message = await end_failed(record.id, "expired")
            self.summary.gave_up += 1
            if message is not None:
                self.callback_messages.append(message)

    async def _forget_callback_urls(self) -> None:
        """A callback URL kept for a possible dispute is emptied once the time for one is over:
        it may carry the receiver's secret."""
        self.summary.callback_urls_forgotten = await self._ledger.forget_callback_urls(
            self._clock()
        )

    async def _give_up(self, record: LedgerRecord, reason: str) -> None:
        if record.last_error:
            reason += f"; last error: {record.last_error}"
        if await self._ledger.give_up(record, reason):
            self.summary.gave_up += 1
            audit.emit_record(AuditEvent.failed, record, detail=f"given up: {reason}")

    async def _purge(self) -> None:
        cutoff = self._clock() - timedelta(days=self._settings.retention_days)
        self.summary.purged = await self._ledger.purge(cutoff)

    async def _record(self) -> None:
        await record_summary(self._ledger, self.summary)


async def record_summary(ledger: Ledger, summary: RunSummary) -> None:
    """Store a run's (or a sweep page's) summary in the ledger and log it: the log line carries
    it even when the ledger cannot."""
    values = summary.to_dict()
    try:
        await ledger.record_run(values)
    except Exception:  # the log line below still carries the summary
        log.exception("scheduled run: the summary could not be stored")
        values["errors"] = [*values["errors"], "summary not stored in the ledger"]
    log.log(
        logging.ERROR if summary.errors else logging.INFO,
        "%s %s",
        SUMMARY_PREFIX,
        json.dumps(values, separators=(",", ":")),
        extra={f"cleanup_{k}": v for k, v in values.items() if k != "errors"},
    )
