"""``$batch``: JSON batching, validated and executed the way Graph does it (at most 20
requests, unique ids, ``dependsOn`` only on earlier requests, 424 after a failed dependency),
every item answered with its own ``request-id`` and ``client-request-id`` headers.

The inner requests are executed through a callback so the HTTP layer can apply faults to
and record each of them exactly as it does for requests that arrive on their own.

A request body is a JSON value when its ``Content-Type`` is JSON and a base64 string of the
bytes otherwise ("Request format" in Graph's JSON batching guide); the handler of a
non-JSON body (MIME ``sendMail``) reads the decoded bytes from ``raw_body``.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from .._common import GraphError
from .call import GraphCall, GraphResult, error_body, fail, make_call, render_error
from .schedule import Timeline, execution_order

MAX_BATCH = 20


# Runs one inner call: (call, its id in the batch, wait) -> answer. ``wait(delay)`` must be
# called once, with the item's fault delay, before the call is answered; it blocks until
# the item's turn on the batch's clock has come.
Execute = Callable[[GraphCall, str, Callable[[float], None]], GraphResult]


def run_batch(
    outer: GraphCall,
    execute: Execute,
    new_request_id: Callable[[], str],
    *,
    latency: float = 0.0,
    order: str = "array",
    rng: random.Random | None = None,
) -> GraphResult:
    """Execute a JSON batch through ``execute`` (which applies faults to and records each
    inner request) and answer its items in the order they ran (see
    :mod:`~emulator.graph.schedule` for the order and the timing). ``depends_on`` is
    ignored on purpose: Graph only knows ``dependsOn``, and a client that sends the
    snake_case form loses ordering."""
    try:
        items = _validate_batch(outer)
    except GraphError as exc:
        return render_error(outer, exc)
    keys = [str(item["id"]).lower() for item in items]
    deps = [[str(d).lower() for d in item.get("dependsOn") or []] for item in items]
    timeline = Timeline(latency)
    statuses: dict[str, int] = {}
    responses: list[dict[str, Any]] = []
    for index in execution_order(keys, deps, order, rng):
        item, key = items[index], keys[index]
        item_id = str(item["id"])
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        request_id = new_request_id()
        crid = headers.get("client-request-id", outer.client_request_id)
        failed = [d for d in deps[index] if not 200 <= statuses[d] < 300]
        begin = timeline.begin(deps[index])
        inner = _inner_call(item, headers, request_id, crid, outer.version)
        if failed:
            timeline.skip(key, begin)
            result = _item_error(
                GraphError(
                    424,
                    "FailedDependency",
                    f"Request '{item_id}' depends on request '{failed[0]}', which failed.",
                ),
                request_id,
                crid,
            )
        elif isinstance(inner, GraphError):
            timeline.skip(key, begin)
            result = _item_error(inner, request_id, crid)
        else:
            result = execute(inner, item_id, partial(timeline.wait, key, begin))
            if not timeline.waited(key):
                timeline.wait(key, begin, 0.0)
        statuses[key] = result.status
        responses.append(_entry(item_id, result, request_id, crid))
    return GraphResult(200, {"responses": responses})


def _item_error(exc: GraphError, request_id: str, client_request_id: str) -> GraphResult:
    body = error_body(
        exc.code,
        exc.message,
        request_id=request_id,
        client_request_id=client_request_id,
        inner=exc.inner,
    )
    return GraphResult(exc.status, body, dict(exc.headers))


def _entry(item_id: str, result: GraphResult, request_id: str, crid: str) -> dict[str, Any]:
    """One item of the answer; its headers carry its own request ids, like a lone call's."""
    entry: dict[str, Any] = {"id": item_id, "status": result.status}
    headers = {"request-id": request_id, "client-request-id": crid, **result.headers}
    if result.body is not None:
        headers["Content-Type"] = "application/json"
        entry["body"] = result.body
    entry["headers"] = headers
    return entry


def _validate_batch(outer: GraphCall) -> list[dict[str, Any]]:
    body = outer.body
    if outer.body_invalid or not isinstance(body, dict):
        fail(400, "BadRequest", "Invalid batch payload format.")
    items = body.get("requests")
    if not isinstance(items, list) or not items:
        fail(400, "BadRequest", "Invalid batch payload format: 'requests' must be a list.")
    if len(items) > MAX_BATCH:
        fail(
            400,
            "BadRequest",
            f"The number of requests in the batch ({len(items)}) exceeds the limit of {MAX_BATCH}.",
        )
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            fail(400, "BadRequest", "Invalid batch payload format: each request is an object.")
        for name in ("id", "method", "url"):
            if not isinstance(item.get(name), str) or not item[name]:
                fail(400, "BadRequest", f"Batch request is missing the '{name}' property.")
        item_id = item["id"].lower()
        if item_id in seen:
            fail(400, "BadRequest", f"Batch request ids must be unique: '{item['id']}'.")
        deps = item.get("dependsOn")
        valid_deps = deps is None or (
            isinstance(deps, list) and all(isinstance(d, str) and d.lower() in seen for d in deps)
        )
        if not valid_deps:
            fail(400, "BadRequest", f"Invalid dependency for request Id {item['id']}.")
        if item.get("headers") is not None and not isinstance(item["headers"], dict):
            fail(400, "BadRequest", f"Invalid headers for request Id {item['id']}.")
        seen.add(item_id)
    return items


def _inner_call(
    item: dict[str, Any], headers: dict[str, str], request_id: str, crid: str, version: str
) -> GraphCall | GraphError:
    """One item as a call to the batch's own version: its URL is relative to it."""
    url = str(item["url"])
    has_body = "body" in item and item["body"] is not None
    if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
        return GraphError(400, "BadRequest", "Batch request URLs must be relative.")
    if has_body and "content-type" not in headers:
        return GraphError(
            400,
            "BadRequest",
            "A 'Content-Type' header is required when a batch request has a body.",
        )
    body = item.get("body")
    raw = b""
    if has_body and "json" not in headers.get("content-type", "").lower():
        try:
            raw = base64.b64decode(str(body), validate=True)
        except (binascii.Error, ValueError):
            return GraphError(
                400,
                "BadRequest",
                "A request body that is not JSON must be base64 encoded in a batch.",
            )
        body = raw.decode("utf-8", errors="replace")
    elif has_body:
        raw = json.dumps(body).encode()
    return make_call(
        str(item["method"]),
        url if url.startswith("/") else "/" + url,
        headers=headers,
        body=body,
        body_invalid=False,
        request_id=request_id,
        client_request_id=crid,
        version_prefix=False,
        raw_body=raw,
        version=version,
    )
