"""The ledger of this worker process, created on first use (like the Graph client).

Kept apart from ``client`` so that asking for the ledger does not import the Table Storage SDK:
azure.data.tables and azure.core are a tenth of a cold start, and an invocation that is refused
before it reaches the ledger (bad input, a caller without a role) never needs them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from shared.identity import get_credential
from shared.settings import get_settings

if TYPE_CHECKING:
    from shared.ledger.client import Ledger


class _ProcessLedger:
    """One table client per worker process, created on first use (like the Graph client)."""

    def __init__(self) -> None:
        self._ledger: Ledger | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> Ledger:
        if self._ledger is not None:
            return self._ledger
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._ledger is None:
                from shared.ledger.client import Ledger, table_client

                settings = get_settings()
                client_id = settings.storage_client_id or settings.managed_identity_client_id
                table = table_client(
                    settings.ledger_table_name,
                    connection_string=settings.storage_connection_string,
                    table_service_uri=settings.storage_table_service_uri,
                    credential=(
                        None if settings.storage_connection_string else get_credential(client_id)
                    ),
                )
                ledger = Ledger(table)
                await ledger.ensure_table()
                self._ledger = ledger
        return self._ledger

    async def close(self) -> None:
        if self._ledger is not None:
            await self._ledger.close()
        self._ledger, self._lock = None, None


_process_ledger = _ProcessLedger()


async def get_ledger() -> Ledger:
    """The ledger of this worker process."""
    return await _process_ledger.get()


async def close_ledger() -> None:
    await _process_ledger.close()
