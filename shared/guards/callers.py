"""Callers: who is asking, and whether they may.

With caller roles required (``REQUIRE_CALLER_ROLES``, or App Service Authentication on), the
app verifies the caller's Entra ID access token itself: its signature against the tenant's
published keys, the issuer, the audience, the expiry, and the app roles it carries. No header
is taken on trust: ``X-MS-CLIENT-PRINCIPAL`` is set by App Service Authentication, but when
that is turned off (or was never on) any client can send it. App Service Authentication stays
an optional outer gate; the role decision is the app's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.settings import Settings, SettingsError

if TYPE_CHECKING:
    import httpx
    import jwt


class CallerRejectedError(Exception):
    """The caller may not do this; ``status`` is 401 (no identity) or 403 (no role)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    @property
    def kind(self) -> str:
        """The refusal's stable name, the same in the answer and in the audit trail."""
        return "caller-unauthenticated" if self.status == 401 else "caller-forbidden"


@dataclass(frozen=True)
class Caller:
    """Who is calling: a function-key holder, or an Entra application whose access token the
    app verified (its app roles come from the token). A delegated token (a Power Automate
    connection signed in as a service account) also names the signed-in user: the application
    alone does not say which person's connection asked."""

    authenticated_by: str
    app_id: str | None = None
    name: str | None = None
    roles: frozenset[str] = frozenset()
    user_id: str | None = None
    user_name: str | None = None

    def to_audit(self) -> dict[str, Any]:
        return {
            "authenticated_by": self.authenticated_by,
            "app_id": self.app_id,
            "name": self.name,
            "user_id": self.user_id,
            "user_name": self.user_name,
        }


FUNCTION_KEY_CALLER = Caller("function-key")
TOKEN_CALLER = "entra-id-token"
# Clock skew tolerated on exp/nbf, as Microsoft's own validators do.
_LEEWAY_SECONDS = 300
# An unknown key id makes the app fetch the keys again, but not more often than this.
_REFRESH_SECONDS = 60.0
# Keys are fetched again after this long even when every kid is known (Entra rolls keys).
_MAX_KEY_AGE_SECONDS = 24 * 3600.0


class SigningKeys:
    """The tenant's published signing keys, fetched on first use and cached per process."""

    def __init__(self) -> None:
        self._keys: dict[str, jwt.PyJWK] = {}
        self._url: str | None = None
        self._fetched_at = float("-inf")
        self._lock: asyncio.Lock | None = None
        self._http: httpx.AsyncClient | None = None

    async def key(self, url: str, kid: str) -> jwt.PyJWK | None:
        if url != self._url:
            self._keys, self._url, self._fetched_at = {}, url, float("-inf")
        if self._stale(kid):
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self._stale(kid):  # not fetched meanwhile by a concurrent request
                    await self._fetch(url)
        return self._keys.get(kid)

    def _stale(self, kid: str) -> bool:
        age = time.monotonic() - self._fetched_at
        return (kid not in self._keys and age > _REFRESH_SECONDS) or age > _MAX_KEY_AGE_SECONDS

    async def _fetch(self, url: str) -> None:
        # With cryptography: paid by the first token, not by every cold start.
        import httpx
        import jwt

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            # Fail closed: without the keys no token can be verified.
            raise CallerRejectedError(
                401, f"the tenant's signing keys could not be read ({type(exc).__name__})"
            ) from None
        self._keys = {k.key_id: k for k in key_set.keys if k.key_id}
        self._fetched_at = time.monotonic()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._keys, self._url, self._fetched_at = {}, None, float("-inf")
        self._lock = self._http = None


_signing_keys = SigningKeys()


async def identify_caller(headers: Mapping[str, str], settings: Settings) -> Caller:
    """The caller, from its verified bearer token when caller roles are required; otherwise
    the function key is the only credential and no header counts."""
    if not settings.caller_roles_required:
        return FUNCTION_KEY_CALLER
    if not settings.caller_tenant_id or not settings.caller_audiences:
        raise SettingsError(
            "CALLER_TENANT_ID and CALLER_AUDIENCES must be set when callers need app roles"
        )
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CallerRejectedError(401, "no Entra ID access token (Authorization: Bearer)")
    claims = await _verified_claims(token.strip(), settings)
    roles = claims.get("roles") or []
    # A delegated token carries scopes (``scp``); its ``oid`` is the signed-in user's. In an
    # application token ``oid`` is the client's service principal, which ``azp`` already names.
    delegated = bool(claims.get("scp"))
    user_name = claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name")
    return Caller(
        authenticated_by=TOKEN_CALLER,
        app_id=str(claims.get("azp") or claims.get("appid") or "") or None,
        name=str(claims.get("app_displayname") or "") or None,
        roles=frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset(),
        user_id=(str(claims.get("oid") or "") or None) if delegated else None,
        user_name=(str(user_name or "")[:256] or None) if delegated else None,
    )


async def _verified_claims(token: str, settings: Settings) -> dict[str, Any]:
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise CallerRejectedError(401, "the access token is not a JWT") from None
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise CallerRejectedError(401, "the access token is not signed the way Entra ID signs")
    url = f"{settings.caller_authority}/{settings.caller_tenant_id}/discovery/v2.0/keys"
    key = await _signing_keys.key(url, header["kid"])
    if key is None:
        raise CallerRejectedError(
            401, "the access token is signed by a key the tenant does not publish"
        )
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=["RS256"],
            audience=list(settings.caller_audiences),
            issuer=list(settings.caller_token_issuers()),
            leeway=_LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise CallerRejectedError(401, "the access token has expired") from None
    except jwt.InvalidAudienceError:
        raise CallerRejectedError(401, "the access token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise CallerRejectedError(401, "the access token is from another issuer") from None
    except jwt.InvalidTokenError as exc:
        raise CallerRejectedError(
            401, f"the access token is not valid ({type(exc).__name__})"
        ) from None
    if str(claims.get("tid", "")).lower() != str(settings.caller_tenant_id).lower():
        raise CallerRejectedError(401, "the access token is from another tenant")
    return claims


async def close_signing_keys() -> None:
    """Forget the cached keys and their HTTP client (tests switch tenants)."""
    await _signing_keys.close()


def authorize_caller(caller: Caller, settings: Settings, *, dry_run: bool) -> None:
    """Execute needs the execute role; a dry run or a status read, either role."""
    if caller is FUNCTION_KEY_CALLER:
        return
    allowed = {settings.caller_execute_role}
    if dry_run:
        allowed.add(settings.caller_preview_role)
    if not caller.roles & allowed:
        raise CallerRejectedError(
            403, f"the caller needs the app role {' or '.join(sorted(allowed))}"
        )
