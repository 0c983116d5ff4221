"""One managed-identity credential and one Graph client per worker process.

The Functions Python worker runs every ``async def`` invocation on one long-lived event loop, so a
client created once keeps its connection pool and its cached token across invocations. Creating them
per call would fetch a token per call (throttled by the identity endpoint) and pay the SDK's slow
import on the hot path; creating them at import time would slow down indexing and fail before the
settings can be reported. Hence: lazily, on first use, behind a lock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared.identity import close_credentials, get_credential
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    import httpx
    from azure.identity.aio import ManagedIdentityCredential

    from shared.graph.gateway import GraphGateway


log = logging.getLogger(__name__)


class GraphProvider:
    """Builds the credential and the Graph client on first use and hands out the same gateway.

    ``settings`` defaults to the process settings, read when the gateway is first needed.
    """

    def __init__(
        self, settings: Settings | None = None, *, shared_credential: bool = False
    ) -> None:
        self._settings = settings
        # The process provider shares the identity's credential with the ledger; others own one.
        self._shared_credential = shared_credential
        self._lock: asyncio.Lock | None = None
        self._gateway: GraphGateway | None = None
        self._credential: ManagedIdentityCredential | None = None
        self._http: httpx.AsyncClient | None = None

    async def gateway(self) -> GraphGateway:
        if self._gateway is not None:
            return self._gateway
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._gateway is None:
                settings = self._settings or get_settings()
                gateway = self._build(settings)
                await self._warm(settings)
                self._gateway = gateway
        return self._gateway

    async def _warm(self, settings: Settings) -> None:
        """Fetch the token once, before any call: a reset's first reads go out together, and
        each would otherwise ask the identity endpoint for its own token, then reach Graph
        apart instead of in one batch. A failure here is left to the first call to report,
        as a ``GraphError``, like any other."""
        if self._credential is None:
            return
        try:
            await self._credential.get_token(settings.graph_scope)
        except Exception:  # reported by the first call that needs the token
            log.debug("could not fetch a Graph token ahead of the first call", exc_info=True)

    def _build(self, settings: Settings) -> GraphGateway:
        # Imported here: msgraph's import costs about a second, azure.identity's a fifth of a
        # cold start, and most invocations of a freshly indexed worker (the schema endpoint,
        # bad requests) never need them.
        import httpx
        from azure.identity.aio import ManagedIdentityCredential
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from kiota_http.middleware.options import RetryHandlerOption
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_service_client import GraphServiceClient
        from msgraph_core import GraphClientFactory

        from shared.graph.batching import BatchingTransport
        from shared.graph.gateway import GraphGateway

        client_id = settings.managed_identity_client_id
        if self._shared_credential:
            credential = get_credential(client_id)
        elif client_id:
            credential = ManagedIdentityCredential(client_id=client_id)
        else:
            credential = ManagedIdentityCredential()
        host = urlsplit(settings.graph_base_url).hostname or ""
        auth = AzureIdentityAuthenticationProvider(
            credential,
            scopes=[settings.graph_scope],
            # The token goes to the configured Graph host and nowhere else.
            allowed_hosts=[host],
            # Managed identity tokens cannot answer CAE claims challenges.
            is_cae_enabled=False,
        )
        retry = RetryHandlerOption(
            delay=settings.graph_retry_delay_seconds,
            max_retries=settings.graph_max_retries,
            should_retry=True,
        )
        # No base_url on the httpx client: the SDK would then build ".../v1.0//users" URLs.
        # Under the SDK's middleware, calls made together leave as one $batch (batching.py).
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.graph_timeout_seconds, connect=10.0),
            transport=BatchingTransport(
                httpx.AsyncHTTPTransport(http2=True),
                settings.graph_base_url,
                settings.graph_beta_url,
            ),
        )
        http = GraphClientFactory.create_with_default_middleware(
            client=http, options={RetryHandlerOption.get_key(): retry}
        )
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = settings.graph_base_url
        self._credential, self._http = credential, http
        return GraphGateway(
            GraphServiceClient(request_adapter=adapter),
            settings.graph_base_url,
            beta_url=settings.graph_beta_url,
            beta_methods=settings.graph_beta_methods,
        )

    async def close(self) -> None:
        """Release connections; tests and the demo call this, the Functions host never does."""
        if self._http is not None:
            await self._http.aclose()
        if self._credential is not None and not self._shared_credential:
            await self._credential.close()
        self._gateway = self._credential = self._http = None
        self._lock = None


_process_graph = GraphProvider(shared_credential=True)


async def get_gateway() -> GraphGateway:
    """The Graph gateway of this worker process, created on first use."""
    return await _process_graph.gateway()


async def close_gateway() -> None:
    """Forget the process's Graph client and credentials (tests and scripts switch tenants)."""
    await _process_graph.close()
    await close_credentials()
