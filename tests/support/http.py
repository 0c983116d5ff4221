"""Calling the HTTP functions the way the host does, and reading their answers."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from tests.support.app import handler
from tests.support.bindings import Out

BASE_URL = "https://mfa-reset.example/api/resets"


async def submit(
    body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[func.HttpResponse, Out[str]]:
    """POST /api/resets; the queue output binding comes back for the test to deliver."""
    queue: Out[str] = Out()
    request = func.HttpRequest(
        method="POST",
        url=BASE_URL,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=json.dumps(body).encode(),
    )
    response: func.HttpResponse = await handler("submit_reset")(request, queue)
    return response, queue


async def status(reset_id: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """GET /api/resets/{reset_id}."""
    request = func.HttpRequest(
        method="GET",
        url=f"{BASE_URL}/{reset_id}",
        route_params={"reset_id": reset_id},
        headers=headers or {},
        body=b"",
    )
    response: func.HttpResponse = await handler("get_reset")(request)
    return response


def body_of(response: func.HttpResponse) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(response.get_body())
    return parsed


def problem(response: func.HttpResponse) -> dict[str, Any]:
    """An RFC 9457 problem document, checked for the fields every problem carries."""
    assert response.headers["Content-Type"] == "application/problem+json"
    body = body_of(response)
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:mfa-reset:problem:")
    return body


async def cancel(
    reset_id: str, headers: dict[str, str] | None = None
) -> tuple[func.HttpResponse, Out[str]]:
    """DELETE /api/resets/{reset_id}; the callback output binding comes back too."""
    callbacks: Out[str] = Out()
    request = func.HttpRequest(
        method="DELETE",
        url=f"{BASE_URL}/{reset_id}",
        route_params={"reset_id": reset_id},
        headers=headers or {},
        body=b"",
    )
    response: func.HttpResponse = await handler("cancel_reset")(request, callbacks)
    return response, callbacks
