"""What a client that sends Graph calls in parallel JSON batches relies on: injected latency
(a batch costs its slowest chain), overlapping fault delays, the order items run in, per-item
throttling and request ids, a drop after the batch was applied, and round-trip counts.

Timing assertions are strict below (the latency must really be paid) and loose above (a
loaded machine may be slow, but not ten round trips slow).
"""

from __future__ import annotations

import concurrent.futures
import random
import time
from typing import Any

import httpx
import pytest

from emulator import Fault, GraphEmulator, Tenant
from emulator.demo import ADELE_ID, ALEX_ID, DIEGO_ID
from emulator.graph.schedule import execution_order
from tests.emulator.emu_helpers import fetch_token, graph_client

LATENCY = 0.2


def _revoke(item_id: str, user: str = DIEGO_ID, **extra: Any) -> dict[str, Any]:
    return {"id": item_id, "method": "POST", "url": f"/users/{user}/revokeSignInSessions", **extra}


def _get(item_id: str, user: str = DIEGO_ID, **extra: Any) -> dict[str, Any]:
    return {"id": item_id, "method": "GET", "url": f"/users/{user}?$select=id", **extra}


def _timed_batch(
    client: httpx.Client, requests: list[dict[str, Any]]
) -> tuple[float, list[dict[str, Any]]]:
    started = time.perf_counter()
    response = client.post("/$batch", json={"requests": requests})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["responses"]
    return elapsed, items


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# -- latency --------------------------------------------------------------------------------


def test_single_request_costs_the_latency(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.latency = LATENCY
    started = time.perf_counter()
    assert client.get(f"/users/{DIEGO_ID}").status_code == 200
    assert time.perf_counter() - started >= LATENCY
    emu.latency = 0.0
    started = time.perf_counter()
    assert client.get(f"/users/{DIEGO_ID}").status_code == 200
    assert time.perf_counter() - started < LATENCY * 5


def test_token_and_jwks_cost_nothing(tenant: Tenant) -> None:
    with GraphEmulator(tenant, latency=3.0) as emu:
        assert emu.latency == 3.0
        started = time.perf_counter()
        fetch_token(emu)
        httpx.get(f"{emu.origin}{emu.entra.jwks_path}", timeout=10).raise_for_status()
        assert time.perf_counter() - started < 2.0


def test_latency_must_not_be_negative(emu: GraphEmulator) -> None:
    with pytest.raises(ValueError, match="latency"):
        emu.latency = -0.1
    with pytest.raises(ValueError, match="latency"):
        GraphEmulator(latency=-1)


def test_concurrent_requests_overlap(emu: GraphEmulator, client: httpx.Client) -> None:
    """The latency is slept outside the tenant lock: six calls at once take about one."""
    emu.latency = 0.3
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        started = time.perf_counter()
        statuses = list(pool.map(lambda _: client.get(f"/users/{DIEGO_ID}").status_code, range(6)))
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 6
    assert 0.3 <= elapsed < 6 * 0.3 * 0.7


def test_parallel_batch_costs_one_latency(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.latency = LATENCY
    elapsed, items = _timed_batch(client, [_get(str(n)) for n in range(10)])
    assert [i["status"] for i in items] == [200] * 10
    assert LATENCY <= elapsed < 5 * LATENCY


def test_depends_on_chain_costs_its_length(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    emu.latency = LATENCY
    chain = [_revoke("1"), _revoke("2", dependsOn=["1"]), _revoke("3", dependsOn=["2"])]
    parallel = [_get(f"p{n}") for n in range(7)]
    elapsed, items = _timed_batch(client, chain + parallel)
    assert all(i["status"] == 200 for i in items)
    assert tenant.revocations(DIEGO_ID) == 3
    assert 3 * LATENCY <= elapsed < 3 * LATENCY + 4 * LATENCY


def test_refused_batch_still_costs_a_round_trip(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.latency = LATENCY
    started = time.perf_counter()
    assert client.post("/$batch", json={"requests": []}).status_code == 400
    assert time.perf_counter() - started >= LATENCY


# -- fault delays inside a batch ------------------------------------------------------------


def test_item_delays_overlap(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault(method="GET", path="/users/", status=0, delay=0.4, times=5))
    elapsed, items = _timed_batch(client, [_get(str(n)) for n in range(5)])
    assert [i["status"] for i in items] == [200] * 5
    assert len(emu.faults) == 0
    assert 0.4 <= elapsed < 5 * 0.4 * 0.8


def test_item_delays_add_up_along_a_chain(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.latency = 0.1
    emu.faults.add(Fault(path="revokeSignInSessions", status=0, delay=0.3, times=2))
    chain = [_revoke("1"), _revoke("2", dependsOn=["1"]), _get("3")]
    elapsed, items = _timed_batch(client, chain)
    assert [i["status"] for i in items] == [200] * 3
    assert elapsed >= 2 * (0.1 + 0.3)


# -- order ----------------------------------------------------------------------------------


def test_default_order_is_the_array(emu: GraphEmulator, client: httpx.Client) -> None:
    assert emu.batch_order == "array"
    _, items = _timed_batch(client, [_get(str(n)) for n in range(6)])
    assert _ids(items) == [str(n) for n in range(6)]


def test_reverse_order_keeps_dependencies(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.batch_order = "reverse"
    requests = [_revoke("a"), _revoke("b", dependsOn=["a"]), _get("c"), _get("d")]
    _, items = _timed_batch(client, requests)
    assert _ids(items) == ["d", "c", "a", "b"]
    (outer,) = [r for r in emu.requests if r.batch_id is None]
    assert [r.batch_id for r in emu.batch_items(outer)] == ["d", "c", "a", "b"]


def test_random_order_is_reproducible_with_a_seed(tenant: Tenant) -> None:
    requests = [_get(str(n)) for n in range(10)]
    emu = GraphEmulator(tenant, batch_order="random", batch_seed=42)
    with emu, graph_client(emu) as client:
        first = [_ids(_timed_batch(client, requests)[1]) for _ in range(2)]
        emu.batch_seed = 42
        again = [_ids(_timed_batch(client, requests)[1]) for _ in range(2)]
    assert first == again
    assert first[0] != [str(n) for n in range(10)]
    assert sorted(first[0], key=int) == [str(n) for n in range(10)]
    assert first[0] != first[1]  # the generator moves on from batch to batch


def test_random_order_respects_dependencies(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    emu.batch_order = "random"
    emu.batch_seed = 7
    requests = [
        _revoke("1"),
        _get("2"),
        _revoke("3", dependsOn=["1"]),
        _get("4"),
        _revoke("5", dependsOn=["3", "2"]),
        _get("6"),
    ]
    for _ in range(5):
        order = _ids(_timed_batch(client, requests)[1])
        assert order.index("1") < order.index("3") < order.index("5")
        assert order.index("2") < order.index("5")
    assert tenant.revocations(DIEGO_ID) == 15


def test_execution_order_only_moves_independent_items() -> None:
    keys = ["a", "b", "c", "d", "e"]
    deps: list[list[str]] = [[], ["a"], [], ["b"], []]
    assert execution_order(keys, deps, "array") == [0, 1, 2, 3, 4]
    assert execution_order(keys, deps, "reverse") == [4, 2, 0, 1, 3]
    rng = random.Random(3)
    for _ in range(50):
        order = [keys[i] for i in execution_order(keys, deps, "random", rng)]
        assert sorted(order) == keys
        assert order.index("a") < order.index("b") < order.index("d")
    with pytest.raises(ValueError, match="order"):
        execution_order(keys, deps, "sideways")


def test_batch_order_is_validated(emu: GraphEmulator) -> None:
    with pytest.raises(ValueError, match="batch_order"):
        emu.batch_order = "sorted"


# -- per-item throttling and request ids ----------------------------------------------------


def test_item_throttled_with_retry_after_in_its_headers(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    emu.faults.add(Fault(path=f"/users/{ALEX_ID}/revoke", status=429, retry_after="5"))
    emu.faults.add(Fault(path=f"/users/{ADELE_ID}/revoke", status=503, retry_after="3"))
    requests = [_revoke("1", ALEX_ID), _revoke("2", ADELE_ID), _revoke("3")]
    _, answered = _timed_batch(client, requests)
    items = {item["id"]: item for item in answered}
    assert (items["1"]["status"], items["1"]["headers"]["Retry-After"]) == (429, "5")
    assert (items["2"]["status"], items["2"]["headers"]["Retry-After"]) == (503, "3")
    assert "Retry-After" not in items["3"]["headers"]
    assert items["1"]["body"]["error"]["code"] == "TooManyRequests"
    assert (tenant.revocations(ALEX_ID), tenant.revocations(ADELE_ID)) == (0, 0)
    assert tenant.revocations(DIEGO_ID) == 1


def test_every_item_has_its_own_request_ids(emu: GraphEmulator, client: httpx.Client) -> None:
    requests = [
        _get("ok", headers={"client-request-id": "mine"}),
        {"id": "missing", "method": "GET", "url": "/users/nobody@contoso.example"},
        {"id": "after", "method": "GET", "url": f"/users/{DIEGO_ID}", "dependsOn": ["missing"]},
        {"id": "absolute", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me"},
    ]
    response = client.post(
        "/$batch", json={"requests": requests}, headers={"client-request-id": "outer"}
    )
    items = {item["id"]: item for item in response.json()["responses"]}
    assert [items[i]["status"] for i in ("ok", "missing", "after", "absolute")] == [
        200,
        404,
        424,
        400,
    ]
    ids = {name: item["headers"]["request-id"] for name, item in items.items()}
    assert len(set(ids.values()) | {response.headers["request-id"]}) == 5
    assert items["ok"]["headers"]["client-request-id"] == "mine"
    for name in ("missing", "after", "absolute"):
        inner = items[name]["body"]["error"]["innerError"]
        assert inner["request-id"] == ids[name]
        assert inner["client-request-id"] == items[name]["headers"]["client-request-id"]
        assert inner["client-request-id"] == "outer"
    recorded = {r.batch_id: r.request_id for r in emu.requests if r.batch_id is not None}
    assert recorded == {"ok": ids["ok"], "missing": ids["missing"]}  # 424/400 never ran


# -- drop after apply -----------------------------------------------------------------------


def test_batch_applied_then_dropped(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    emu.faults.add(Fault(path=r"\$batch", status=0, drop_after=True))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/$batch", json={"requests": [_revoke("1"), _revoke("2", ALEX_ID)]})
    assert (tenant.revocations(DIEGO_ID), tenant.revocations(ALEX_ID)) == (1, 1)
    outer, *inner = emu.requests
    assert (outer.batch_id, outer.status) == (None, 0)  # no answer was written
    assert [(r.batch_id, r.status) for r in inner] == [("1", 200), ("2", 200)]
    # The fault is used up and the server still answers.
    _, items = _timed_batch(client, [_revoke("1")])
    assert items[0]["status"] == 200
    assert tenant.revocations(DIEGO_ID) == 2


def test_single_request_applied_then_dropped(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    emu.faults.add(Fault(method="POST", path="revokeSignInSessions", drop_after=True))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(f"/users/{DIEGO_ID}/revokeSignInSessions")
    assert tenant.revocations(DIEGO_ID) == 1
    assert emu.requests[-1].status == 0


def test_item_applied_then_batch_dropped(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    emu.faults.add(Fault(path=f"/users/{ALEX_ID}/revoke", drop_after=True))
    requests = [_revoke("1"), _revoke("2", ALEX_ID), _revoke("3", ADELE_ID)]
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/$batch", json={"requests": requests})
    revoked = [tenant.revocations(u) for u in (DIEGO_ID, ALEX_ID, ADELE_ID)]
    assert revoked == [1, 1, 0]


def test_drop_and_drop_after_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="drop"):
        Fault(drop=True, drop_after=True)


# -- round trips ----------------------------------------------------------------------------


def test_round_trips_and_batch_sizes(emu: GraphEmulator, client: httpx.Client) -> None:
    assert client.get(f"/users/{DIEGO_ID}").status_code == 200
    _timed_batch(client, [_get("1"), _get("2"), _revoke("3")])
    _timed_batch(client, [_get("a")])
    assert emu.token_requests  # the client fixture fetched a token: not a Graph round trip
    assert emu.round_trips() == 3
    assert emu.batch_sizes() == [3, 1]
    first_batch = [r for r in emu.requests if r.batch_id is None][1]
    assert [r.batch_id for r in emu.batch_items(first_batch)] == ["1", "2", "3"]
    assert emu.batch_items(first_batch.request_id) == emu.batch_items(first_batch)
    assert len(emu.requests) == 3 + 4
    emu.clear_log()
    assert (emu.round_trips(), emu.batch_sizes()) == (0, [])
