"""The HTTP bridge to the function app: routing, requests in, responses and outputs out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.app import handler
from tests.support.http import body_of
from tests.support.web import FunctionBridge, route_prefix, template_regex
from tests.support_tests import web_app


@pytest.fixture
async def rig() -> AsyncIterator[FunctionBridge]:
    async with FunctionBridge(web_app.functions()) as bridge:
        yield bridge


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_serves_an_app_route_intact(
    web_bridge: FunctionBridge, http: httpx.AsyncClient
) -> None:
    """The app's own openapi.json, keys ignored (the host checks them, not the bridge)."""
    response = await http.get(web_bridge.url("openapi.json"), params={"code": "ignored"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    assert served["host"] == web_bridge.origin.removeprefix("http://")
    call = web_bridge.last("connector_definition")
    assert call.status == 200 and call.error is None
    direct = handler("connector_definition")(call.request)
    assert served == body_of(direct)


async def test_route_params_query_and_headers_reach_the_function(
    rig: FunctionBridge, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        rig.url("THINGS/a%20b%2Fc/notes/x/y%20z"),
        params={"q": "1 2", "empty": ""},
        headers={"X-Trace": "t-1"},
    )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["method"] == "GET"
    assert seen["route_params"] == {"thing_id": "a b/c", "rest": "x/y z"}
    assert seen["params"] == {"q": "1 2", "empty": ""}
    assert seen["headers"]["x-trace"] == "t-1"
    assert seen["url"].startswith(f"{rig.origin}/api/THINGS/")


async def test_post_body_reaches_the_function_and_its_output_is_kept(
    rig: FunctionBridge, http: httpx.AsyncClient
) -> None:
    response = await http.post(rig.url("things/7"), content=b"confirm=yes")
    assert response.status_code == 202
    assert response.content == b""
    assert response.headers["location"] == "/api/things/7"
    assert response.headers["x-extra"] == "1"
    call = rig.last("post_thing")
    assert call.request.get_body() == b"confirm=yes"
    assert json.loads(call.outputs["queue"].get()) == {"id": "7", "body": "confirm=yes"}


async def test_unmatched_method_path_or_constraint_is_a_404(
    rig: FunctionBridge, http: httpx.AsyncClient
) -> None:
    assert (await http.get(rig.url("things/7"))).status_code == 404  # POST only
    assert (await http.post(rig.url("things/seven"), content=b"")).status_code == 404  # :int
    assert (await http.get(rig.url("nowhere"))).status_code == 404
    assert (await http.get(f"{rig.origin}/page")).status_code == 404  # no /api prefix
    assert rig.invocations == []
    with pytest.raises(LookupError):
        rig.last("post_thing")


async def test_mimetype_charset_cookies_and_string_answers(
    rig: FunctionBridge, http: httpx.AsyncClient
) -> None:
    page = await http.get(rig.url("page/Adele"))
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Hello Adele" in page.text
    assert "Hello world" in (await http.get(rig.url("page"))).text  # optional parameter
    cookies = await http.get(rig.url("cookies"))
    assert cookies.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly; Path=/"]
    plain = await http.get(rig.url("plain"))
    assert (plain.status_code, plain.text) == (200, "just a string")


async def test_a_function_that_raises_is_a_500(
    rig: FunctionBridge, http: httpx.AsyncClient
) -> None:
    response = await http.get(rig.url("broken"))
    assert response.status_code == 500
    assert response.content == b""
    [error] = rig.errors
    assert isinstance(error, RuntimeError)


async def test_each_invocation_gets_its_own_outputs(
    rig: FunctionBridge, http: httpx.AsyncClient
) -> None:
    await http.post(rig.url("things/1"), content=b"a")
    await http.post(rig.url("things/2"), content=b"b")
    first, second = rig.calls("post_thing")
    assert first.outputs["queue"] is not second.outputs["queue"]
    assert json.loads(first.outputs["queue"].get())["id"] == "1"
    assert json.loads(second.outputs["queue"].get())["id"] == "2"
    await http.get(rig.url("page"))
    assert rig.last("clean_page").outputs == {}


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("resets/{reset_id}", "resets/abc", {"reset_id": "abc"}),
        ("resets/{reset_id}", "Resets/abc/", {"reset_id": "abc"}),
        ("resets/{reset_id}", "resets/abc/more", None),
        (
            "n/{id:guid}",
            "n/6e7b768e-07e2-4810-8459-485f84f8f204",
            {"id": "6e7b768e-07e2-4810-8459-485f84f8f204"},
        ),
        ("n/{id:guid}", "n/not-a-guid", None),
        ("files/{name}.{ext}", "files/a.txt", {"name": "a", "ext": "txt"}),
        ("all/{*rest}", "all", {}),
        ("openapi.json", "openapiXjson", None),
    ],
)
def test_route_templates(template: str, path: str, params: dict[str, str] | None) -> None:
    match = template_regex(template).match(path)
    if params is None:
        assert match is None
    else:
        assert match is not None
        assert {k: v for k, v in match.groupdict().items() if v is not None} == params


def test_route_prefix_is_the_hosts_default() -> None:
    assert route_prefix() == "api"
