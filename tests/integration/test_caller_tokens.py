"""Callers' Entra ID access tokens, verified by the app against the tenant's published keys.

The emulator plays Entra ID: it publishes a JWKS and mints tokens, good and bad; the app fetches
the keys over HTTP like it would from login.microsoftonline.com.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from emulator import GraphEmulator
from emulator.entra import API_CLIENT_ID
from shared.guards import CallerRejectedError, close_signing_keys, identify_caller
from shared.guards import callers as callers_module
from shared.settings import Settings, SettingsError

SERVICENOW = "8a1f5c1e-3b7d-4c55-9a9e-2f6d1c0b7e41"


@pytest.fixture
async def settings(graph_emulator: GraphEmulator) -> AsyncIterator[Settings]:
    yield Settings(
        require_caller_roles=True,
        caller_tenant_id=graph_emulator.entra.tenant_id,
        caller_audiences=(API_CLIENT_ID, f"api://{API_CLIENT_ID}"),
        caller_authority=graph_emulator.origin,
    )
    await close_signing_keys()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize("version", ["2.0", "1.0"])
async def test_a_valid_token_gives_the_caller_and_its_roles(
    graph_emulator: GraphEmulator, settings: Settings, version: str
):
    issuer = None if version == "2.0" else f"{graph_emulator.origin}/{settings.caller_tenant_id}/"
    token = graph_emulator.entra.issue(
        "MfaReset.Execute",
        "Other.Role",
        app_id=SERVICENOW,
        version=version,
        issuer=issuer,
        app_displayname="ServiceNow production",
    )
    caller = await identify_caller(bearer(token), settings)
    assert caller.roles == {"MfaReset.Execute", "Other.Role"}
    assert caller.app_id == SERVICENOW
    assert caller.to_audit() == {
        "authenticated_by": "entra-id-token",
        "app_id": SERVICENOW,
        "name": "ServiceNow production",
        "user_id": None,  # an application token: no signed-in user
        "user_name": None,
    }


def _wrong_tenant(emu: GraphEmulator) -> str:
    return emu.entra.issue("MfaReset.Execute", tid="00000000-0000-0000-0000-000000000001")


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda emu: emu.entra.issue("MfaReset.Execute", expires_in=-3600), "expired"),
        (
            lambda emu: emu.entra.issue("MfaReset.Execute", audience="api://another-api"),
            "another audience",
        ),
        (
            lambda emu: emu.entra.issue(
                "MfaReset.Execute", issuer="https://login.example/evil/v2.0"
            ),
            "another issuer",
        ),
        (lambda emu: emu.entra.issue("MfaReset.Execute", signed_by="rogue"), "does not publish"),
        (_wrong_tenant, "another tenant"),
        (lambda emu: "not-a-jwt", "not a JWT"),
        (
            lambda emu: jwt.encode({"roles": ["MfaReset.Execute"]}, "s" * 32, algorithm="HS256"),
            "not signed the way",
        ),
    ],
    ids=["expired", "audience", "issuer", "signature", "tenant", "garbage", "hs256"],
)
async def test_a_bad_token_is_a_401(
    graph_emulator: GraphEmulator, settings: Settings, make: Any, detail: str
):
    with pytest.raises(CallerRejectedError, match=detail) as rejected:
        await identify_caller(bearer(make(graph_emulator)), settings)
    assert rejected.value.status == 401


async def test_a_forged_signature_on_a_published_kid_is_a_401(
    graph_emulator: GraphEmulator, settings: Settings
):
    """Claims changed after signing (a role added): the signature no longer matches."""
    good = graph_emulator.entra.issue("MfaReset.Preview")
    forged_claims = jwt.decode(good, options={"verify_signature": False})
    forged_claims["roles"] = ["MfaReset.Execute"]
    head, _, signature = good.split(".")
    body = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("=")
    with pytest.raises(CallerRejectedError, match="Signature") as rejected:
        await identify_caller(bearer(f"{head}.{body}.{signature}"), settings)
    assert rejected.value.status == 401


async def test_no_token_is_a_401_and_a_token_without_roles_has_none(
    graph_emulator: GraphEmulator, settings: Settings
):
    for headers in ({}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer "}):
        with pytest.raises(CallerRejectedError, match="no Entra ID access token"):
            await identify_caller(headers, settings)
    caller = await identify_caller(bearer(graph_emulator.entra.issue()), settings)
    assert caller.roles == frozenset()


async def test_keys_are_cached_and_fetched_again_for_an_unknown_kid(
    graph_emulator: GraphEmulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    entra = graph_emulator.entra
    for _ in range(3):
        await identify_caller(bearer(entra.issue("MfaReset.Execute")), settings)
    assert entra.jwks_requests == 1

    entra.rotate()  # Entra rolls its keys: a token with a kid the app has not seen
    rolled = entra.issue("MfaReset.Execute")
    with pytest.raises(CallerRejectedError, match="does not publish"):
        await identify_caller(bearer(rolled), settings)  # refreshed a moment ago: not yet
    monkeypatch.setattr(callers_module, "_REFRESH_SECONDS", 0.0)
    caller = await identify_caller(bearer(rolled), settings)
    assert caller.roles == {"MfaReset.Execute"}
    assert entra.jwks_requests == 2


async def test_keys_that_cannot_be_read_fail_closed(
    graph_emulator: GraphEmulator, settings: Settings
):
    broken = settings.model_copy(update={"caller_authority": f"{graph_emulator.origin}/nowhere"})
    with pytest.raises(CallerRejectedError, match="signing keys could not be read"):
        await identify_caller(bearer(graph_emulator.entra.issue("MfaReset.Execute")), broken)


async def test_roles_required_without_token_settings_is_a_configuration_error():
    with pytest.raises(SettingsError, match="CALLER_TENANT_ID"):
        await identify_caller(bearer("x"), Settings(require_caller_roles=True))
