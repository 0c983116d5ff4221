"""A stand-in for the Functions host's HTTP front door: real HTTP on a loopback port, handed to
the app's HTTP functions as ``func.HttpRequest`` and answered from their ``func.HttpResponse``.

Pages the app serves must be tried in a real browser, and a browser speaks HTTP, not Python;
this module is the bridge. It reads each function's bindings from the indexed app (the same
metadata the host reads), so a new route needs no change here::

    async with FunctionBridge() as bridge:          # every HTTP function of function_app
        await page.goto(bridge.url("notices/abc"))  # -> GET /api/notices/abc
        queued = bridge.last("confirm_notice").outputs["queue"].get()

What it does as the host does: the ``api`` route prefix (``extensions.http.routePrefix`` of
host.json), route templates (``{name}``, ``{name?}``, ``{*rest}``, ``{id:int|guid|alpha}``)
matched case-insensitively with decoded values in ``route_params``, the query in ``params``,
the declared methods (another method is a 404, as no route matches), an output binding
per ``OUT`` binding (a :class:`~tests.support.bindings.Out` the test reads back), ``async``
functions awaited and plain ones run in a worker thread, and the response encoded by the
library's own converter (its ``Content-Type`` from ``mimetype`` and ``charset``). A function
that raises is answered 500 with an empty body and the exception kept in ``errors``.
What it leaves out: function keys (the host's job; ``authLevel`` is not enforced), other
input bindings (refused when the bridge is built), proxies and CORS.

Why the handlers run on the test's own event loop: the app keeps per-process clients (the
ledger's table client, the Graph client) that bind to the loop they were created on, the way
the Python worker runs every invocation on one long-lived loop. A server on a second loop in a
thread would hand those clients a foreign loop. So the server is aiohttp's, started on the
running loop (aiohttp is already a dependency of azure-identity's async transport), and a
test drives the browser with Playwright's async API on that same loop: while the test awaits
the browser, the loop serves the browser's requests.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote

import azure.functions as func
from aiohttp import web
from azure.functions.http import HttpResponseConverter
from multidict import CIMultiDict

from tests.support.app import indexed
from tests.support.bindings import Out
from tests.support.paths import HOST_JSON

logger = logging.getLogger(__name__)

_PARAM = re.compile(
    r"\{(?P<star>\*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<constraint>[^}?=]+))?(?P<optional>\?)?\}"
)
_CONSTRAINTS = {
    "int": r"-?\d+",
    "guid": r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
}


def route_prefix() -> str:
    """host.json's ``extensions.http.routePrefix``; the host's default is ``api``."""
    document = json.loads(HOST_JSON.read_text(encoding="utf-8"))
    prefix = document.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return str(prefix).strip("/")


def template_regex(template: str) -> re.Pattern[str]:
    """A regex for a route template, matched against the raw (still encoded) path after the
    prefix, so an encoded ``/`` stays inside its segment."""
    pattern = ""
    for index, segment in enumerate(template.strip("/").split("/")):
        sep = "/" if index else ""
        whole = _PARAM.fullmatch(segment)
        if whole and whole["star"]:
            pattern += f"(?:{sep}(?P<{whole['name']}>.*))?" if sep else f"(?P<{whole['name']}>.*)"
            continue
        if whole and whole["optional"]:
            pattern += f"(?:{sep}(?P<{whole['name']}>{_segment_value(whole)}))?"
            continue
        pos, body = 0, ""
        for match in _PARAM.finditer(segment):
            body += re.escape(segment[pos : match.start()])
            body += f"(?P<{match['name']}>{_segment_value(match)})"
            pos = match.end()
        pattern += sep + body + re.escape(segment[pos:])
    return re.compile(f"^{pattern}/?$", re.IGNORECASE)


def _segment_value(match: re.Match[str]) -> str:
    constraint = (match["constraint"] or "").split("(")[0].lower()
    return _CONSTRAINTS.get(constraint, r"[^/]+")


@dataclass
class Route:
    """One HTTP function as the host routes to it."""

    function: str
    template: str
    methods: frozenset[str] | None  # None: every method
    handler: Any
    request_arg: str
    outputs: tuple[str, ...]
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = template_regex(self.template)

    @property
    def specificity(self) -> tuple[int, int]:
        """Literal routes win over templated ones, as in the host's router."""
        return (self.template.count("{"), -len(self.template))


@dataclass
class Invocation:
    """One call the bridge made: what the function got, what it answered, what it queued."""

    function: str
    request: func.HttpRequest
    outputs: dict[str, Out[Any]]
    status: int = 0
    response: func.HttpResponse | None = None
    error: BaseException | None = None


def http_routes(functions: Iterable[Any]) -> list[Route]:
    """Routes for the HTTP-triggered functions among the library's Function objects."""
    routes: list[Route] = []
    for function in functions:
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if b["type"] == "httpTrigger"), None)
        if trigger is None:
            continue
        name = str(function.get_function_name())
        outputs = tuple(
            str(b["name"])
            for b in bindings
            if b.get("direction") == "OUT" and b["name"] != "$return"
        )
        others = [b for b in bindings if b is not trigger and b.get("direction") == "IN"]
        if others:
            raise ValueError(f"{name}: input bindings {others} are not bridged")
        methods = trigger.get("methods")
        routes.append(
            Route(
                function=name,
                template=str(trigger.get("route") or name),
                methods=frozenset(m.upper() for m in methods) if methods else None,
                handler=function.get_user_function(),
                request_arg=str(trigger["name"]),
                outputs=outputs,
            )
        )
    return sorted(routes, key=lambda r: r.specificity)


class FunctionBridge:
    """Serves HTTP functions (by default every one of ``function_app``) on
    ``http://127.0.0.1:<free port>/<prefix>/...`` from the running event loop."""

    def __init__(
        self,
        functions: Iterable[Any] | None = None,
        *,
        host: str = "127.0.0.1",
        prefix: str | None = None,
    ) -> None:
        self.routes = http_routes(indexed().values() if functions is None else functions)
        self.prefix = route_prefix() if prefix is None else prefix.strip("/")
        self.host = host
        self.invocations: list[Invocation] = []
        self._runner: web.ServerRunner | None = None
        self._origin: str | None = None

    @property
    def origin(self) -> str:
        if self._origin is None:
            raise RuntimeError("the bridge has not been started")
        return self._origin

    def url(self, path: str = "") -> str:
        """The absolute URL of a route: ``url("resets/1")`` -> ``http://127.0.0.1:N/api/resets/1``."""
        base = f"{self.origin}/{self.prefix}" if self.prefix else self.origin
        return f"{base}/{path.lstrip('/')}"

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions functions raised (each answered 500)."""
        return [i.error for i in self.invocations if i.error is not None]

    def calls(self, function: str) -> list[Invocation]:
        return [i for i in self.invocations if i.function == function]

    def last(self, function: str) -> Invocation:
        """The latest invocation of ``function``; its ``outputs`` hold what it set."""
        found = self.calls(function)
        if not found:
            raise LookupError(f"{function} was never invoked")
        return found[-1]

    async def start(self) -> FunctionBridge:
        if self._runner is not None:
            raise RuntimeError("the bridge is already running")
        runner = web.ServerRunner(web.Server(self._serve), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        port = runner.addresses[0][1]
        self._runner = runner
        self._origin = f"http://{self.host}:{port}"
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FunctionBridge:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The route serving ``method raw_path`` and its decoded route parameters."""
        prefix = f"/{self.prefix}" if self.prefix else ""
        if prefix and not (raw_path.lower() == prefix or raw_path.lower().startswith(prefix + "/")):
            return None
        rest = raw_path[len(prefix) :].lstrip("/")
        for route in self.routes:
            if route.methods is not None and method.upper() not in route.methods:
                continue
            found = route.regex.match(rest)
            if found is not None:
                params = {k: unquote(v) for k, v in found.groupdict().items() if v is not None}
                return route, params
        return None

    async def _serve(self, request: web.BaseRequest) -> web.StreamResponse:
        matched = self.match(request.method, request.rel_url.raw_path)
        if matched is None:
            return web.Response(status=404)
        route, params = matched
        body = await request.read()
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        fn_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=headers,
            params=dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)),
            route_params=params,
            body=body,
        )
        invocation = Invocation(route.function, fn_request, {n: Out() for n in route.outputs})
        self.invocations.append(invocation)
        try:
            result = await _invoke(route, fn_request, invocation.outputs)
        except Exception as exc:
            logger.exception("function %s raised", route.function)
            invocation.error = exc
            invocation.status = 500
            return web.Response(status=500)
        return _to_aiohttp(invocation, result)


async def _invoke(route: Route, request: func.HttpRequest, outputs: Mapping[str, Out[Any]]) -> Any:
    kwargs: dict[str, Any] = {route.request_arg: request, **outputs}
    if inspect.iscoroutinefunction(route.handler):
        return await route.handler(**kwargs)
    return await asyncio.to_thread(route.handler, **kwargs)


def _to_aiohttp(invocation: Invocation, result: Any) -> web.Response:
    """Encode the function's answer with the library's converter, as the worker does."""
    if isinstance(result, func.HttpResponse):
        invocation.response = result
    elif not isinstance(result, str):
        raise TypeError(f"{invocation.function} returned {type(result).__name__}")
    datum = HttpResponseConverter.encode(result, expected_type=None)
    if datum.type == "string":  # a plain string is a 200 text answer
        invocation.status = 200
        return web.Response(status=200, text=str(datum.value), content_type="text/plain")
    value = datum.value
    status = int(value["status_code"].value)
    headers: CIMultiDict[str] = CIMultiDict(
        (name, str(header.value)) for name, header in value["headers"].items()
    )
    for cookie in value["cookies"] or []:
        for morsel in cookie.values():
            headers.add("Set-Cookie", morsel.OutputString())
    invocation.status = status
    body = value["body"].value or b""
    return web.Response(
        status=status, body=body if status not in (204, 304) else None, headers=headers
    )
