"""Constants and helpers shared by the emulator tests (a uniquely named module, so it
cannot collide with helpers of other test directories on ``sys.path``)."""

from __future__ import annotations

import json
import ssl
import urllib.parse
import urllib.request
from typing import Any

import httpx

from emulator import GraphEmulator

ADELE = "adele.vance@contoso.example"
ALEX = "alex.wilber@contoso.example"
MEGAN = "megan.bowen_fabrikam.example#EXT#@contoso.example"
SVC = "$svc.desk@contoso.example"
PATTI = "patti.o'brien@contoso.example"
DIEGO = "diego.siciliani@contoso.example"

MOBILE = "3179e48a-750b-4051-897c-87b9720928f7"
ALT_MOBILE = "b6332ec1-7057-4abe-9331-3d72feddfe41"
OFFICE = "e37fc753-ff3b-4958-9484-eaa9425c82bc"
EMAIL = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
PASSWORD = "28c10230-6103-485e-b985-444c60001490"
GRAPH = "https://graph.microsoft.com"
_TLS_CONTEXT = ssl.create_default_context()


def fetch_token(emu: GraphEmulator, resource: str = GRAPH) -> str:
    """Get a token the way the managed-identity client does (plain urllib keeps it cheap)."""
    query = urllib.parse.urlencode({"api-version": "2019-08-01", "resource": resource})
    request = urllib.request.Request(
        f"{emu.identity_endpoint}?{query}", headers={"X-IDENTITY-HEADER": emu.identity_header}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.loads(response.read())["access_token"]
    return token


def graph_client(emu: GraphEmulator, token: str | None = None, **kwargs: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token or fetch_token(emu)}"}
    # Building an SSL context costs ~40 ms; the emulator is plain HTTP, so share one.
    return httpx.Client(
        base_url=emu.base_url, headers=headers, timeout=10, verify=_TLS_CONTEXT, **kwargs
    )


def assert_graph_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Every error must be JSON with Graph's envelope; returns the ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert error["innerError"]["client-request-id"] == response.headers["client-request-id"]
    assert error["innerError"]["date"]
    return error
