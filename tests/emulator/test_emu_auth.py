"""Managed-identity token endpoint and Graph bearer-token checks."""

from __future__ import annotations

import time

import httpx
import pytest

from emulator import GraphEmulator, demo_tenant
from tests.emulator.emu_helpers import ADELE, GRAPH, assert_graph_error, fetch_token, graph_client


def _token_call(emu: GraphEmulator, headers: dict[str, str], **params: str) -> httpx.Response:
    return httpx.get(emu.identity_endpoint, params=params, headers=headers)


def test_token_endpoint_response_shape(emu: GraphEmulator) -> None:
    before = time.time()
    response = _token_call(
        emu,
        {"X-IDENTITY-HEADER": emu.identity_header},
        **{"api-version": "2019-08-01", "resource": GRAPH},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["resource"] == GRAPH
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_on"], str)
    assert before + 23 * 3600 < int(body["expires_on"]) <= time.time() + 24 * 3600 + 1
    assert len(body["access_token"]) >= 32
    assert body["client_id"]
    assert emu.token_requests == [{"resource": GRAPH, "client_id": None, "status": 200}]
    # Token calls are not Graph calls.
    assert emu.requests == []


def test_token_endpoint_echoes_user_assigned_client_id(emu: GraphEmulator) -> None:
    client_id = "11111111-2222-3333-4444-555555555555"
    response = _token_call(
        emu,
        {"X-IDENTITY-HEADER": emu.identity_header},
        **{"api-version": "2019-08-01", "resource": GRAPH, "client_id": client_id},
    )
    assert response.json()["client_id"] == client_id
    assert emu.token_requests[-1] == {"resource": GRAPH, "client_id": client_id, "status": 200}


def test_two_tokens_are_different(emu: GraphEmulator) -> None:
    assert fetch_token(emu) != fetch_token(emu)


@pytest.mark.parametrize("header", [None, "", "wrong-secret"])
def test_token_endpoint_requires_identity_header(emu: GraphEmulator, header: str | None) -> None:
    headers = {} if header is None else {"X-IDENTITY-HEADER": header}
    response = _token_call(emu, headers, **{"api-version": "2019-08-01", "resource": GRAPH})
    assert response.status_code == 401
    body = response.json()
    assert "access_token" not in body
    assert body["message"]
    assert emu.token_requests[-1]["status"] == 401


def test_token_endpoint_requires_resource(emu: GraphEmulator) -> None:
    response = _token_call(
        emu, {"X-IDENTITY-HEADER": emu.identity_header}, **{"api-version": "2019-08-01"}
    )
    assert response.status_code == 400
    assert "access_token" not in response.json()
    assert emu.token_requests == [{"resource": None, "client_id": None, "status": 400}]


def test_env_matches_addresses(emu: GraphEmulator) -> None:
    env = emu.env()
    assert env == {
        "GRAPH_BASE_URL": emu.base_url,
        "IDENTITY_ENDPOINT": emu.identity_endpoint,
        "IDENTITY_HEADER": emu.identity_header,
        "VERIFIED_ID_BASE_URL": emu.origin + "/verifiedid/v1.0",
    }
    assert emu.base_url.startswith("http://127.0.0.1:")
    assert emu.base_url.endswith("/v1.0")
    assert emu.identity_endpoint == emu.origin + "/msi/token"


def test_graph_refuses_request_without_token(emu: GraphEmulator) -> None:
    response = httpx.get(f"{emu.base_url}/users/{ADELE}")
    error = assert_graph_error(response, 401, "InvalidAuthenticationToken")
    assert "empty" in error["message"]
    assert emu.requests[-1].status == 401


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token-we-issued", "Basic dXNlcjpwYXNz", "Bearer"],
)
def test_graph_refuses_unknown_or_malformed_token(emu: GraphEmulator, authorization: str) -> None:
    response = httpx.get(f"{emu.base_url}/users/{ADELE}", headers={"Authorization": authorization})
    assert_graph_error(response, 401, "InvalidAuthenticationToken")


def test_graph_refuses_expired_token(emu: GraphEmulator) -> None:
    with graph_client(emu) as client:
        assert client.get(f"/users/{ADELE}").status_code == 200
        emu.expire_tokens()
        error = assert_graph_error(client.get(f"/users/{ADELE}"), 401, "InvalidAuthenticationToken")
    assert "expired" in error["message"]


def test_graph_refuses_token_for_another_audience(emu: GraphEmulator) -> None:
    token = fetch_token(emu, resource="https://management.azure.com")
    with graph_client(emu, token) as client:
        error = assert_graph_error(client.get(f"/users/{ADELE}"), 401, "InvalidAuthenticationToken")
    assert "audience" in error["message"]


@pytest.mark.parametrize("suffix", ["", "/"])
def test_graph_accepts_token_for_its_own_origin(emu: GraphEmulator, suffix: str) -> None:
    """A client that derives the scope from the Graph host (national-cloud style) asks for
    the emulator's origin; that is the emulator's own audience."""
    token = fetch_token(emu, resource=emu.origin + suffix)
    with graph_client(emu, token) as client:
        assert client.get(f"/users/{ADELE}").status_code == 200


def test_graph_accepts_issued_token(client: httpx.Client) -> None:
    response = client.get(f"/users/{ADELE}")
    assert response.status_code == 200
    assert response.json()["userPrincipalName"] == ADELE


def test_require_auth_false_accepts_anonymous_calls() -> None:
    with GraphEmulator(demo_tenant(), require_auth=False) as emu:
        response = httpx.get(f"{emu.base_url}/users/{ADELE}")
    assert response.status_code == 200


async def test_azure_identity_credential_gets_a_working_token(
    emu: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real async ManagedIdentityCredential must accept what the endpoint returns."""
    from azure.identity.aio import ManagedIdentityCredential

    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    async with ManagedIdentityCredential() as credential:
        access = await credential.get_token(f"{GRAPH}/.default")
    assert access.expires_on > time.time() + 3600
    assert emu.token_requests == [{"resource": GRAPH, "client_id": None, "status": 200}]
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{emu.base_url}/users/{ADELE}", headers={"Authorization": f"Bearer {access.token}"}
        )
    assert response.status_code == 200
