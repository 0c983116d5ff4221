"""Fixtures shared by the suites: the Graph emulator and a gateway bound to it.

Every test that talks to Graph gets its own emulator (fresh tenant, fresh request log) and
drives the real msgraph-sdk and the real ManagedIdentityCredential over HTTP against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from emulator import GraphEmulator, Tenant, demo_tenant
from shared.graph.client import GraphProvider, close_gateway
from shared.graph.gateway import GraphGateway
from shared.ledger import close_ledger
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    from emulator.azurite import Azurite
    from tests.support.fixtures import StorageNames
    from tests.support.functions_host import QueueHost

pytest_plugins = ["tests.support.fixtures"]

# The app's work-item signing key in tests (a Key Vault secret when deployed).
TEST_SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789"


@pytest.fixture
def tenant() -> Tenant:
    return demo_tenant()


@pytest.fixture
def graph_emulator(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphEmulator]:
    with GraphEmulator(tenant) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AZURE_CLIENT_ID", raising=False)
        # Keep back-off short when the emulator sends no Retry-After.
        monkeypatch.setenv("GRAPH_RETRY_DELAY_SECONDS", "0.1")
        get_settings.cache_clear()
        yield emu
    get_settings.cache_clear()


@pytest.fixture
async def gateway(graph_emulator: GraphEmulator) -> AsyncIterator[GraphGateway]:
    provider = GraphProvider(Settings.from_environ())
    yield await provider.gateway()
    await provider.close()


@pytest.fixture
async def beta_gateway(
    graph_emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[GraphGateway]:
    """A gateway allowed to remove hardware OATH tokens through Graph beta."""
    monkeypatch.setenv("GRAPH_BETA_METHODS", "true")
    provider = GraphProvider(Settings.from_environ())
    yield await provider.gateway()
    await provider.close()


@pytest.fixture
async def app_env(
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    storage_names: StorageNames,
    queue_host: QueueHost,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[StorageNames]:
    """App settings pointing at this test's emulator, queue and table; fresh process clients."""
    monkeypatch.setenv("RESET_STORAGE", azurite.connection_string)
    monkeypatch.setenv("RESET_QUEUE_NAME", storage_names.queue)
    monkeypatch.setenv("LEDGER_TABLE_NAME", storage_names.table)
    monkeypatch.setenv("GRAPH_MAX_RETRIES", "0")
    monkeypatch.setenv("WORK_ITEM_SIGNING_KEY", TEST_SIGNING_KEY)
    get_settings.cache_clear()
    await close_ledger()
    await close_gateway()
    await queue_host.create_queue(storage_names.queue)
    await queue_host.create_queue(storage_names.poison)
    yield storage_names
    await close_ledger()
    await close_gateway()
