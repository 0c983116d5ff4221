"""Authentication methods: listing, per-type deletes, the default-method and phone rules,
phone creation and Temporary Access Pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from emulator import GraphEmulator, Tenant
from emulator.demo import ADELE_ID, ALEX_ID, DIEGO_ID, MEGAN_ID, PATTI_ID
from tests.emulator.emu_helpers import (
    ADELE,
    ALEX,
    ALT_MOBILE,
    EMAIL,
    MOBILE,
    OFFICE,
    PASSWORD,
    assert_graph_error,
)

ADELE_AUTHENTICATOR = "9a2c4e6f-1b3d-4f5a-8c7e-0d2f4a6b8c01"
ADELE_OATH = "b3d5f7a9-2c4e-4a6b-9d8f-1e3a5c7e9f02"
ADELE_FIDO = "c4e6a8b0-3d5f-4b7c-8e9a-2f4b6d8f0a03"
ADELE_WHFB = "d5f7b9c1-4e6a-4c8d-9f0b-3a5c7e9a1b04"
ALEX_AUTHENTICATOR = "e6a8c0d2-5f7b-4d9e-8a1c-4b6d8f0b2c05"
ALEX_FIDO = "f7b9d1e3-6a8c-4e0f-9b2d-5c7e9a1c3d06"


# -- listing --------------------------------------------------------------------------------


def test_methods_list_shape(emu: GraphEmulator, client: httpx.Client) -> None:
    response = client.get("/users/adele.vance%40contoso.example/authentication/methods")
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == (
        f"{emu.base_url}/$metadata#users('adele.vance%40contoso.example')/authentication/methods"
    )
    items = body["value"]
    for item in items:
        assert item["@odata.type"].startswith("#microsoft.graph.")
        assert item["id"]
        assert "createdDateTime" in item
    types = [i["@odata.type"].removeprefix("#microsoft.graph.") for i in items]
    assert types[0] == "passwordAuthenticationMethod"
    assert items[0]["id"] == PASSWORD
    assert items[0]["password"] is None
    assert len(set(types)) >= 6
    phones = {i["phoneType"]: i for i in items if "phoneType" in i}
    assert phones["mobile"]["id"] == MOBILE
    assert phones["alternateMobile"]["id"] == ALT_MOBILE
    assert phones["office"]["id"] == OFFICE
    assert phones["mobile"]["phoneNumber"] == "+1 2065550100"
    assert phones["mobile"]["smsSignInState"] == "ready"
    emails = [i for i in items if i["@odata.type"].endswith("emailAuthenticationMethod")]
    assert emails == [
        {
            "@odata.type": "#microsoft.graph.emailAuthenticationMethod",
            "id": EMAIL,
            "createdDateTime": "2024-03-01T08:00:00Z",
            "emailAddress": "adele@fabrikam.example",
        }
    ]
    fido = next(i for i in items if i["id"] == ADELE_FIDO)
    assert fido["displayName"] == "YubiKey 5"
    assert fido["attestationLevel"] == "attested"


def test_password_only_user_lists_password(client: httpx.Client) -> None:
    items = client.get(f"/users/{DIEGO_ID}/authentication/methods").json()["value"]
    assert [i["id"] for i in items] == [PASSWORD]


def test_type_collection_lists_only_that_type(client: httpx.Client) -> None:
    body = client.get(f"/users/{ADELE}/authentication/phoneMethods").json()
    assert body["@odata.context"].endswith("/authentication/phoneMethods")
    assert {i["id"] for i in body["value"]} == {MOBILE, ALT_MOBILE, OFFICE}
    fido = client.get(f"/users/{ADELE}/authentication/fido2Methods").json()["value"]
    assert [i["id"] for i in fido] == [ADELE_FIDO]


def test_type_collection_get_item(client: httpx.Client) -> None:
    ok = client.get(f"/users/{ADELE}/authentication/phoneMethods/{OFFICE}")
    assert ok.status_code == 200
    assert ok.json()["phoneType"] == "office"
    wrong_type = client.get(f"/users/{ADELE}/authentication/fido2Methods/{OFFICE}")
    assert_graph_error(wrong_type, 404, "itemNotFound")


def test_password_methods_collection(client: httpx.Client) -> None:
    items = client.get(f"/users/{ADELE}/authentication/passwordMethods").json()["value"]
    assert [i["id"] for i in items] == [PASSWORD]


def test_methods_list_honours_select(client: httpx.Client) -> None:
    items = client.get(f"/users/{ADELE}/authentication/methods", params={"$select": "id"}).json()[
        "value"
    ]
    assert all(set(i) == {"@odata.type", "id"} for i in items)


# -- deletes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("collection", "method_id", "kind"),
    [
        ("phoneMethods", OFFICE, "phone"),
        ("emailMethods", EMAIL, "email"),
        ("microsoftAuthenticatorMethods", ADELE_AUTHENTICATOR, "microsoftAuthenticator"),
        ("softwareOathMethods", ADELE_OATH, "softwareOath"),
        ("fido2Methods", ADELE_FIDO, "fido2"),
        ("windowsHelloForBusinessMethods", ADELE_WHFB, "windowsHelloForBusiness"),
    ],
)
def test_delete_per_type_then_404(
    tenant: Tenant, client: httpx.Client, collection: str, method_id: str, kind: str
) -> None:
    path = f"/users/{ADELE}/authentication/{collection}/{method_id}"
    before = tenant.method_kinds(ADELE_ID).count(kind)
    response = client.delete(path)
    assert response.status_code == 204
    assert response.content == b""
    assert tenant.method_kinds(ADELE_ID).count(kind) == before - 1
    assert method_id not in {m["id"] for m in tenant.methods(ADELE_ID)}
    assert_graph_error(client.delete(path), 404, "itemNotFound")


@pytest.mark.parametrize(
    ("kind", "collection"),
    [
        ("temporaryAccessPass", "temporaryAccessPassMethods"),
        ("platformCredential", "platformCredentialMethods"),
        ("externalAuthentication", "externalAuthenticationMethods"),
    ],
)
def test_delete_remaining_types(
    tenant: Tenant, client: httpx.Client, kind: str, collection: str
) -> None:
    method_id = tenant.add_method(DIEGO_ID, kind)
    path = f"/users/{DIEGO_ID}/authentication/{collection}/{method_id}"
    assert client.get(path).status_code == 200
    assert client.delete(path).status_code == 204
    assert tenant.method_kinds(DIEGO_ID) == []


def test_delete_with_method_id_of_another_type_is_404(tenant: Tenant, client: httpx.Client) -> None:
    response = client.delete(f"/users/{ADELE}/authentication/fido2Methods/{ADELE_OATH}")
    assert_graph_error(response, 404, "itemNotFound")
    assert ADELE_OATH in {m["id"] for m in tenant.methods(ADELE_ID)}


def test_generic_methods_delete_is_405(tenant: Tenant, client: httpx.Client) -> None:
    response = client.delete(f"/users/{ADELE}/authentication/methods/{ADELE_FIDO}")
    error = assert_graph_error(response, 405, "badRequest")
    assert error["message"].startswith("No HTTP resource was found that matches the request URI")
    assert ADELE_FIDO in {m["id"] for m in tenant.methods(ADELE_ID)}


def test_password_delete_is_405(client: httpx.Client) -> None:
    response = client.delete(f"/users/{ADELE}/authentication/passwordMethods/{PASSWORD}")
    assert_graph_error(response, 405, "badRequest")


# -- default-method and phone rules ---------------------------------------------------------------


def test_default_method_cannot_be_deleted_while_others_remain(
    tenant: Tenant, client: httpx.Client
) -> None:
    path = f"/users/{ALEX}/authentication/microsoftAuthenticatorMethods/{ALEX_AUTHENTICATOR}"
    error = assert_graph_error(client.delete(path), 400, "badRequest")
    assert error["message"] == (
        "Cannot delete default method with other methods configured. Please change default "
        "method before deletion."
    )
    assert tenant.default_method(ALEX_ID) == ALEX_AUTHENTICATOR
    assert ALEX_AUTHENTICATOR in {m["id"] for m in tenant.methods(ALEX_ID)}


def test_default_method_can_be_deleted_last(tenant: Tenant, client: httpx.Client) -> None:
    base = f"/users/{ALEX}/authentication"
    assert client.delete(f"{base}/phoneMethods/{MOBILE}").status_code == 204
    assert client.delete(f"{base}/fido2Methods/{ALEX_FIDO}").status_code == 204
    response = client.delete(f"{base}/microsoftAuthenticatorMethods/{ALEX_AUTHENTICATOR}")
    assert response.status_code == 204
    assert tenant.default_method(ALEX_ID) is None
    assert [m["id"] for m in tenant.methods(ALEX_ID)] == [PASSWORD]


def test_set_default_moves_the_rule(tenant: Tenant, client: httpx.Client) -> None:
    tenant.set_default(ALEX_ID, MOBILE)
    base = f"/users/{ALEX}/authentication"
    assert (
        client.delete(f"{base}/microsoftAuthenticatorMethods/{ALEX_AUTHENTICATOR}").status_code
        == 204
    )
    assert_graph_error(client.delete(f"{base}/phoneMethods/{MOBILE}"), 400, "badRequest")


def test_mobile_cannot_be_deleted_while_alternate_exists(
    tenant: Tenant, client: httpx.Client
) -> None:
    tenant.set_default(ADELE_ID, ADELE_AUTHENTICATOR)  # isolate the phone rule
    base = f"/users/{ADELE}/authentication/phoneMethods"
    error = assert_graph_error(client.delete(f"{base}/{MOBILE}"), 400, "badRequest")
    assert "alternateMobile" in error["message"]
    assert client.delete(f"{base}/{ALT_MOBILE}").status_code == 204
    assert client.delete(f"{base}/{MOBILE}").status_code == 204
    phones = {m.get("phoneType") for m in tenant.methods(ADELE_ID)}
    assert phones == {None, "office"}


# -- phone creation --------------------------------------------------------------------------------


def test_post_phone_creates_mobile(tenant: Tenant, client: httpx.Client) -> None:
    response = client.post(
        f"/users/{DIEGO_ID}/authentication/phoneMethods",
        json={
            "@odata.type": "#microsoft.graph.phoneAuthenticationMethod",
            "phoneNumber": "+1 2065555555",
            "phoneType": "mobile",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == MOBILE
    assert body["phoneNumber"] == "+1 2065555555"
    assert body["phoneType"] == "mobile"
    assert body["smsSignInState"] == "ready"
    assert tenant.method_kinds(DIEGO_ID) == ["phone"]


def test_post_phone_office_with_extension(client: httpx.Client) -> None:
    response = client.post(
        f"/users/{DIEGO_ID}/authentication/phoneMethods",
        json={"phoneNumber": "+44 2079460000x123", "phoneType": "office"},
    )
    assert response.status_code == 201
    assert response.json()["id"] == OFFICE
    assert response.json()["smsSignInState"] == "notSupported"


@pytest.mark.parametrize(
    "number",
    ["2065555555", "+1-206-555-5555", "+1  2065555555", "+12065555555", "+1 206555x", ""],
)
def test_post_phone_rejects_bad_number(tenant: Tenant, client: httpx.Client, number: str) -> None:
    response = client.post(
        f"/users/{DIEGO_ID}/authentication/phoneMethods",
        json={"phoneNumber": number, "phoneType": "mobile"},
    )
    error = assert_graph_error(response, 400, "badRequest")
    assert "phone number" in error["message"].lower()
    assert tenant.method_kinds(DIEGO_ID) == []


def test_post_phone_rejects_duplicate_type(client: httpx.Client) -> None:
    response = client.post(
        f"/users/{ALEX}/authentication/phoneMethods",
        json={"phoneNumber": "+1 2065550999", "phoneType": "mobile"},
    )
    assert_graph_error(response, 400, "badRequest")


def test_post_alternate_without_mobile_is_rejected(tenant: Tenant, client: httpx.Client) -> None:
    response = client.post(
        f"/users/{DIEGO_ID}/authentication/phoneMethods",
        json={"phoneNumber": "+1 2065550999", "phoneType": "alternateMobile"},
    )
    error = assert_graph_error(response, 400, "badRequest")
    assert "mobile" in error["message"]
    assert tenant.method_kinds(DIEGO_ID) == []


@pytest.mark.parametrize(
    "body",
    [
        {"phoneNumber": "+1 2065550999"},
        {"phoneType": "mobile"},
        {"phoneNumber": "+1 1", "phoneType": "pager"},
    ],
)
def test_post_phone_rejects_incomplete_body(client: httpx.Client, body: dict[str, str]) -> None:
    response = client.post(f"/users/{DIEGO_ID}/authentication/phoneMethods", json=body)
    assert_graph_error(response, 400, "badRequest")


# -- Temporary Access Pass ----------------------------------------------------------------


def _tap_path(user: str) -> str:
    return f"/users/{user}/authentication/temporaryAccessPassMethods"


def test_tap_create_returns_value_once(tenant: Tenant, client: httpx.Client) -> None:
    response = client.post(
        _tap_path(DIEGO_ID), json={"lifetimeInMinutes": 120, "isUsableOnce": True}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
    assert body["lifetimeInMinutes"] == 120
    assert body["isUsableOnce"] is True
    assert body["isUsable"] is True
    assert body["methodUsabilityReason"] == "EnabledByPolicy"
    value = body["temporaryAccessPass"]
    assert isinstance(value, str)
    assert len(value) >= 8
    assert tenant.last_tap_value(DIEGO_ID) == value
    listed = client.get(_tap_path(DIEGO_ID)).json()["value"]
    assert len(listed) == 1
    assert listed[0]["id"] == body["id"]
    assert listed[0]["temporaryAccessPass"] is None
    single = client.get(f"{_tap_path(DIEGO_ID)}/{body['id']}").json()
    assert single["temporaryAccessPass"] is None
    everything = client.get(f"/users/{DIEGO_ID}/authentication/methods").text
    assert value not in everything


def test_tap_defaults_come_from_policy(tenant: Tenant, client: httpx.Client) -> None:
    tenant.tap_policy.default_lifetime = 90
    body = client.post(_tap_path(DIEGO_ID)).json()
    assert body["lifetimeInMinutes"] == 90
    assert body["isUsableOnce"] is False


def test_tap_future_start_is_not_yet_usable(client: httpx.Client) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = client.post(_tap_path(DIEGO_ID), json={"startDateTime": start}).json()
    assert body["startDateTime"] == start
    assert body["isUsable"] is False
    assert body["methodUsabilityReason"] == "NotYetValid"


@pytest.mark.parametrize("lifetime", [9, 43201, 0, -5])
def test_tap_lifetime_outside_policy_is_rejected(
    tenant: Tenant, client: httpx.Client, lifetime: int
) -> None:
    response = client.post(_tap_path(DIEGO_ID), json={"lifetimeInMinutes": lifetime})
    assert_graph_error(response, 400, "badRequest")
    assert tenant.last_tap_value(DIEGO_ID) is None


@pytest.mark.parametrize("lifetime", [10, 43200])
def test_tap_lifetime_bounds_are_inclusive(client: httpx.Client, lifetime: int) -> None:
    response = client.post(_tap_path(DIEGO_ID), json={"lifetimeInMinutes": lifetime})
    assert response.status_code == 201


def test_tap_respects_custom_policy_bounds(tenant: Tenant, client: httpx.Client) -> None:
    tenant.tap_policy.max_lifetime = 480
    assert_graph_error(
        client.post(_tap_path(DIEGO_ID), json={"lifetimeInMinutes": 481}), 400, "badRequest"
    )
    assert client.post(_tap_path(DIEGO_ID), json={"lifetimeInMinutes": 480}).status_code == 201


def test_tap_for_guest_is_rejected(tenant: Tenant, client: httpx.Client) -> None:
    error = assert_graph_error(client.post(_tap_path(MEGAN_ID), json={}), 400, "badRequest")
    assert error["message"] == "Temporary Access Pass cannot be added to an external guest user"
    assert tenant.last_tap_value(MEGAN_ID) is None


def test_tap_policy_disabled(tenant: Tenant, client: httpx.Client) -> None:
    tenant.tap_policy.enabled = False
    error = assert_graph_error(client.post(_tap_path(PATTI_ID), json={}), 400, "badRequest")
    assert error["message"] == (
        "Converged UserCredentialPolicy does not allow creating or updating this authentication "
        "method. AuthMethodType [TemporaryAccessPass]."
    )


def test_new_tap_replaces_previous(tenant: Tenant, client: httpx.Client) -> None:
    first = client.post(_tap_path(ADELE), json={}).json()
    second = client.post(_tap_path(ADELE), json={}).json()
    assert first["id"] != second["id"]
    assert first["temporaryAccessPass"] != second["temporaryAccessPass"]
    listed = client.get(_tap_path(ADELE)).json()["value"]
    assert [t["id"] for t in listed] == [second["id"]]
    assert tenant.last_tap_value(ADELE_ID) == second["temporaryAccessPass"]
    gone = client.delete(f"{_tap_path(ADELE)}/{first['id']}")
    assert_graph_error(gone, 404, "itemNotFound")


def test_default_blocking_kinds_narrows_the_rule(tenant: Tenant, client: httpx.Client) -> None:
    """With the legacy-MFA reading, FIDO2 and email no longer block deleting the default."""
    tenant.default_blocking_kinds = frozenset({"phone", "microsoftAuthenticator", "softwareOath"})
    base = f"/users/{ALEX}/authentication"
    default = f"{base}/microsoftAuthenticatorMethods/{ALEX_AUTHENTICATOR}"
    assert_graph_error(client.delete(default), 400, "badRequest")  # the mobile phone blocks
    assert client.delete(f"{base}/phoneMethods/{MOBILE}").status_code == 204
    assert client.delete(default).status_code == 204  # only FIDO2 is left
    assert tenant.method_kinds(ALEX_ID) == ["fido2"]
    assert tenant.default_method(ALEX_ID) is None
