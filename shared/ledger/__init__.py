"""The reset ledger in Azure Table Storage: what was asked, who runs it, how far it got.

One row per reset request, plus one index row per idempotency key, both in one partition. Where
to look:

* ``records``: statuses, the row as the app reads it, the columns;
* ``admission``: a request becomes a row once (idempotency entry, replays);
* ``limits``: the tenant's hourly cap, the per-user cooldown and per-caller counters;
* ``store``: claim, lease, checkpoint, finish (exactly-once execution);
* ``maintenance``: re-drive, sweep bookkeeping, retention, run summaries;
* ``client``: the ``Ledger`` that combines them, one per worker process.

Stored: ticket, requester, target, timestamps, the outcome so far (steps with Graph request-ids),
attempts, the last error. Not stored: phone numbers in clear (masked), Temporary Access Pass
values (the outcome's serialiser masks them), tokens.
"""

from shared.ledger.client import Ledger, close_ledger, get_ledger, table_client
from shared.ledger.records import (
    PARTITION,
    RUN_PARTITION,
    IdempotencyConflictError,
    LeaseHeldError,
    LeaseLostError,
    LedgerRecord,
    LimitReachedError,
    Limits,
    ResetStatus,
    idempotency_scope,
    request_fingerprint,
)

__all__ = [
    "PARTITION",
    "RUN_PARTITION",
    "IdempotencyConflictError",
    "LeaseHeldError",
    "LeaseLostError",
    "Ledger",
    "LedgerRecord",
    "LimitReachedError",
    "Limits",
    "ResetStatus",
    "close_ledger",
    "get_ledger",
    "idempotency_scope",
    "request_fingerprint",
    "table_client",
]
