"""A group sweep, a page at a time: the scheduled run lists the group, pages do the admitting.

Admitting a member costs a few ledger writes; 5,000 members admitted in the timer's own
invocation would take minutes and die with it at ``functionTimeout``. So the run only lists the
group and queues one signed message per page of members on ``<RESET_QUEUE_NAME>-sweep``; each
page is admitted by its own queue-triggered invocation, a bounded amount of work, retried by
the queue like any message.

The message carries the members, so it is signed with the app's work-item key (another
purpose, so no other signature fits): anyone able to write to the queue could otherwise name any
user for a reset. A signed page could still be copied (from the queue or its poison queue) and
put back days later, when its members may have left the group; so a page is signed with the time
its run issued it and is refused once the next scheduled run is due (that run lists the group
afresh), it is admitted once (its digest is recorded when it is done), and each member is
admitted only while still in the reset group. A page admits each member under the day's ticket,
so a page delivered twice, or a run repeated after one died half-way, finds the first admission
and queues nobody twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from shared import audit
from shared.audit import AuditEvent
from shared.graph.contract import DirectoryUser, Gateway
from shared.guards import Caller
from shared.ledger import IdempotencyConflictError, LimitReachedError, ResetStatus
from shared.models import ResetRequest
from shared.reset.intake import accept_reset
from shared.settings import Settings
from shared.signing import sign_sweep_page, verify_sweep_page, work_item

if TYPE_CHECKING:
    from shared.ledger import Ledger

log = logging.getLogger(__name__)

SCHEDULE_CALLER = Caller("schedule", name="scheduled_cleanup")
REQUESTED_BY = "schedule:scheduled_cleanup"
# One reservation under the hourly cap per page; a page's members admitted 8 at a time.
SWEEP_PAGE = 100
SWEEP_CONCURRENCY = 8
# How long after the next scheduled run a page may still be admitted.
PAGE_MARGIN = timedelta(minutes=10)


class PageMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    user_principal_name: str
    user_type: str | None = None
    # Whom to notify: the member's mailbox and how to greet them.
    mail: str | None = None
    given_name: str | None = None


class SweepPage(BaseModel):
    """One page of a sweep as queued: the run, the group, the day's ticket, the members, and
    when the run issued it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    group_id: str
    ticket_id: str
    issued_at: datetime
    members: list[PageMember] = Field(max_length=SWEEP_PAGE)
    signature: str = ""

    def canonical(self) -> bytes:
        body = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        """What identifies the page once admitted, whatever message carried it."""
        return hashlib.sha256(self.canonical()).hexdigest()


def next_run_after(schedule: str, moment: datetime) -> datetime:
    """When the NCRONTAB ``schedule`` (seconds first, as the Functions timer reads it) fires
    next after ``moment``."""
    from croniter import croniter  # paid by the sweep, not by every cold start

    upcoming: datetime = croniter(schedule, moment, second_at_beginning=True).get_next(datetime)
    return upcoming


def page_expires_at(page: SweepPage, schedule: str) -> datetime:
    """A page is superseded once the next scheduled run is due (it lists the group afresh);
    the margin leaves room for pages still waiting in the queue at that moment."""
    return next_run_after(schedule, page.issued_at) + PAGE_MARGIN


def page_messages(
    settings: Settings,
    run_id: str,
    group_id: str,
    ticket: str,
    members: list[DirectoryUser],
    issued_at: datetime,
) -> list[str]:
    """The signed page messages for ``members``."""
    keyring = settings.keyring()
    messages = []
    for start in range(0, len(members), SWEEP_PAGE):
        page = SweepPage(
            run_id=run_id,
            group_id=group_id,
            ticket_id=ticket,
            issued_at=issued_at,
            members=[
                PageMember(
                    id=m.id,
                    user_principal_name=m.user_principal_name,
                    user_type=m.user_type,
                    mail=m.mail,
                    given_name=m.given_name,
                )
                for m in members[start : start + SWEEP_PAGE]
            ],
        )
        signature = sign_sweep_page(keyring, page.canonical())
        messages.append(page.model_copy(update={"signature": signature}).model_dump_json())
    return messages


def refusal(page: SweepPage, settings: Settings, now: datetime) -> str | None:
    """Why the page is not one to admit now, or None: signed by this app's scheduled run, for
    the group it sweeps now, and not yet superseded by the next run."""
    if not verify_sweep_page(settings.keyring(), page.canonical(), page.signature):
        return "not a page this app signed"
    if page.group_id != settings.reset_group_id:
        return "for a group this app does not sweep"
    if page.issued_at > now + PAGE_MARGIN:
        return "issued in the future"
    if now > page_expires_at(page, settings.cleanup_schedule):
        return f"expired: issued {page.issued_at.isoformat()}, and a later scheduled run was due"
    return None


@dataclass
class PageCounts:
    """What admitting one page did; logged and recorded like a run's summary."""

    queued: int = 0
    already_requested: int = 0
    refused: int = 0
    deferred: int = 0
    left_group: int = 0


class PageAdmission:
    """Admits the members of one page; ``messages`` are the resets to queue."""

    def __init__(
        self, ledger: Ledger, settings: Settings, page: SweepPage, gateway: Gateway
    ) -> None:
        self._ledger = ledger
        self._settings = settings
        self._page = page
        self._gateway = gateway
        self.counts = PageCounts()
        # The resets to queue, each with the time it may run (None: now).
        self.messages: list[tuple[str, datetime | None]] = []

    async def run(self) -> PageCounts:
        # Only members still in the group: someone taken out since the run listed it (the
        # request withdrawn) is not reset. One listing per page, whatever its size.
        current = {
            m.id.lower() for m in await self._gateway.group_user_members(self._page.group_id)
        }
        members = [m for m in self._page.members if m.id.lower() in current]
        self.counts.left_group = len(self._page.members) - len(members)
        # The page's places under the hourly cap in one write; the members are then admitted
        # together, each counting only its own cooldown.
        granted = await self._ledger.reserve_hour(len(members), self._settings.resets_per_hour)
        created = await _bounded(SWEEP_CONCURRENCY, [self._accept(m) for m in members[:granted]])
        await self._ledger.release_hour(granted - sum(created))
        if granted < len(members):
            # The tenant's hourly cap is reached: these wait for a later run instead of
            # leaving one refused row and one alert per member.
            self.counts.deferred = len(members) - granted
            log.warning(
                "sweep page: %d member(s) of the reset group wait for a later run: the "
                "tenant's hourly cap (RESETS_PER_HOUR) is reached",
                self.counts.deferred,
            )
        return self.counts

    async def _accept(self, member: PageMember) -> bool:
        """Request one member's reset, its place reserved; True when a new one was admitted."""
        request = ResetRequest.model_validate_json(
            json.dumps(
                {
                    "user": member.id,
                    "ticket_id": self._page.ticket_id,
                    "requested_by": REQUESTED_BY,
                    "reason": f"member of the reset group {self._page.group_id}",
                }
            )
        )
        user = DirectoryUser(
            id=member.id,
            user_principal_name=member.user_principal_name,
            user_type=member.user_type,
            account_enabled=None,
            display_name=None,
            mail=member.mail,
            given_name=member.given_name,
        )
        try:
            record, created = await accept_reset(
                self._ledger,
                request,
                str(uuid.uuid4()),
                caller=SCHEDULE_CALLER,
                settings=self._settings,
                sweep_group_id=self._page.group_id,
                user=user,  # from the group listing: no read needed to know who it is
                hour_reserved=True,
            )
        except LimitReachedError:
            self.counts.refused += 1  # the user's cooldown; stays in the group for later
            return False
        except IdempotencyConflictError:
            # Today's ticket for this user was used by a request that was not a sweep's.
            self.counts.already_requested += 1
            return False
        if created:
            audit.emit_record(AuditEvent.accepted, record)
            from shared.notify.notifier import Notifier

            notifier = Notifier(self._gateway.mail, self._ledger, self._settings)
            await notifier.accepted(record, user, runs_at=record.hold_until)
            self.messages.append((work_item(record, request), record.hold_until))
            self.counts.queued += 1
        elif record.status is ResetStatus.refused:
            self.counts.refused += 1
        else:
            # Queued by an earlier delivery or run; a lost message is the re-drive's job.
            self.counts.already_requested += 1
        return created


async def _bounded(limit: int, calls: list[Coroutine[Any, Any, bool]]) -> list[bool]:
    """Await ``calls`` with at most ``limit`` running at once."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Coroutine[Any, Any, bool]) -> bool:
        async with gate:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))
