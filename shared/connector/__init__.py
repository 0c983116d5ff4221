"""The app's API as a Power Platform custom connector: an OpenAPI 2.0 definition, generated.

Power Automate, Power Apps and Logic Apps import OpenAPI 2.0 (Swagger) plus an
``apiProperties.json`` that says how a connection signs in. Both are generated from the Pydantic
models and the app's routes, never written by hand: ``scripts/connector.py`` (``make
connector``) writes them to ``connector/``, and ``GET /api/openapi.json`` serves the same
definition with the host it was asked on. The tests hold the committed files to what the
generator writes, to the OpenAPI 2.0 specification, and to what the HTTP functions answer.

* ``schemas``: pydantic's JSON Schema -> Swagger 2.0 schemas;
* ``bodies``: the ``definitions`` (request, status view, callback, problem);
* ``definition``: the operations, and the check that they are the app's routes;
* ``properties``: ``apiProperties.json`` (function key, or Entra ID plus function key).
"""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import urlsplit

from shared.connector.bodies import translate_bodies
from shared.connector.definition import (
    OPERATIONS,
    ROUTE_PREFIX,
    Operation,
    RouteDriftError,
    check_routes,
    paths,
    served_routes,
)
from shared.connector.properties import api_properties
from shared.connector.schemas import JsonSchema, UnsupportedSchemaError

# The committed definition's host; the integrator puts the function app's host here.
PLACEHOLDER_HOST = "your-function-app.azurewebsites.net"
# Shown on the connector's page; the publisher's own, like the publisher in apiProperties.json.
WEBSITE_PLACEHOLDER = "<<Your organization's website>>"
PRIVACY_PLACEHOLDER = "<<Your organization's privacy policy>>"
API_VERSION = "1.0"
TITLE = "Entra ID MFA reset"
DESCRIPTION = (
    "Reset a user's Microsoft Entra ID multifactor authentication through the MFA reset "
    "function app: revoke their sessions, delete their registered authentication methods, "
    "register a new phone or issue a Temporary Access Pass, with a dry run that changes nothing "
    "and a status read for every reset."
)


def _security() -> JsonSchema:
    return {
        "securityDefinitions": {
            "function_key": {
                "type": "apiKey",
                "in": "header",
                "name": "x-functions-key",
                "description": "A function key of the app (always required).",
            },
            "entra_id": {
                "type": "oauth2",
                "flow": "accessCode",
                "authorizationUrl": "https://login.microsoftonline.com/common/oauth2/authorize",
                "tokenUrl": "https://login.microsoftonline.com/common/oauth2/token",
                "scopes": {},
                "description": "An Entra ID access token for the app's API registration, "
                "carrying the MfaReset.Execute or MfaReset.Preview app role: required on top "
                "of the function key when App Service Authentication is on or "
                "REQUIRE_CALLER_ROLES is true.",
            },
        },
        # Either the function key alone, or the function key and a token.
        "security": [{"function_key": []}, {"function_key": [], "entra_id": []}],
    }


def api_definition(host: str = PLACEHOLDER_HOST, scheme: str = "https") -> JsonSchema:
    """The connector's ``apiDefinition.swagger.json`` for the app at ``host``."""
    return {
        "swagger": "2.0",
        "info": {"title": TITLE, "description": DESCRIPTION, "version": API_VERSION},
        "host": host,
        "basePath": f"/{ROUTE_PREFIX}",
        "schemes": [scheme],
        "consumes": [],
        "produces": [],
        "paths": paths(),
        "definitions": translate_bodies(),
        **_security(),
        "x-ms-connector-metadata": [
            {"propertyName": "Website", "propertyValue": WEBSITE_PLACEHOLDER},
            {"propertyName": "Privacy policy", "propertyValue": PRIVACY_PLACEHOLDER},
            {"propertyName": "Categories", "propertyValue": "IT Operations;Security"},
        ],
    }


def render(document: Any) -> str:
    """The committed form: fixed key order (as built), two-space indent, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def served_definition(url: str) -> str:
    """The definition as ``GET /api/openapi.json`` serves it: the host it was asked on."""
    parts = urlsplit(url)  # only the host and scheme: the query may carry the function key
    if not parts.hostname:
        return _rendered(PLACEHOLDER_HOST, "https")
    return _rendered(parts.netloc.rpartition("@")[2], parts.scheme or "https")


@functools.lru_cache(maxsize=8)
def _rendered(host: str, scheme: str) -> str:
    return render(api_definition(host, scheme))


__all__ = [
    "OPERATIONS",
    "PLACEHOLDER_HOST",
    "Operation",
    "RouteDriftError",
    "UnsupportedSchemaError",
    "api_definition",
    "api_properties",
    "check_routes",
    "render",
    "served_definition",
    "served_routes",
]
