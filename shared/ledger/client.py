"""The ``Ledger`` callers use, and how its table client is made."""

from __future__ import annotations

from typing import Any

from azure.data.tables.aio import TableClient

from shared.clock import Clock, utc_now
from shared.ledger.admission import Admission
from shared.ledger.callbacks import CallbackBook
from shared.ledger.maintenance import Maintenance
from shared.ledger.notices import NoticeBook
from shared.ledger.seal import RowSeal
from shared.ledger.verifications import VerificationBook
from shared.settings import SettingsError


class Ledger(Admission, Maintenance, CallbackBook):
    """The reset ledger: admission, the life of a reset, scheduled maintenance, and the
    delivery of completion callbacks; ``notices`` (the user's notifications) and
    ``verifications`` (proof before reset) are parts it is given its table and clock for."""

    def __init__(
        self, table: TableClient, clock: Clock = utc_now, seal: RowSeal | None = None
    ) -> None:
        super().__init__(table, clock, seal)
        self.notices = NoticeBook(table, clock)
        self.verifications = VerificationBook(table, clock)


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
