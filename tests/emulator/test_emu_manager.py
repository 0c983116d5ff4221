"""A user's manager, their ``mail`` and their email authentication method: the reads that find
who to tell about a reset."""

from __future__ import annotations

import httpx
import pytest

from emulator import GraphEmulator, Tenant
from emulator.demo import ADELE_ID, ALEX_ID, DIEGO_ID, PATTI_ID
from tests.emulator.emu_helpers import ADELE, ALEX, EMAIL, assert_graph_error


@pytest.fixture
def managed(tenant: Tenant) -> Tenant:
    tenant.set_manager(ADELE, ALEX_ID)
    return tenant


def test_manager_is_returned_as_a_directory_object(
    emu: GraphEmulator, managed: Tenant, client: httpx.Client
) -> None:
    response = client.get(f"/users/{ADELE_ID}/manager")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"] == f"{emu.base_url}/$metadata#directoryObjects/$entity"
    assert body["@odata.type"] == "#microsoft.graph.user"
    assert body["id"] == ALEX_ID
    assert body["userPrincipalName"] == ALEX
    assert body["mail"] == "alex.wilber@contoso.example"
    assert "accountEnabled" not in body  # not a default property


def test_manager_honours_select_and_upn_keys(managed: Tenant, client: httpx.Client) -> None:
    response = client.get(f"/users/{ADELE}/manager?$select=id,displayName,mail,userPrincipalName")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) - {"@odata.context"} == {
        "@odata.type",
        "id",
        "displayName",
        "mail",
        "userPrincipalName",
    }
    assert body["displayName"] == "Alex Wilber"


def test_no_manager_is_a_404(managed: Tenant, client: httpx.Client) -> None:
    error = assert_graph_error(
        client.get(f"/users/{ALEX_ID}/manager"), 404, "Request_ResourceNotFound"
    )
    assert error["message"].startswith("Resource 'manager' does not exist")
    managed.set_manager(ADELE_ID, None)
    assert_graph_error(client.get(f"/users/{ADELE_ID}/manager"), 404, "Request_ResourceNotFound")


def test_manager_of_an_unknown_user_is_the_directory_404(client: httpx.Client) -> None:
    error = assert_graph_error(
        client.get("/users/ghost@contoso.example/manager"), 404, "Request_ResourceNotFound"
    )
    assert "ghost@contoso.example" in error["message"]


def test_manager_read_needs_a_user_read_permission(managed: Tenant, client: httpx.Client) -> None:
    managed.app_roles.discard("User.Read.All")
    assert_graph_error(client.get(f"/users/{ADELE_ID}/manager"), 403, "Authorization_RequestDenied")
    managed.app_roles.add("Directory.Read.All")
    assert client.get(f"/users/{ADELE_ID}/manager").status_code == 200


def test_manager_is_read_only(managed: Tenant, client: httpx.Client) -> None:
    assert_graph_error(client.delete(f"/users/{ADELE_ID}/manager"), 405, "Request_BadRequest")


def test_manager_reads_inside_a_batch(managed: Tenant, client: httpx.Client) -> None:
    requests = [
        {"id": "1", "method": "GET", "url": f"/users/{ADELE_ID}/manager?$select=id,mail"},
        {"id": "2", "method": "GET", "url": f"/users/{DIEGO_ID}/manager"},
    ]
    response = client.post("/$batch", json={"requests": requests})
    assert response.status_code == 200, response.text
    items = {item["id"]: item for item in response.json()["responses"]}
    assert items["1"]["status"] == 200
    assert items["1"]["body"]["mail"] == "alex.wilber@contoso.example"
    assert items["2"]["status"] == 404
    assert items["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"


def test_set_manager_validates(tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="own manager"):
        tenant.set_manager(ADELE_ID, ADELE)
    with pytest.raises(KeyError):
        tenant.set_manager(ADELE_ID, "ghost@contoso.example")
    tenant.set_manager(PATTI_ID, ADELE)
    manager = tenant.manager_of(PATTI_ID)
    assert manager is not None and manager.id == ADELE_ID
    assert tenant.manager_of(ADELE_ID) is None


def test_select_mail_returns_the_mail_property(tenant: Tenant, client: httpx.Client) -> None:
    response = client.get(f"/users/{ADELE_ID}?$select=mail")
    assert response.status_code == 200, response.text
    assert response.json()["mail"] == "adele.vance@contoso.example"
    tenant.set_mail(ADELE_ID, "adele@contoso.example")
    assert client.get(f"/users/{ADELE}?$select=mail").json()["mail"] == "adele@contoso.example"
    assert client.get(f"/users/{DIEGO_ID}?$select=mail").json()["mail"] is None


def test_email_method_address_is_listed_unmasked(client: httpx.Client) -> None:
    """The reset deletes the method; the app reads the address first to notify it."""
    for path in ("emailMethods", "methods"):
        response = client.get(f"/users/{ADELE_ID}/authentication/{path}")
        assert response.status_code == 200, response.text
        [email] = [m for m in response.json()["value"] if m["id"] == EMAIL]
        assert email["@odata.type"] == "#microsoft.graph.emailAuthenticationMethod"
        assert email["emailAddress"] == "adele@fabrikam.example"
    single = client.get(f"/users/{ADELE_ID}/authentication/emailMethods/{EMAIL}")
    assert single.json()["emailAddress"] == "adele@fabrikam.example"
