"""The reset ledger in Azure Table Storage: what was asked, who runs it, how far it got.

One row per reset request, plus one index row per idempotency key, both in one partition. Where
to look:

* ``records``: statuses, the row as the app reads it, the columns;
* ``admission``: a request becomes a row once (idempotency entry, replays);
* ``limits``: the tenant's hourly cap, the per-user cooldown and per-caller counters;
* ``store``: claim, lease, checkpoint, finish (exactly-once execution);
* ``maintenance``: re-drive, sweep bookkeeping, retention, run summaries;
* ``callbacks``: how each reset's completion callback stands;
* ``client``: the ``Ledger`` that combines them; ``process``: one per worker process.

Stored: ticket, requester, target, timestamps, the outcome so far (steps with Graph request-ids),
attempts, the last error. Not stored: phone numbers in clear (masked), Temporary Access Pass
values (the outcome's serialiser masks them), tokens.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shared.ledger.process import close_ledger, get_ledger
from shared.ledger.records import (
    PARTITION,
    RUN_PARTITION,
    CallbackRecord,
    IdempotencyConflictError,
    LeaseHeldError,
    LeaseLostError,
    LedgerRecord,
    LimitReachedError,
    Limits,
    ResetStatus,
    TamperedRowError,
    idempotency_scope,
)

if TYPE_CHECKING:
    from shared.ledger.client import Ledger, table_client

# The Table Storage SDK behind these is imported when they are first used, not when the app is
# indexed (a cold start pays for every import in the trigger modules).
_LAZY = {"Ledger": "shared.ledger.client", "table_client": "shared.ledger.client"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "PARTITION",
    "RUN_PARTITION",
    "CallbackRecord",
    "IdempotencyConflictError",
    "LeaseHeldError",
    "LeaseLostError",
    "Ledger",
    "LedgerRecord",
    "LimitReachedError",
    "Limits",
    "ResetStatus",
    "TamperedRowError",
    "close_ledger",
    "get_ledger",
    "idempotency_scope",
    "table_client",
]
