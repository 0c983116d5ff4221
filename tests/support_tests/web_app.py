"""A test-only function app for the bridge's and the browser's own tests: echo routes, an
output binding, a failing function, and small pages (clean, noisy, refused by its CSP).

Built once per process because ``FunctionApp.get_functions()`` refuses to build twice.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

CLEAN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rig page</title>
<style>body { font-family: sans-serif; margin: 1rem; } h1 { color: #1a4d8f; }</style>
</head><body><h1>Hello {name}</h1>
<form method="post" action="/api/things/7"><button type="submit">Send</button></form>
</body></html>"""

NOISY_PAGE = """<!doctype html><html><head><title>Noisy</title></head><body><p>noisy</p>
<script>console.error("boom from the page"); throw new Error("uncaught on purpose");</script>
</body></html>"""

# A strict policy, as the app's pages will have: the inline script below must be refused.
STRICT_CSP = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'"
CSP_PAGE = """<!doctype html><html><head><title>Strict</title></head><body><p>strict</p>
<script>document.body.dataset.ran = "yes";</script></body></html>"""


@app.route(route="things/{thing_id}/notes/{*rest}", methods=["GET"])
async def echo_note(req: func.HttpRequest) -> func.HttpResponse:
    """Everything the request brought, as JSON."""
    seen: dict[str, Any] = {
        "method": req.method,
        "url": req.url,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "headers": dict(req.headers),
    }
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")


@app.route(route="things/{thing_id:int}", methods=["POST"])
@app.queue_output(arg_name="queue", queue_name="things", connection="UNUSED_CONNECTION")
async def post_thing(req: func.HttpRequest, queue: func.Out[str]) -> func.HttpResponse:
    queue.set(json.dumps({"id": req.route_params["thing_id"], "body": req.get_body().decode()}))
    return func.HttpResponse(
        status_code=202,
        headers={"Location": f"/api/things/{req.route_params['thing_id']}", "X-Extra": "1"},
    )


@app.route(route="page/{name?}", methods=["GET"])
def clean_page(req: func.HttpRequest) -> func.HttpResponse:
    """A plain function (not ``async``): the bridge runs it in a worker thread."""
    name = req.route_params.get("name", "world")
    return func.HttpResponse(CLEAN_PAGE.replace("{name}", name), mimetype="text/html")


@app.route(route="noisy", methods=["GET"])
def noisy_page(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(NOISY_PAGE, mimetype="text/html")


@app.route(route="strict", methods=["GET"])
def strict_page(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        CSP_PAGE, mimetype="text/html", headers={"Content-Security-Policy": STRICT_CSP}
    )


@app.route(route="broken", methods=["GET"])
async def broken(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("this function always fails")


@app.route(route="cookies", methods=["GET"])
def cookies(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("ok")
    response.headers.add_header("Set-Cookie", "a=1; Path=/")
    response.headers.add_header("Set-Cookie", "b=2; Path=/; HttpOnly")
    return response


@app.route(route="plain", methods=["GET"])
def plain(req: func.HttpRequest) -> str:
    return "just a string"


@functools.cache
def functions() -> list[Any]:
    """The indexed functions of this app, once per process."""
    return list(app.get_functions())
