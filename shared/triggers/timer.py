"""The scheduled run: group sweep, re-drive, lost callbacks, retention (see ``shared.cleanup``)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.cleanup import CleanupRun
from shared.graph.client import get_gateway
from shared.ledger import get_ledger
from shared.settings import get_settings
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION, QUEUE_NAME

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.timer_trigger(
    arg_name="timer", schedule="%CLEANUP_SCHEDULE%", run_on_startup=False, use_monitor=True
)
@bp.queue_output(arg_name="queue", queue_name=QUEUE_NAME, connection=QUEUE_CONNECTION)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def scheduled_cleanup(
    timer: func.TimerRequest, queue: func.Out[list[str]], callbacks: func.Out[list[str]]
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
