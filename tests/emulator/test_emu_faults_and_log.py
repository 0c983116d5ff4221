"""Fault injection and the request log."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from emulator import Fault, GraphEmulator, RecordedRequest, Tenant
from emulator.demo import ADELE_ID
from tests.emulator.emu_helpers import ADELE, MEGAN, MOBILE, assert_graph_error

# -- faults ---------------------------------------------------------------------------------


def test_429_with_retry_after_then_success(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(path=r"/users/", status=429, retry_after="2"))
    first = client.get(f"/users/{ADELE}")
    error = assert_graph_error(first, 429, "TooManyRequests")
    assert first.headers["Retry-After"] == "2"
    assert error["innerError"]["code"] == "429"
    assert error["innerError"]["status"] == "429"
    second = client.get(f"/users/{ADELE}")
    assert second.status_code == 200
    assert [r.status for r in emu.requests] == [429, 200]
    assert len(emu.faults) == 0


def test_fault_times_and_method_filter(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(method="DELETE", status=503, retry_after=None, times=2))
    assert client.get(f"/users/{ADELE}").status_code == 200  # GETs are not matched
    path = f"/users/{ADELE}/authentication/fido2Methods/c4e6a8b0-3d5f-4b7c-8e9a-2f4b6d8f0a03"
    for _ in range(2):
        response = client.delete(path)
        assert_graph_error(response, 503, "serviceNotAvailable")
        assert "Retry-After" not in response.headers
    assert client.delete(path).status_code == 204
    assert [r.status for r in emu.writes()] == [503, 503, 204]


def test_permanent_fault_and_gateway_timeout(emu: GraphEmulator, client: httpx.Client) -> None:
    fault = emu.faults.add(Fault(path="revokeSignInSessions", status=504, times=None))
    for _ in range(3):
        assert_graph_error(
            client.post(f"/users/{ADELE}/revokeSignInSessions"), 504, "gatewayTimeout"
        )
    assert emu.faults.remaining(fault) is None
    emu.faults.clear()
    assert client.post(f"/users/{ADELE}/revokeSignInSessions").status_code == 200


def test_faults_match_in_order_added(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(path="nothing-matches-this", status=500))
    emu.faults.add(Fault(status=503))
    emu.faults.add(Fault(status=429))
    assert client.get(f"/users/{ADELE}").status_code == 503
    assert client.get(f"/users/{ADELE}").status_code == 429
    assert client.get(f"/users/{ADELE}").status_code == 200
    assert len(emu.faults) == 1


def test_fault_path_matches_decoded_path(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(path=r"#EXT#@", status=429))
    response = client.get("/users/megan.bowen_fabrikam.example%23EXT%23%40contoso.example")
    assert response.status_code == 429
    assert emu.requests[-1].path == f"/v1.0/users/{MEGAN}"


def test_drop_closes_connection_without_response(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(path="phoneMethods", drop=True))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.delete(f"/users/{ADELE}/authentication/phoneMethods/{MOBILE}")
    assert emu.requests[-1].status == 0
    # The server itself is fine and the fault is used up.
    assert client.get(f"/users/{ADELE}").status_code == 200


def test_delay_causes_client_timeout(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(delay=1.0, status=503))
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"/users/{ADELE}", timeout=0.2)


def test_delay_only_fault_then_normal_answer(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(delay=0.3, status=0))
    started = time.monotonic()
    response = client.get(f"/users/{ADELE}")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_faulted_requests_are_not_applied(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    emu.faults.add(Fault(method="POST", status=429))
    assert client.post(f"/users/{ADELE}/revokeSignInSessions").status_code == 429
    assert tenant.revocations(ADELE_ID) == 0


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="times"):
        Fault(times=0)
    with pytest.raises(ValueError, match="status"):
        Fault(status=42)
    with pytest.raises(re.error):
        Fault(path="([")


# -- request log ----------------------------------------------------------------------------


def test_request_log_content(emu: GraphEmulator, client: httpx.Client) -> None:
    response = client.post(
        "/users/patti.o%27brien%40contoso.example/authentication/phoneMethods",
        params={"$select": "id"},
        json={"phoneNumber": "+1 2065550000", "phoneType": "mobile"},
        headers={"client-request-id": "trace-1", "X-Custom": "Yes"},
    )
    assert response.status_code == 201
    (record,) = emu.requests
    assert isinstance(record, RecordedRequest)
    assert record.method == "POST"
    assert record.path == "/v1.0/users/patti.o'brien@contoso.example/authentication/phoneMethods"
    assert record.raw_path == (
        "/v1.0/users/patti.o%27brien%40contoso.example/authentication/phoneMethods?%24select=id"
    )
    assert record.query == {"$select": "id"}
    assert record.headers["client-request-id"] == "trace-1"
    assert record.headers["x-custom"] == "Yes"
    assert record.headers["authorization"].startswith("Bearer ")
    assert record.body == {"phoneNumber": "+1 2065550000", "phoneType": "mobile"}
    assert record.status == 201
    assert record.request_id == response.headers["request-id"]


def test_log_is_a_snapshot_in_arrival_order(emu: GraphEmulator, client: httpx.Client) -> None:
    client.get(f"/users/{ADELE}")
    snapshot = emu.requests
    client.post(f"/users/{ADELE}/revokeSignInSessions")
    client.get(f"/users/{ADELE}/authentication/methods")
    assert len(snapshot) == 1
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in emu.requests] == [
        ("GET", ADELE),
        ("POST", "revokeSignInSessions"),
        ("GET", "methods"),
    ]
    assert [r.method for r in emu.writes()] == ["POST"]
    snapshot.clear()
    assert len(emu.requests) == 3


def test_clear_log_forgets_graph_and_token_calls(emu: GraphEmulator, client: httpx.Client) -> None:
    client.get(f"/users/{ADELE}")
    assert emu.requests
    assert emu.token_requests
    emu.clear_log()
    assert emu.requests == []
    assert emu.token_requests == []
    assert client.get(f"/users/{ADELE}").status_code == 200  # tokens survive clear_log
    assert len(emu.requests) == 1


def test_tap_value_appears_only_in_the_create_response(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    response = client.post(f"/users/{ADELE}/authentication/temporaryAccessPassMethods", json={})
    value = tenant.last_tap_value(ADELE_ID)
    assert value is not None
    assert value == response.json()["temporaryAccessPass"]
    assert all(value not in repr(r) for r in emu.requests)


def test_concurrent_requests_are_all_recorded(emu: GraphEmulator) -> None:
    import concurrent.futures

    from tests.emulator.emu_helpers import graph_client

    with graph_client(emu) as client:

        def call(_: int) -> int:
            return client.post(f"/users/{ADELE}/revokeSignInSessions").status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(call, range(40)))
    assert statuses == [200] * 40
    assert len(emu.requests) == 40
    assert emu.tenant.revocations(ADELE_ID) == 40
