"""One Graph request and its answer as plain values, and the failures every resource shares.

The HTTP layer and ``$batch`` both build a :class:`GraphCall`, so a handler never knows which
of them a request came through; Graph's error envelope, codes and wording live here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol
from urllib.parse import parse_qsl, unquote

from .._common import GraphError, utcnow
from ..tenant import Tenant

_FAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad request."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource not found."),
    409: ("Conflict", "Conflict."),
    429: ("TooManyRequests", "Please retry again later."),
    500: ("generalException", "General exception while processing."),
    502: ("badGateway", "Bad gateway."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
    504: ("gatewayTimeout", "The gateway did not receive a timely response."),
}


# The Graph versions served; beta adds what v1.0 lacks (hardware OATH tokens) and else
# serves what v1.0 does, as far as this app is concerned.
GRAPH_VERSIONS = ("v1.0", "beta")


@dataclass
class GraphCall:
    """One Graph request after transport parsing; ``segments`` are still percent-encoded
    because Graph echoes keys in error messages exactly as they arrived."""

    method: str
    segments: list[str]
    path: str
    raw_target: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    body_invalid: bool
    request_id: str
    client_request_id: str
    # The body's bytes as sent: what a non-JSON body (MIME ``sendMail``) is read from.
    raw_body: bytes = b""
    # "v1.0" or "beta": the version the call (or the ``$batch`` carrying it) was sent to.
    version: str = "v1.0"


@dataclass
class GraphResult:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Service(Protocol):
    """What a resource handler needs of the router: the directory, and where it is served
    (for ``@odata.context`` and next links) with the page size cap."""

    tenant: Tenant
    origin: str
    base_url: str
    max_page_size: int


def make_call(
    method: str,
    target: str,
    *,
    headers: dict[str, str],
    body: Any,
    body_invalid: bool,
    request_id: str,
    client_request_id: str,
    version_prefix: bool,
    raw_body: bytes = b"",
    version: str = "v1.0",
) -> GraphCall:
    """Parse a request target. With ``version_prefix`` the first segment is the version
    (``v1.0``, ``beta``) and is dropped; otherwise (a batch item) ``version`` is the batch's.
    Empty segments vanish, which tolerates the SDK's ``/v1.0//users`` slip."""
    raw_path, _, raw_query = target.partition("?")
    segments = [s for s in raw_path.split("/") if s]
    if version_prefix:
        version = unquote(segments[0]) if segments else ""
        segments = segments[1:]
        path = unquote(raw_path)
    else:
        path = f"/{version}" + unquote(raw_path if raw_path.startswith("/") else "/" + raw_path)
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    return GraphCall(
        method=method.upper(),
        segments=segments,
        path=path,
        raw_target=target,
        query=query,
        headers=headers,
        body=body,
        body_invalid=body_invalid,
        request_id=request_id,
        client_request_id=client_request_id,
        raw_body=raw_body,
        version=version,
    )


def error_body(
    code: str,
    message: str,
    *,
    request_id: str,
    client_request_id: str,
    inner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    inner_error: dict[str, Any] = {
        "date": utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    inner_error.update(inner or {})
    return {"error": {"code": code, "message": message, "innerError": inner_error}}


def render_error(call: GraphCall, exc: GraphError) -> GraphResult:
    body = error_body(
        exc.code,
        exc.message,
        request_id=call.request_id,
        client_request_id=call.client_request_id,
        inner=exc.inner,
    )
    return GraphResult(exc.status, body, dict(exc.headers))


def fault_error(status: int, retry_after: str | None) -> GraphError:
    """The error a scripted fault answers with, shaped like Graph's own for that status."""
    code, message = _FAULT_ERRORS.get(status, ("UnknownError", f"HTTP {status}."))
    inner: dict[str, Any] = {}
    if status == 429:
        inner = {"code": "429", "status": "429", "message": "Please retry after"}
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return GraphError(status, code, message, inner=inner, headers=headers)


def fail(status: int, code: str, message: str) -> NoReturn:
    raise GraphError(status, code, message)


def segment_not_found(segment: str) -> NoReturn:
    fail(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def allow(call: GraphCall, *methods: str, code: str = "Request_BadRequest") -> None:
    if call.method not in methods:
        raise GraphError(
            405, code, f"The requested resource does not support http method '{call.method}'."
        )


def object_not_found(raw_key: str) -> NoReturn:
    fail(
        404,
        "Request_ResourceNotFound",
        f"Resource '{raw_key}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def cast_name(segment: str) -> str | None:
    """The type named by a cast segment (``microsoft.graph.group``), or None if it is none."""
    for prefix in ("microsoft.graph.", "graph."):
        if segment.startswith(prefix):
            return segment[len(prefix) :]
    return None
