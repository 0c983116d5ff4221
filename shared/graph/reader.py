"""The Graph client's plumbing: one SDK call with its failures mapped, one GET read as JSON,
every page of a collection. The gateway and the protection reads are built on it."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.graph_service_client import GraphServiceClient

from shared.graph.contract import GraphError
from shared.graph.mapping import Json, graph_error

log = logging.getLogger(__name__)
T = TypeVar("T")

# How the SDK's own request builders map a failed answer: Graph's error envelope.
_ERRORS: dict[str, Any] = {"XXX": ODataError}


def raw_request(method: Method, url: str) -> RequestInformation:
    """A request to an absolute URL, as the SDK's builders make them."""
    request = RequestInformation(method)
    request.url = url
    request.headers.try_add("Accept", "application/json")
    return request


class GraphReader:
    """Async calls against Graph v1.0 with the app's managed identity."""

    def __init__(self, client: GraphServiceClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    async def _call(self, operation: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Run one SDK call; map its failures to ``GraphError``.

        The SDK retries 429/503/504 answers itself. A connection that breaks before any answer
        is retried here once, but only for reads and deletes: a repeated POST could issue a
        second Temporary Access Pass (replacing the first) or fail on a phone it already added.
        """
        attempts = 2 if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                return await operation()
            except APIError as exc:
                raise graph_error(exc) from None
            except ClientAuthenticationError as exc:
                # The message says which identity endpoint failed; it holds no token.
                raise GraphError(
                    None, "managedIdentityTokenUnavailable", str(exc.message)
                ) from None
            except httpx.TimeoutException:
                if attempt == attempts:
                    raise GraphError(None, "timeout", "Graph did not answer in time") from None
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise GraphError(None, "connectionFailed", type(exc).__name__) from None
            log.warning("Graph connection failed; trying once more")
        raise AssertionError("unreachable")

    async def _read(self, request: RequestInformation) -> Json:
        """One GET through the SDK's request adapter (authentication, the retry handler,
        telemetry, the error mapping), its answer read as Graph's JSON.

        Not parsed into SDK models: msgraph builds each object's deserializer table from
        ``Entity``'s, thousands of entries rebuilt per object, about 20 ms of CPU for every
        method, group or role assignment - more than a round trip, on the path every reset
        takes.
        """
        adapter: Any = self._client.request_adapter
        body: bytes | None = await self._call(
            lambda: adapter.send_primitive_async(request, "bytes", _ERRORS), idempotent=True
        )
        answer: Any = json.loads(body) if body else {}
        return answer if isinstance(answer, dict) else {}

    async def _delete(self, url: str, option: Any) -> None:
        """A DELETE the SDK has no request builder for (a beta path, or a v1.0 one newer than
        the pinned SDK), through the same adapter: authentication, retries, error mapping."""
        adapter: Any = self._client.request_adapter
        request = raw_request(Method.DELETE, url)
        request.add_request_options([option])
        await self._call(
            lambda: adapter.send_no_response_content_async(request, _ERRORS), idempotent=True
        )

    async def _all_pages(self, builder: Any, config: Any = None) -> list[Json]:
        """Every item of a collection, following ``@odata.nextLink`` to the end."""
        return await self._pages(builder.to_get_request_information(config))

    async def _pages(self, first: RequestInformation) -> list[Json]:
        """Every item from ``first`` on; also for collections the SDK has no builder for."""
        page = await self._read(first)
        items: list[Json] = list(page.get("value") or [])
        while next_link := page.get("@odata.nextLink"):
            page = await self._read(raw_request(Method.GET, next_link))
            items.extend(page.get("value") or [])
        return items
