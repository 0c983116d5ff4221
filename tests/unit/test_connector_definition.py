"""The connector definition's shape: what Power Platform's designer needs, in OpenAPI 2.0 only.

The integration test holds the definition to the HTTP functions; these hold the generator to
the dialect (no JSON Schema 2020-12 constructs leak through), to the designer's conventions
(summaries, visibility, drop-downs) and to refusing what it cannot translate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from shared.connector import (
    OPERATIONS,
    PLACEHOLDER_HOST,
    RouteDriftError,
    UnsupportedSchemaError,
    api_definition,
    api_properties,
    check_routes,
    served_definition,
)
from shared.connector.bodies import IMPORTANT
from shared.connector.schemas import Translator, humanise
from shared.ledger import ResetStatus
from shared.models import CallbackEvent, MethodType, OutcomeStatus, PhoneType

DEFINITION = api_definition()
DEFINITIONS = DEFINITION["definitions"]
# What OpenAPI 2.0 schemas do not have (pydantic's JSON Schema does).
FOREIGN = {"anyOf", "oneOf", "allOf", "const", "$defs", "nullable", "examples", "writeOnly"}


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def operations() -> list[dict[str, Any]]:
    return [op for methods in DEFINITION["paths"].values() for op in methods.values()]


def schema_properties() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, node in walk(DEFINITIONS, "#/definitions"):
        if path.endswith("/properties"):
            for name, prop in node.items():
                yield f"{path}/{name}", prop


def test_only_openapi_2_schema_keywords():
    for path, node in walk(DEFINITION):
        if path.endswith(("/properties", "/example", "/definitions", "/paths", "/headers")):
            continue  # names (or an example's values), not keywords
        assert not FOREIGN & set(node), f"{path}: {FOREIGN & set(node)}"
        assert node.get("type") != "null" and not isinstance(node.get("type"), list), path
        if "$ref" in node:
            assert set(node) == {"$ref"}, f"{path}: a $ref with siblings"
            assert node["$ref"].removeprefix("#/definitions/") in DEFINITIONS, path


def test_every_operation_speaks_to_the_designer():
    ids = [op["operationId"] for op in operations()]
    assert len(ids) == len(set(ids)) == len(OPERATIONS)
    for op in operations():
        assert op["summary"] and len(op["summary"]) <= 80, op["operationId"]
        assert op["description"].endswith("."), op["operationId"]
        for parameter in op.get("parameters", []):
            assert parameter["x-ms-summary"] and parameter["description"], parameter["name"]
        for code, answer in op["responses"].items():
            assert answer["description"], (op["operationId"], code)
    hidden = {op["operationId"] for op in operations() if op.get("x-ms-visibility") == "internal"}
    assert hidden == {"GetResetRequestSchema", "GetApiDefinition"}  # documents, not flow steps


def test_every_property_has_a_summary_and_the_request_a_visibility():
    for path, prop in schema_properties():
        assert "$ref" in prop or prop.get("x-ms-summary"), path
    request = DEFINITIONS["ResetRequest"]["properties"]
    for name, prop in request.items():
        expected = "important" if name in IMPORTANT else "advanced"
        assert prop["x-ms-visibility"] == expected, name
    assert set(IMPORTANT) <= set(DEFINITIONS["ResetRequest"]["required"])


def test_enumerations_are_drop_downs():
    request = DEFINITIONS["ResetRequest"]["properties"]
    methods = [t.value for t in MethodType]
    assert request["mode"]["enum"] == ["async", "sync"]
    assert request["remove_methods"]["items"]["enum"] == methods
    assert request["keep_methods"]["items"]["enum"] == methods
    assert request["new_phone"]["properties"]["type"]["enum"] == [t.value for t in PhoneType]


def test_optional_values_are_x_nullable_and_required_ones_are_not():
    request = DEFINITIONS["ResetRequest"]["properties"]
    outcome = DEFINITIONS["Outcome"]["properties"]
    for prop in (request["reason"], request["new_phone"], outcome["finished_at"]):
        assert prop["x-nullable"] is True
    for prop in (request["user"], outcome["ticket_id"], outcome["steps"]):
        assert "x-nullable" not in prop


def test_remove_methods_is_a_list_and_says_what_all_is():
    remove = DEFINITIONS["ResetRequest"]["properties"]["remove_methods"]
    assert (remove["type"], remove["minItems"], remove["uniqueItems"]) == ("array", 1, True)
    assert "default" not in remove  # "all" is not a list: leaving it out means "all"
    assert 'the JSON string "all"' in remove["description"]


def test_the_views_extend_the_outcome():
    outcome = DEFINITIONS["Outcome"]["properties"]
    view = DEFINITIONS["StatusView"]["properties"]
    callback = DEFINITIONS["ResetCallback"]
    assert set(outcome) < set(view)
    assert set(view) - set(outcome) == {
        "attempts",
        "accepted_at",
        "callback",
        "caller",
        "runs_at",
        "notifications",
        "disputed",
        "verification",
    }
    assert set(view["status"]["enum"]) == {s.value for s in OutcomeStatus} | {
        s.value for s in ResetStatus
    } | {"held"}
    assert view["user"]["x-nullable"] is True
    assert view["callback"] == {"$ref": "#/definitions/CallbackView"}
    assert view["caller"] == {"$ref": "#/definitions/CallerView"}
    assert view["disputed"] == {"$ref": "#/definitions/DisputeView"}
    assert view["notifications"]["items"] == {"$ref": "#/definitions/NotificationView"}
    assert set(callback["properties"]) == {"event", *view}
    assert callback["properties"]["event"]["enum"] == [e.value for e in CallbackEvent]
    assert {"event", "attempts", "accepted_at"} <= set(callback["required"])


def test_two_ways_to_connect():
    assert DEFINITION["securityDefinitions"]["function_key"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-functions-key",
        "description": DEFINITION["securityDefinitions"]["function_key"]["description"],
    }
    assert DEFINITION["securityDefinitions"]["entra_id"]["type"] == "oauth2"
    sets = api_properties()["properties"]["connectionParameterSets"]["values"]
    assert [s["name"] for s in sets] == ["functionKey", "entraId"]
    for parameter_set in sets:
        for name, parameter in parameter_set["parameters"].items():
            assert parameter["uiDefinition"]["constraints"]["required"] == "true", name
        assert parameter_set["parameters"]["api_key"]["type"] == "securestring"
    token = sets[1]["parameters"]["token"]["oAuthSettings"]
    assert token["identityProvider"] == "aad"
    assert token["clientId"].startswith("<<")
    assert token["customParameters"]["resourceUri"]["value"].startswith("api://<<")
    (policy,) = api_properties()["properties"]["policyTemplateInstances"]
    assert policy["templateId"] == "setheader"
    assert policy["parameters"]["x-ms-apimTemplateParameter.name"] == "x-functions-key"
    assert "'api_key'" in policy["parameters"]["x-ms-apimTemplateParameter.value"]


def test_routes_must_match_both_ways():
    documented = {(op.route, op.method.upper()) for op in OPERATIONS}
    check_routes(documented)
    with pytest.raises(RouteDriftError, match=r"served but not documented: GET resets/export"):
        check_routes(documented | {("resets/export", "GET")})
    with pytest.raises(RouteDriftError, match=r"documented but not served: GET openapi\.json"):
        check_routes(documented - {("openapi.json", "GET")})
    with pytest.raises(RouteDriftError, match="route prefix"):
        check_routes(documented, route_prefix="v1")


def test_the_served_definition_names_the_host_it_was_asked_on():
    served = served_definition("https://mfa.contoso.example/api/openapi.json?code=k")
    assert '"host": "mfa.contoso.example"' in served
    assert "code=k" not in served
    assert f'"host": "{PLACEHOLDER_HOST}"' in served_definition("/api/openapi.json")
    assert '"schemes": [\n    "http"\n  ]' in served_definition("http://localhost:7071/api/x")


class _Union(BaseModel):
    value: int | str


class _Optional(BaseModel):
    phone: PhoneType | None = None
    note: str | None = None


def test_the_translation_refuses_what_swagger_2_cannot_say():
    with pytest.raises(UnsupportedSchemaError, match=r"_Union\.value: a union"):
        Translator().model("_Union", _Union.model_json_schema())
    translator = Translator(overrides={"_Optional.gone": lambda node, t: node})
    translator.model("_Optional", _Optional.model_json_schema())
    assert translator.unused_overrides() == ["_Optional.gone"]


def test_the_translation_of_optional_values_and_enumerations():
    translator = Translator()
    translator.model("_Optional", _Optional.model_json_schema())
    phone = translator.definitions["_Optional"]["properties"]["phone"]
    assert phone == {
        "type": "string",
        "enum": ["mobile", "alternateMobile", "office"],
        "x-nullable": True,
        "x-ms-summary": "Phone",
    }
    assert "default" not in translator.definitions["_Optional"]["properties"]["note"]
    assert humanise("callback_url") == "Callback URL"
    assert humanise("id") == "ID"
