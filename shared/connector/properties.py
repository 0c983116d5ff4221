"""``apiProperties.json``: how a Power Platform connection to the app signs in.

The app always wants a function key (``auth_level=FUNCTION``); with caller roles required (App
Service Authentication on, or ``REQUIRE_CALLER_ROLES``) it also wants an Entra ID access token
for the app's API registration. So a connection is one of two parameter sets (Power Platform's
"multi-auth"): the function key alone, or Entra ID sign-in together with the function key. A
``setheader`` policy sends the key as ``x-functions-key`` from either set. The values between
``<<`` and ``>>`` belong to the integrator's tenant, to fill in before the connector is created.
"""

from __future__ import annotations

from shared.connector.schemas import JsonSchema

CLIENT_ID_PLACEHOLDER = "<<Application (client) ID of the connector's app registration>>"
RESOURCE_PLACEHOLDER = "api://<<Application (client) ID of the app's API registration>>"
PUBLISHER_PLACEHOLDER = "<<Your organization>>"
KEY_PARAMETER = "api_key"


def _function_key(tab_index: int) -> JsonSchema:
    return {
        "type": "securestring",
        "uiDefinition": {
            "displayName": "Function key",
            "description": "A function key of the app, one per caller so it can be revoked "
            "alone (az functionapp keys set ... --key-type functionKeys).",
            "tooltip": "Sent as the x-functions-key header",
            "constraints": {"tabIndex": tab_index, "clearText": False, "required": "true"},
        },
    }


def _entra_token() -> JsonSchema:
    return {
        "type": "oauthSetting",
        "oAuthSettings": {
            "identityProvider": "aad",
            "clientId": CLIENT_ID_PLACEHOLDER,
            "scopes": [],
            "redirectMode": "GlobalPerConnector",
            "properties": {
                "IsFirstParty": "False",
                "AzureActiveDirectoryResourceId": RESOURCE_PLACEHOLDER,
            },
            "customParameters": {
                "loginUri": {"value": "https://login.microsoftonline.com"},
                "tenantId": {"value": "common"},
                "resourceUri": {"value": RESOURCE_PLACEHOLDER},
                "enableOnbehalfOfLogin": {"value": "false"},
            },
        },
        "uiDefinition": {
            "displayName": "Sign in with Microsoft Entra ID",
            "description": "A token for the app's API registration (the audience App Service "
            "Authentication accepts); the signed-in account needs the MfaReset.Execute or "
            "MfaReset.Preview app role.",
            "tooltip": "Sign in with Microsoft Entra ID",
            "constraints": {"required": "true"},
        },
    }


def api_properties() -> JsonSchema:
    """The connector's ``apiProperties.json``."""
    return {
        "properties": {
            "connectionParameterSets": {
                "uiDefinition": {
                    "displayName": "Authentication type",
                    "description": "How the connection signs in to the MFA reset app.",
                },
                "values": [
                    {
                        "name": "functionKey",
                        "uiDefinition": {
                            "displayName": "Function key",
                            "description": "For an app that does not require caller roles "
                            "(App Service Authentication off).",
                        },
                        "metadata": {"allowSharing": False},
                        "parameters": {KEY_PARAMETER: _function_key(2)},
                    },
                    {
                        "name": "entraId",
                        "uiDefinition": {
                            "displayName": "Microsoft Entra ID and function key",
                            "description": "For an app behind App Service Authentication, "
                            "which also requires caller roles.",
                        },
                        "metadata": {"allowSharing": False},
                        "parameters": {"token": _entra_token(), KEY_PARAMETER: _function_key(3)},
                    },
                ],
            },
            "policyTemplateInstances": [
                {
                    "templateId": "setheader",
                    "title": "Send the function key",
                    "parameters": {
                        "x-ms-apimTemplateParameter.name": "x-functions-key",
                        "x-ms-apimTemplateParameter.value": (
                            f"@connectionParameters('{KEY_PARAMETER}','')"
                        ),
                        "x-ms-apimTemplateParameter.existsAction": "override",
                        "x-ms-apimTemplate-policySection": "Request",
                    },
                }
            ],
            "iconBrandColor": "#0078D4",
            "capabilities": [],
            "publisher": PUBLISHER_PLACEHOLDER,
            "stackOwner": PUBLISHER_PLACEHOLDER,
        }
    }
