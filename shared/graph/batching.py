"""Graph calls made at the same moment leave together as one JSON batch: a round is one trip.

A reset's calls form a short chain of rounds (read, delete, delete what Graph refused, add,
verify), and everything inside a round is independent. The gateway issues a round's calls
concurrently; this transport, under the SDK's middleware, holds the requests that reach it
together and sends them as ``POST /$batch`` (at most 20 a batch, the batches of one round in
parallel). Each caller gets its own item's answer as if it had been sent alone, so the SDK
still authenticates, parses and retries every call: an item answered 429 is retried by the
SDK's retry handler after its own ``Retry-After``, alone, and a 404 is a 404.

The batches are fully parallel (no ``dependsOn``), as Graph asks: "a batch should be either
fully sequential or fully parallel". A request that arrives alone is sent as it is.

A batch is sent to one version's ``$batch`` and its items' URLs are relative to that version;
Graph documents no way to mix versions in one batch. So a round that reaches v1.0 and beta
(a hardware token's unassignment beside the other deletions) leaves as one batch per version,
sent at the same moment: still one round.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

MAX_BATCH = 20
# Loop iterations with no new request before a batch leaves. Concurrent calls reach the
# transport within an iteration or two of each other (the SDK awaits nothing in between once
# it holds a token); waiting costs microseconds, not a round trip.
_SETTLE_ITERATIONS = 4
# Headers that belong to the one HTTP request carrying the batch, not to its items.
_OUTER_ONLY = frozenset(
    {
        "authorization",
        "host",
        "content-length",
        "connection",
        "accept-encoding",
        "transfer-encoding",
        "user-agent",
        "sdkversion",
        "retry-attempt",
    }
)
_ITEM_HEADERS_DROPPED = frozenset({"content-length", "content-encoding", "transfer-encoding"})


@dataclass
class _Held:
    request: httpx.Request
    prefix: str  # the version path ("/v1.0", "/beta") its batch goes to
    answer: asyncio.Future[httpx.Response] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class BatchingTransport(httpx.AsyncBaseTransport):
    """Sends concurrent Graph requests under each of ``roots`` (one per Graph version, on one
    host) as ``$batch`` calls to that version."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *roots: str) -> None:
        self._inner = inner
        parts = [urlsplit(root.rstrip("/")) for root in roots]
        self._origin = f"{parts[0].scheme}://{parts[0].netloc}"
        if any(f"{p.scheme}://{p.netloc}" != self._origin for p in parts):
            raise ValueError("every Graph version batched must be on one host")
        # "/v1.0", "/beta": item URLs are relative to their version.
        self._prefixes = tuple(dict.fromkeys(p.path for p in parts))
        self._held: list[_Held] = []
        self._flush: asyncio.Task[None] | None = None
        self.batches_sent = 0  # for tests and the benchmark

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        prefix = self._batch_prefix(request)
        if prefix is None:
            return await self._inner.handle_async_request(request)
        held = _Held(request, prefix)
        self._held.append(held)
        if self._flush is None:
            self._flush = asyncio.create_task(self._send_when_settled())
        return await held.answer

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _batch_prefix(self, request: httpx.Request) -> str | None:
        """The version whose ``$batch`` may carry this request; None: it goes alone."""
        url = request.url
        path = url.path
        if f"{url.scheme}://{url.netloc.decode()}" != self._origin or path.endswith("/$batch"):
            return None
        prefix = next((p for p in self._prefixes if path.startswith(p + "/")), None)
        content_type = request.headers.get("content-type", "application/json")
        batchable = request.method in {"GET", "POST", "PATCH", "PUT", "DELETE"} and (
            not request.content or content_type.split(";")[0].strip() == "application/json"
        )
        return prefix if batchable else None

    async def _send_when_settled(self) -> None:
        seen, quiet = -1, 0
        while quiet < _SETTLE_ITERATIONS:
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self._held) == seen else 0
            seen = len(self._held)
        held, self._held = self._held, []
        # Whatever arrives from now on leaves in a batch of its own, not after this one.
        self._flush = None
        sends = []
        for prefix in self._prefixes:
            group = [h for h in held if h.prefix == prefix]
            if len(group) == 1:
                sends.append(self._alone(group[0]))
            else:
                chunks = [group[i : i + MAX_BATCH] for i in range(0, len(group), MAX_BATCH)]
                sends.extend(self._batch(prefix, chunk) for chunk in chunks)
        await asyncio.gather(*sends)

    async def _alone(self, held: _Held) -> None:
        try:
            response = await self._inner.handle_async_request(held.request)
        except BaseException as exc:
            _fail(held, exc)
            return
        _answer(held, response)

    def _item(self, index: int, held: _Held) -> dict[str, Any]:
        request = held.request
        target = request.url.raw_path.decode("ascii")
        item: dict[str, Any] = {
            "id": str(index),
            "method": request.method,
            "url": target[len(held.prefix) :],
        }
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _OUTER_ONLY}
        if request.content:
            item["body"] = json.loads(request.content)
        elif request.method in {"POST", "PATCH", "PUT"}:
            item["body"] = {}  # Graph wants a body (and its Content-Type) on every action
        if "body" in item:
            headers.setdefault("content-type", "application/json")
        if headers:
            item["headers"] = headers
        return item

    async def _batch(self, prefix: str, held: list[_Held]) -> None:
        first = held[0].request
        payload = {"requests": [self._item(i, h) for i, h in enumerate(held, 1)]}
        outer = httpx.Request(
            "POST",
            f"{self._origin}{prefix}/$batch",
            headers={
                **{k: v for k, v in first.headers.items() if k.lower() in {"authorization"}},
                "content-type": "application/json",
                "accept": "application/json",
                "client-request-id": str(uuid.uuid4()),
            },
            content=json.dumps(payload).encode(),
            extensions=first.extensions,
        )
        try:
            response = await self._inner.handle_async_request(outer)
            body = await response.aread()
            await response.aclose()
        except BaseException as exc:
            for h in held:
                _fail(h, exc)
            return
        self.batches_sent += 1
        if response.status_code != 200:
            # The batch itself failed (throttled, unavailable): every item gets that answer,
            # and each caller's retry handler decides, as for a call sent alone.
            for h in held:
                _answer(h, _response(response.status_code, response.headers, body, h))
            return
        try:
            items = {str(r["id"]).lower(): r for r in json.loads(body)["responses"]}
        except (ValueError, KeyError, TypeError):
            items = {}
        batch_ids = {k: v for k, v in response.headers.items() if k.lower() == "request-id"}
        for index, h in enumerate(held, 1):
            answer = items.get(str(index))
            if answer is None:
                error = {"error": {"code": "batchItemMissing", "message": "no answer in batch"}}
                _answer(h, _response(502, batch_ids, json.dumps(error).encode(), h))
                continue
            headers = {**batch_ids, **(answer.get("headers") or {})}
            content = b"" if answer.get("body") is None else json.dumps(answer["body"]).encode()
            if content:
                headers.setdefault("Content-Type", "application/json")
            _answer(h, _response(int(answer["status"]), headers, content, h))


def _response(status: int, headers: Any, content: bytes, held: _Held) -> httpx.Response:
    kept = {k: v for k, v in dict(headers).items() if k.lower() not in _ITEM_HEADERS_DROPPED}
    return httpx.Response(status, headers=kept, content=content, request=held.request)


def _answer(held: _Held, response: httpx.Response) -> None:
    if not held.answer.done():  # its caller may have given up (cancelled) meanwhile
        held.answer.set_result(response)


def _fail(held: _Held, exc: BaseException) -> None:
    if not held.answer.done():
        held.answer.set_exception(exc)
