"""Fixtures shared by the suites: the Graph emulator and a gateway bound to it.

Every test that talks to Graph gets its own emulator (fresh tenant, fresh request log) and
drives the real msgraph-sdk and the real ManagedIdentityCredential over HTTP against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from emulator import GraphEmulator, Tenant, demo_tenant
from shared.graph.client import GraphProvider, close_gateway
from shared.graph.gateway import GraphGateway
from shared.settings import Settings, get_settings


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
async def process_gateway(graph_emulator: GraphEmulator) -> AsyncIterator[None]:
    """The per-process gateway the functions use, rebuilt for this test's emulator."""
    await close_gateway()
    yield
    await close_gateway()
