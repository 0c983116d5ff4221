"""The Azurite wrapper against the real emulator from node_modules."""

from __future__ import annotations

import os
import socket
import stat
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

from emulator.azurite import Azurite, AzuriteError
from tests.support.fixtures import StorageNames


def _server_header(endpoint: str) -> str:
    """Azurite names the service in its Server header even on an unauthenticated call."""
    try:
        with urllib.request.urlopen(f"{endpoint}?comp=list", timeout=5) as response:
            return str(response.headers.get("Server", ""))
    except urllib.error.HTTPError as exc:
        return str(exc.headers.get("Server", ""))


def _refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def _fake_binary(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "azurite"
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_each_service_answers_on_its_own_loopback_port(azurite: Azurite) -> None:
    endpoints = {
        "Azurite-Blob/": azurite.blob_endpoint,
        "Azurite-Queue/": azurite.queue_endpoint,
        "Azurite-Table/": azurite.table_endpoint,
    }
    ports = set()
    for server, endpoint in endpoints.items():
        parts = urlsplit(endpoint)
        assert parts.hostname == "127.0.0.1"
        assert parts.path == "/devstoreaccount1"
        ports.add(parts.port)
        assert _server_header(endpoint).startswith(server)
    assert ports == {azurite.blob_port, azurite.queue_port, azurite.table_port}
    assert len(ports) == 3


def test_connection_string_names_all_three_endpoints(azurite: Azurite) -> None:
    settings = dict(part.split("=", 1) for part in azurite.connection_string.split(";") if part)
    assert settings["AccountName"] == "devstoreaccount1"
    assert settings["BlobEndpoint"] == azurite.blob_endpoint
    assert settings["QueueEndpoint"] == azurite.queue_endpoint
    assert settings["TableEndpoint"] == azurite.table_endpoint


async def test_sdk_clients_work_with_the_connection_string(
    azurite: Azurite, storage_names: StorageNames
) -> None:
    async with QueueServiceClient.from_connection_string(azurite.connection_string) as queues:
        await queues.create_queue(storage_names.queue)
        names = [queue.name async for queue in queues.list_queues()]
    assert storage_names.queue in names

    async with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        await tables.create_table(storage_names.table)
        table_names = [table.name async for table in tables.list_tables()]
    assert storage_names.table in table_names


def test_stop_ends_the_process_and_frees_the_ports() -> None:
    with Azurite() as instance:
        pid = instance.pid
        ports = [instance.blob_port, instance.queue_port, instance.table_port]
        assert instance.running
        assert pid is not None
    assert not instance.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert all(_refuses(port) for port in ports)


def test_missing_binary_fails_loudly_and_says_to_run_npm_ci(tmp_path: Path) -> None:
    with pytest.raises(AzuriteError, match="npm ci"):
        Azurite(binary=tmp_path / "node_modules" / ".bin" / "azurite").start()


def test_early_exit_reports_what_azurite_printed(tmp_path: Path) -> None:
    binary = _fake_binary(tmp_path, 'echo "bad option: --nope" >&2; exit 3')
    with pytest.raises(AzuriteError, match=r"(?s)status 3.*bad option: --nope"):
        Azurite(binary=binary).start()


def test_startup_timeout_stops_the_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    binary = _fake_binary(tmp_path, f'echo $$ > "{pid_file}"; echo waiting; exec sleep 30')
    with pytest.raises(AzuriteError, match=r"(?s)did not listen.*waiting"):
        Azurite(binary=binary, startup_timeout=0.5).start()
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text(encoding="utf-8")), 0)
