"""JSON batching: limits, ids, dependsOn / depends_on, faults and logging of inner requests."""

from __future__ import annotations

from typing import Any

import httpx

from emulator import Fault, GraphEmulator, Tenant
from emulator.demo import ADELE_ID, ALEX_ID, DIEGO_ID
from tests.emulator.emu_helpers import ALEX, ALT_MOBILE, MOBILE, OFFICE, assert_graph_error

ADELE_FIDO = "c4e6a8b0-3d5f-4b7c-8e9a-2f4b6d8f0a03"


def _batch(client: httpx.Client, requests: list[dict[str, Any]]) -> httpx.Response:
    return client.post("/$batch", json={"requests": requests})


def _by_id(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["responses"]}


def test_batch_executes_requests(tenant: Tenant, client: httpx.Client) -> None:
    response = _batch(
        client,
        [
            {"id": "1", "method": "GET", "url": f"/users/{ALEX}?$select=id"},
            {
                "id": "2",
                "method": "DELETE",
                "url": f"/users/{ADELE_ID}/authentication/fido2Methods/{ADELE_FIDO}",
            },
            {
                "id": "3",
                "method": "POST",
                "url": f"/users/{ALEX_ID}/revokeSignInSessions",
                "headers": {"Content-Type": "application/json"},
                "body": {},
            },
        ],
    )
    items = _by_id(response)
    assert items["1"]["status"] == 200
    assert items["1"]["body"]["id"] == ALEX_ID
    assert items["2"]["status"] == 204
    assert "body" not in items["2"]
    assert items["3"]["status"] == 200
    assert items["3"]["body"]["value"] is True
    assert tenant.revocations(ALEX_ID) == 1
    assert "fido2" not in tenant.method_kinds(ADELE_ID)


def test_depends_on_failure_yields_424_and_skips_dependent(
    tenant: Tenant, client: httpx.Client
) -> None:
    base = f"/users/{ADELE_ID}/authentication/phoneMethods"
    items = _by_id(
        _batch(
            client,
            [
                # Fails: the mobile phone is Adele's default and she has other methods.
                {"id": "1", "method": "DELETE", "url": f"{base}/{MOBILE}"},
                {"id": "2", "method": "DELETE", "url": f"{base}/{OFFICE}", "dependsOn": ["1"]},
                {"id": "3", "method": "GET", "url": f"{base}/{OFFICE}", "dependsOn": ["2"]},
            ],
        )
    )
    assert items["1"]["status"] == 400
    assert items["1"]["body"]["error"]["code"] == "badRequest"
    assert items["2"]["status"] == 424
    assert items["2"]["body"]["error"]["code"]
    assert items["3"]["status"] == 424
    assert "phone" in tenant.method_kinds(ADELE_ID)
    assert OFFICE in {m["id"] for m in tenant.methods(ADELE_ID)}


def test_depends_on_success_runs_in_order(tenant: Tenant, client: httpx.Client) -> None:
    tenant.set_default(ADELE_ID, None)
    base = f"/users/{ADELE_ID}/authentication/phoneMethods"
    items = _by_id(
        _batch(
            client,
            [
                {"id": "alt", "method": "DELETE", "url": f"{base}/{ALT_MOBILE}"},
                {"id": "mob", "method": "DELETE", "url": f"{base}/{MOBILE}", "dependsOn": ["alt"]},
            ],
        )
    )
    assert (items["alt"]["status"], items["mob"]["status"]) == (204, 204)


def test_snake_case_depends_on_is_ignored(tenant: Tenant, client: httpx.Client) -> None:
    """The SDK's ``depends_on`` means nothing to Graph: item 2 runs although 1 failed."""
    base = f"/users/{ADELE_ID}/authentication"
    items = _by_id(
        _batch(
            client,
            [
                {"id": "1", "method": "DELETE", "url": f"{base}/fido2Methods/not-there"},
                {
                    "id": "2",
                    "method": "DELETE",
                    "url": f"{base}/fido2Methods/{ADELE_FIDO}",
                    "depends_on": ["1"],
                },
            ],
        )
    )
    assert items["1"]["status"] == 404
    assert items["2"]["status"] == 204
    assert "fido2" not in tenant.method_kinds(ADELE_ID)


def test_batch_limit_is_20(tenant: Tenant, client: httpx.Client) -> None:
    twenty = [{"id": str(n), "method": "GET", "url": f"/users/{DIEGO_ID}"} for n in range(20)]
    assert all(i["status"] == 200 for i in _by_id(_batch(client, twenty)).values())
    too_many = [
        *twenty,
        {"id": "20", "method": "POST", "url": f"/users/{DIEGO_ID}/revokeSignInSessions"},
    ]
    error = assert_graph_error(_batch(client, too_many), 400, "BadRequest")
    assert "20" in error["message"]
    assert tenant.revocations(DIEGO_ID) == 0


def test_batch_ids_must_be_unique(tenant: Tenant, client: httpx.Client) -> None:
    requests = [
        {"id": "a", "method": "POST", "url": f"/users/{DIEGO_ID}/revokeSignInSessions"},
        {"id": "A", "method": "GET", "url": f"/users/{DIEGO_ID}"},
    ]
    assert_graph_error(_batch(client, requests), 400, "BadRequest")
    assert tenant.revocations(DIEGO_ID) == 0


def test_batch_rejects_forward_dependency(client: httpx.Client) -> None:
    requests: list[dict[str, Any]] = [
        {"id": "1", "method": "GET", "url": f"/users/{DIEGO_ID}", "dependsOn": ["2"]},
        {"id": "2", "method": "GET", "url": f"/users/{DIEGO_ID}"},
    ]
    error = assert_graph_error(_batch(client, requests), 400, "BadRequest")
    assert "dependency" in error["message"]


def test_batch_rejects_malformed_payload(client: httpx.Client) -> None:
    assert_graph_error(client.post("/$batch", json={"nope": []}), 400, "BadRequest")
    assert_graph_error(
        client.post("/$batch", content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "BadRequest",
    )


def test_batch_body_requires_content_type(tenant: Tenant, client: httpx.Client) -> None:
    items = _by_id(
        _batch(
            client,
            [
                {
                    "id": "1",
                    "method": "POST",
                    "url": f"/users/{DIEGO_ID}/authentication/phoneMethods",
                    "body": {"phoneNumber": "+1 2065550000", "phoneType": "mobile"},
                }
            ],
        )
    )
    assert items["1"]["status"] == 400
    assert tenant.method_kinds(DIEGO_ID) == []


def test_batch_requires_auth(emu: GraphEmulator) -> None:
    response = httpx.post(
        f"{emu.base_url}/$batch",
        json={"requests": [{"id": "1", "method": "GET", "url": f"/users/{DIEGO_ID}"}]},
    )
    assert_graph_error(response, 401, "InvalidAuthenticationToken")


def test_faults_apply_to_inner_requests(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(method="DELETE", path=r"/fido2Methods/", status=429, retry_after="7"))
    url = f"/users/{ADELE_ID}/authentication/fido2Methods/{ADELE_FIDO}"
    items = _by_id(
        _batch(
            client,
            [
                {"id": "1", "method": "GET", "url": f"/users/{DIEGO_ID}"},
                {"id": "2", "method": "DELETE", "url": url},
            ],
        )
    )
    assert items["1"]["status"] == 200
    assert items["2"]["status"] == 429
    assert items["2"]["headers"]["Retry-After"] == "7"
    assert items["2"]["body"]["error"]["code"] == "TooManyRequests"
    retry = _by_id(_batch(client, [{"id": "2", "method": "DELETE", "url": url}]))
    assert retry["2"]["status"] == 204


def test_inner_requests_are_recorded_after_the_batch(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    _batch(
        client,
        [
            {"id": "1", "method": "GET", "url": f"/users/{DIEGO_ID}"},
            {"id": "2", "method": "POST", "url": f"users/{DIEGO_ID}/revokeSignInSessions"},
        ],
    )
    outer, first, second = emu.requests
    assert (outer.method, outer.path, outer.status, outer.batch_id) == (
        "POST",
        "/v1.0/$batch",
        200,
        None,
    )
    assert (first.method, first.path, first.status, first.batch_id) == (
        "GET",
        f"/v1.0/users/{DIEGO_ID}",
        200,
        "1",
    )
    assert second.path == f"/v1.0/users/{DIEGO_ID}/revokeSignInSessions"
    assert second.raw_path == f"/users/{DIEGO_ID}/revokeSignInSessions"
    assert second.batch_id == "2"
    # A write is counted once, as the item it is: the envelope is not a write of its own.
    assert [w.path for w in emu.writes()] == [second.path]
