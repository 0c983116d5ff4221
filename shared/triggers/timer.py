"""The scheduled run (``shared.cleanup``), and the pages of its group sweep (``shared.sweep``)."""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import ValidationError

from shared.cleanup import CleanupRun, RunSummary, record_summary
from shared.clock import utc_now
from shared.graph.client import get_gateway
from shared.ledger import get_ledger
from shared.settings import SettingsError, get_settings
from shared.sweep import PageAdmission, SweepPage, refusal
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION, QUEUE_NAME, SWEEP_QUEUE_NAME
from shared.triggers.delayed import send_later

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.timer_trigger(
    arg_name="timer", schedule="%CLEANUP_SCHEDULE%", run_on_startup=False, use_monitor=True
)
@bp.queue_output(arg_name="queue", queue_name=QUEUE_NAME, connection=QUEUE_CONNECTION)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
@bp.queue_output(arg_name="pages", queue_name=SWEEP_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def scheduled_cleanup(
    timer: func.TimerRequest,
    queue: func.Out[list[str]],
    callbacks: func.Out[list[str]],
    pages: func.Out[list[str]],
) -> None:
    """Sweep the reset group, re-drive stuck resets, purge old ledger rows, record a summary.

    The resets it accepts or re-drives are queued when it returns, through the same queue
    (and the same worker) as webhook requests.
    """
    if timer.past_due:
        log.warning("scheduled run is late: the previous schedule was missed")
    run = CleanupRun(await get_ledger(), get_gateway, get_settings())
    await run.run()  # does not raise: a failed part is in the summary
    # The host sends output messages only when the function returns normally; the resets
    # this run accepted are in the ledger either way, so a later run re-drives them if not.
    if run.messages:
        queue.set(run.messages)
    if run.callback_messages:
        callbacks.set(run.callback_messages)
    if run.sweep_pages:
        pages.set(run.sweep_pages)


@bp.queue_trigger(arg_name="msg", queue_name=SWEEP_QUEUE_NAME, connection=QUEUE_CONNECTION)
@bp.queue_output(arg_name="queue", queue_name=QUEUE_NAME, connection=QUEUE_CONNECTION)
async def admit_sweep_page(msg: func.QueueMessage, queue: func.Out[list[str]]) -> None:
    """Admit one page of a group sweep; its resets are queued when it returns.

    A page that fails part-way comes back from the queue; its members already admitted are
    found under the day's ticket and not queued again (a reset admitted but never queued is
    the next run's re-drive).
    """
    try:
        page = SweepPage.model_validate_json(msg.get_body())
    except ValidationError:
        log.error("queue message %s is not a sweep page; it is dropped", msg.id)
        return
    settings = get_settings()
    try:
        why = refusal(page, settings, utc_now())
    except SettingsError as exc:
        log.error("sweep page %s not processed: %s", msg.id, exc)
        raise  # the page comes back; the setting may be fixed meanwhile
    if why:
        # Not signed by this app, for a group it no longer sweeps, or superseded by a later
        # scheduled run: nobody is admitted.
        log.error("sweep page %s refused: %s", msg.id, why)
        return
    ledger = await get_ledger()
    digest = page.digest()
    if not await ledger.begin_page(digest):
        log.error("sweep page %s refused: this page was admitted already", msg.id)
        return
    admission = PageAdmission(ledger, settings, page, await get_gateway())
    counts = await admission.run()
    await ledger.end_page(digest)
    now = utc_now()
    await record_summary(
        ledger,
        RunSummary(
            started_at=now,
            finished_at=now,
            reset_group_id=page.group_id,
            run_id=page.run_id,
            queued=counts.queued,
            already_requested=counts.already_requested,
            refused=counts.refused,
            deferred=counts.deferred,
            left_group=counts.left_group,
        ),
    )
    now_due = [m for m, hold in admission.messages if hold is None or hold <= utc_now()]
    if now_due:
        queue.set(now_due)
    held = [(m, hold) for m, hold in admission.messages if hold is not None and hold > utc_now()]
    if held:
        # The page's members were admitted together: their holds end within moments.
        until = max(hold for _, hold in held)
        await send_later(
            settings, settings.reset_queue_name, [m for m, _ in held], until - utc_now()
        )
