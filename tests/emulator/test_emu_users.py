"""User addressing, $select, the error envelope and unsupported paths."""

from __future__ import annotations

import httpx
import pytest

from emulator import GraphEmulator, Tenant
from emulator.demo import ADELE_ID, MEGAN_ID, PATTI_ID, SVC_DESK_ID
from tests.emulator.emu_helpers import ADELE, assert_graph_error

DEFAULT_USER_PROPERTIES = {
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
}


def test_get_user_by_object_id_returns_default_properties(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    response = client.get(f"/users/{ADELE_ID}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["@odata.context"] == f"{emu.base_url}/$metadata#users/$entity"
    assert set(body) - {"@odata.context"} == DEFAULT_USER_PROPERTIES
    assert body["id"] == ADELE_ID
    assert body["userPrincipalName"] == ADELE
    assert body["displayName"] == "Adele Vance"


@pytest.mark.parametrize(
    "key",
    [
        ADELE,
        "Adele.Vance@CONTOSO.example",
        "adele.vance%40contoso.example",
        ADELE_ID.upper(),
        "('adele.vance@contoso.example')",
    ],
)
def test_user_key_forms(client: httpx.Client, key: str) -> None:
    path = f"/users{key}" if key.startswith("(") else f"/users/{key}"
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == ADELE_ID


def test_odata_key_form_allows_dollar_upn(client: httpx.Client) -> None:
    plain = client.get("/users('$svc.desk@contoso.example')")
    encoded = client.get("/users%28%27%24svc.desk%40contoso.example%27%29")
    assert plain.status_code == 200
    assert plain.json()["id"] == SVC_DESK_ID
    assert encoded.status_code == 200
    assert encoded.json()["id"] == SVC_DESK_ID


def test_odata_key_form_unescapes_doubled_apostrophe(client: httpx.Client) -> None:
    response = client.get("/users('patti.o''brien@contoso.example')")
    assert response.status_code == 200
    assert response.json()["id"] == PATTI_ID


def test_apostrophe_upn_percent_encoded(client: httpx.Client) -> None:
    response = client.get("/users/patti.o%27brien%40contoso.example")
    assert response.status_code == 200
    assert response.json()["userPrincipalName"] == "patti.o'brien@contoso.example"


@pytest.mark.parametrize("key", ["$svc.desk@contoso.example", "%24svc.desk%40contoso.example"])
def test_dollar_key_without_odata_form_is_bad_request(client: httpx.Client, key: str) -> None:
    error = assert_graph_error(client.get(f"/users/{key}"), 400, "Request_BadRequest")
    assert key in error["message"]


def test_guest_upn_with_encoded_hash(client: httpx.Client) -> None:
    response = client.get("/users/megan.bowen_fabrikam.example%23EXT%23%40contoso.example")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == MEGAN_ID
    assert body["userPrincipalName"] == "megan.bowen_fabrikam.example#EXT#@contoso.example"


def test_unknown_user_404_echoes_key_as_received(client: httpx.Client) -> None:
    response = client.get("/users/anne.matthews.not.found%40contoso.example")
    error = assert_graph_error(response, 404, "Request_ResourceNotFound")
    assert error["message"] == (
        "Resource 'anne.matthews.not.found%40contoso.example' does not exist or one of its "
        "queried reference-property objects are not present."
    )


def test_unknown_user_404_for_odata_key_form(client: httpx.Client) -> None:
    error = assert_graph_error(
        client.get("/users('ghost@contoso.example')"), 404, "Request_ResourceNotFound"
    )
    assert "'ghost@contoso.example'" in error["message"]


def test_select_returns_only_selected_properties_plus_id(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    response = client.get(
        f"/users/{ADELE}",
        params={"$select": "userType,accountEnabled,signInSessionsValidFromDateTime"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "@odata.context": (
            f"{emu.base_url}/$metadata#users(userType,accountEnabled,"
            "signInSessionsValidFromDateTime)/$entity"
        ),
        "id": ADELE_ID,
        "userType": "Member",
        "accountEnabled": True,
        "signInSessionsValidFromDateTime": "2024-03-01T08:00:00Z",
    }


def test_select_guest_properties(client: httpx.Client) -> None:
    response = client.get(
        f"/users/{MEGAN_ID}", params={"$select": "userType,creationType,onPremisesSyncEnabled"}
    )
    body = response.json()
    assert body["userType"] == "Guest"
    assert body["creationType"] == "Invitation"
    assert body["onPremisesSyncEnabled"] is None


def test_select_unknown_property_is_bad_request(client: httpx.Client) -> None:
    error = assert_graph_error(
        client.get(f"/users/{ADELE}", params={"$select": "id,favouriteColour"}), 400, "BadRequest"
    )
    assert "favouriteColour" in error["message"]


def test_extra_seeded_properties_are_selectable(tenant: Tenant, client: httpx.Client) -> None:
    tenant.add_user("synced@contoso.example", on_premises_sync_enabled=True, job_title="Clerk")
    body = client.get(
        "/users/synced@contoso.example", params={"$select": "onPremisesSyncEnabled,jobTitle"}
    ).json()
    assert body["onPremisesSyncEnabled"] is True
    assert body["jobTitle"] == "Clerk"


def test_double_slash_after_version_is_tolerated(emu: GraphEmulator, client: httpx.Client) -> None:
    response = client.get(f"{emu.origin}/v1.0//users/{ADELE}")
    assert response.status_code == 200
    assert response.json()["id"] == ADELE_ID


def test_users_collection_filter_by_upn(client: httpx.Client) -> None:
    response = client.get(
        "/users", params={"$filter": f"userPrincipalName eq '{ADELE}'", "$select": "id"}
    )
    assert response.status_code == 200
    assert [u["id"] for u in response.json()["value"]] == [ADELE_ID]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/me", 400, "BadRequest"),
        ("GET", f"/users/{ADELE}/authentication/hardwareOathMethods", 400, "BadRequest"),
        ("GET", f"/users/{ADELE}/licenseDetails", 400, "BadRequest"),
        ("PATCH", f"/users/{ADELE}", 405, "Request_BadRequest"),
        (
            "GET",
            "/users/nobody@contoso.example/authentication/methods",
            404,
            "Request_ResourceNotFound",
        ),
    ],
)
def test_errors_always_use_the_envelope(
    client: httpx.Client, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path, headers={"client-request-id": "my-correlation-id"})
    error = assert_graph_error(response, status, code)
    assert error["innerError"]["client-request-id"] == "my-correlation-id"
    assert response.headers["client-request-id"] == "my-correlation-id"


def test_unsupported_segment_message(client: httpx.Client) -> None:
    error = assert_graph_error(client.get("/applications"), 400, "BadRequest")
    assert error["message"] == "Resource not found for the segment 'applications'."


def test_every_response_carries_request_ids(client: httpx.Client) -> None:
    ok = client.get(f"/users/{ADELE}")
    assert ok.headers["request-id"]
    assert ok.headers["client-request-id"] == ok.headers["request-id"]
    echoed = client.get(f"/users/{ADELE}", headers={"client-request-id": "abc-123"})
    assert echoed.headers["client-request-id"] == "abc-123"
    assert echoed.headers["request-id"] != ok.headers["request-id"]


def test_versions_other_than_v1_and_beta_are_refused_with_envelope(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    assert client.get(f"{emu.origin}/beta/users/{ADELE}").status_code == 200
    response = client.get(f"{emu.origin}/v2.0/users/{ADELE}")
    error = assert_graph_error(response, 400, "BadRequest")
    assert "v1.0 and beta" in error["message"]
