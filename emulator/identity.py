"""The App Service managed-identity token endpoint, and Graph's check of the bearer token.

Tokens are opaque random strings that only this process recognises, so code under test
must really obtain one through ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` (the way
``azure-identity`` does in an Azure Function) and really send it to Graph.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from ._common import GRAPH_APP_ID, GRAPH_RESOURCE, GraphError

TOKEN_PATH = "/msi/token"
IDENTITY_API_VERSION = "2019-08-01"
# Reported as the identity's client id when the caller asks for the system-assigned one.
SYSTEM_ASSIGNED_CLIENT_ID = "5c2b1f0e-8a3d-4e6b-9f71-2d4c6a8e0b13"
_GRAPH_AUDIENCES = frozenset({GRAPH_RESOURCE, GRAPH_APP_ID})


@dataclass
class _Token:
    resource: str
    client_id: str
    expires_on: float


class ManagedIdentity:
    """The tokens one emulator has issued, the secret header its endpoint demands, and the
    log of token requests; shares the tenant's lock like everything else the tests read."""

    def __init__(self, lock: threading.RLock, lifetime: int) -> None:
        self.header = secrets.token_urlsafe(24)
        self.lifetime = lifetime
        self._lock = lock
        self._tokens: dict[str, _Token] = {}
        self._log: list[dict[str, Any]] = []

    def issue(self, resource: str, client_id: str | None) -> str:
        token = "emu." + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _Token(
                resource,
                client_id or SYSTEM_ASSIGNED_CLIENT_ID,
                time.time() + self.lifetime,
            )
        return token

    def audience_of(self, token: str) -> tuple[str, bool] | None:
        """``(resource, live)`` of a token issued here, or None for a token never issued: for
        a service other than Graph that checks the audience in its own words."""
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None:
                return None
            return issued.resource, issued.expires_on > time.time()

    def issued(self) -> list[str]:
        with self._lock:
            return list(self._tokens)

    def expire_all(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token.expires_on = 0.0

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def clear_log(self) -> None:
        with self._lock:
            self._log = []

    def token_endpoint(
        self, method: str, target: str, presented: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Answer ``GET {TOKEN_PATH}?api-version=...&resource=...[&client_id=...]`` the way
        App Service does: status and JSON body, errors included."""
        query = dict(parse_qsl(target.partition("?")[2], keep_blank_values=True))
        resource = query.get("resource") or None
        client_id = query.get("client_id") or None
        status, message = 200, ""
        body: dict[str, Any]
        if method != "GET":
            status, message = 405, f"Method {method} is not supported."
        elif presented is None or not hmac.compare_digest(presented.encode(), self.header.encode()):
            status, message = 401, "The X-IDENTITY-HEADER header is missing or wrong."
        elif query.get("api-version") != IDENTITY_API_VERSION:
            status, message = 400, f"api-version must be {IDENTITY_API_VERSION}."
        elif resource is None:
            status, message = 400, "The resource parameter is required."
        if status == 200 and resource is not None:
            token = self.issue(resource, client_id)
            with self._lock:
                expires_on = self._tokens[token].expires_on
            body = {
                "access_token": token,
                "expires_on": str(int(expires_on)),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id or SYSTEM_ASSIGNED_CLIENT_ID,
            }
        else:
            body = {
                "statusCode": status,
                "message": message,
                "error": "invalid_request" if status == 400 else "unauthorized_client",
                "error_description": message,
            }
        with self._lock:
            self._log.append({"resource": resource, "client_id": client_id, "status": status})
        return status, body

    def authenticate(self, authorization: str, origin: str) -> GraphError | None:
        """Graph's verdict on an ``Authorization`` header: None if it carries a live token
        issued here for Graph, else the 401 Graph would answer with."""
        header = authorization.strip()
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            return GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        if scheme.lower() != "bearer" or not token:
            return GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure. Bad scheme."
            )
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            return GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure. Invalid token."
            )
        if issued.expires_on <= time.time():
            return GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        if not _is_graph_audience(issued.resource, origin):
            return GraphError(
                401,
                "InvalidAuthenticationToken",
                f"Access token validation failure. Invalid audience '{issued.resource}'.",
            )
        return None


def _is_graph_audience(resource: str, origin: str) -> bool:
    """Graph accepts tokens for its own host (that is how national clouds work), so the
    emulator accepts its own origin as well as the public Graph resource; anything else
    (a Storage or ARM token, say) is the wrong audience."""
    audience = resource.rstrip("/").lower()
    return audience in _GRAPH_AUDIENCES or audience == origin.lower()
