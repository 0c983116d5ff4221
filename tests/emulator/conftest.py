"""Fixtures for the emulator's own tests: a fresh emulator per test, plus an httpx client
that already carries a token obtained from the emulator's managed-identity endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from emulator import GraphEmulator, Tenant, demo_tenant
from tests.emulator.emu_helpers import graph_client


@pytest.fixture
def tenant() -> Tenant:
    return demo_tenant()


@pytest.fixture
def emu(tenant: Tenant) -> Iterator[GraphEmulator]:
    with GraphEmulator(tenant) as running:
        yield running


@pytest.fixture
def client(emu: GraphEmulator) -> Iterator[httpx.Client]:
    with graph_client(emu) as http:
        yield http
