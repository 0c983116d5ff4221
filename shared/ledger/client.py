"""The ``Ledger`` callers use, and the one table client per worker process behind it."""

from __future__ import annotations

import asyncio
from typing import Any

from azure.data.tables.aio import TableClient

from shared.identity import get_credential
from shared.ledger.admission import Admission
from shared.ledger.maintenance import Maintenance
from shared.settings import SettingsError, get_settings


class Ledger(Admission, Maintenance):
    """The reset ledger: admission, the life of a reset, and scheduled maintenance."""


_AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def table_client(
    table_name: str,
    *,
    connection_string: str | None,
    table_service_uri: str | None,
    credential: Any,
) -> TableClient:
    """A table client from the RESET_STORAGE connection: a connection string, or an endpoint
    and the managed identity."""
    if connection_string:
        if connection_string.strip().lower() == "usedevelopmentstorage=true":
            connection_string = _AZURITE
        return TableClient.from_connection_string(connection_string, table_name=table_name)
    if not table_service_uri:
        raise SettingsError(
            "no storage connection: set RESET_STORAGE or RESET_STORAGE__tableServiceUri"
        )
    return TableClient(endpoint=table_service_uri, table_name=table_name, credential=credential)


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
