"""Hardware OATH tokens and QR code + PIN methods, as Graph documents them per version.

Graph lists "only the methods supported on this API version": a hardware token (beta only) is
absent from the v1.0 listing and present in beta's, with its own beta collection, whose delete
unassigns the token (it stays in the tenant's inventory). QR code + PIN is a v1.0 type, a
singleton at ``/authentication/qrCodePinMethod`` in both versions.
"""

from __future__ import annotations

from typing import Any

import httpx

from emulator import GraphEmulator, Tenant
from tests.emulator.emu_helpers import assert_graph_error

HARDWARE = "#microsoft.graph.hardwareOathAuthenticationMethod"
QR = "#microsoft.graph.qrCodePinAuthenticationMethod"


def holder(tenant: Tenant, *, token_default: bool) -> tuple[str, str, str]:
    """A user with an Authenticator, a hardware token and a QR code + PIN method."""
    user = tenant.add_user("frontline@contoso.example", display_name="Frontline")
    app = tenant.add_method(user.id, "microsoftAuthenticator", default=not token_default)
    token = tenant.add_method(user.id, "hardwareOath", default=token_default)
    tenant.add_method(user.id, "qrCodePin")
    return user.id, app, token


def types_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(m["@odata.type"].rsplit(".", 1)[-1] for m in response.json()["value"])


def beta(emu: GraphEmulator, path: str) -> str:
    return f"{emu.origin}/beta{path}"


def test_each_version_lists_only_its_own_types(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    user_id, _, token = holder(tenant, token_default=False)
    listing = f"/users/{user_id}/authentication/methods"

    assert types_of(client.get(listing)) == [
        "microsoftAuthenticatorAuthenticationMethod",
        "passwordAuthenticationMethod",
        "qrCodePinAuthenticationMethod",
    ]
    assert "hardwareOathAuthenticationMethod" in types_of(client.get(beta(emu, listing)))
    tokens = client.get(beta(emu, f"/users/{user_id}/authentication/hardwareOathMethods"))
    (listed,) = tokens.json()["value"]
    assert listed["@odata.type"] == HARDWARE and listed["id"] == token
    assert listed["device"]["secretKey"] is None and listed["device"]["serialNumber"]
    assert_graph_error(
        client.get(f"/users/{user_id}/authentication/hardwareOathMethods/{token}"),
        400,
        "BadRequest",
    )


def test_unassigning_a_token_follows_the_default_rule_and_keeps_it_in_inventory(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    user_id, app, token = holder(tenant, token_default=True)
    qr = client.get(f"/users/{user_id}/authentication/qrCodePinMethod").json()
    assert qr["@odata.type"] == QR
    token_url = beta(emu, f"/users/{user_id}/authentication/hardwareOathMethods/{token}")

    refused = client.delete(token_url)
    error = assert_graph_error(refused, 400, "badRequest")
    assert "default" in error["message"]
    assert tenant.token_inventory == {}

    app_url = f"/users/{user_id}/authentication/microsoftAuthenticatorMethods/{app}"
    assert client.delete(app_url).status_code == 204
    assert client.delete(f"/users/{user_id}/authentication/qrCodePinMethod").status_code == 204
    assert client.delete(token_url).status_code == 204

    assert [m["@odata.type"] for m in tenant.methods(user_id)] == [
        "#microsoft.graph.passwordAuthenticationMethod"
    ]
    assert tenant.token_inventory[token]["assignedTo"] is None
    assert tenant.token_inventory[token]["id"] == token
    assert_graph_error(client.delete(token_url), 404, "itemNotFound")
    assert_graph_error(
        client.delete(f"/users/{user_id}/authentication/qrCodePinMethod"), 404, "itemNotFound"
    )


def test_a_batch_items_urls_are_relative_to_its_own_version(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    user_id, _, token = holder(tenant, token_default=False)
    items: list[dict[str, Any]] = [
        {"id": "1", "method": "GET", "url": f"/users/{user_id}/authentication/hardwareOathMethods"},
        {"id": "2", "method": "GET", "url": f"/users/{user_id}/authentication/methods"},
    ]

    in_beta = client.post(beta(emu, "/$batch"), json={"requests": items}).json()
    in_v1 = client.post("/$batch", json={"requests": items}).json()

    by_id = {r["id"]: r for r in in_beta["responses"]}
    assert by_id["1"]["status"] == 200
    assert [m["id"] for m in by_id["1"]["body"]["value"]] == [token]
    assert HARDWARE in {m["@odata.type"] for m in by_id["2"]["body"]["value"]}
    by_id = {r["id"]: r for r in in_v1["responses"]}
    assert by_id["1"]["status"] == 400
    assert HARDWARE not in {m["@odata.type"] for m in by_id["2"]["body"]["value"]}
