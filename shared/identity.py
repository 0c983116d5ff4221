"""The app's managed identity: one async credential per worker process and client id.

Graph and Table Storage both authenticate as the same managed identity; one credential object
caches a token per audience, so sharing it means one token request per audience per process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # azure.identity (with msal, requests and cryptography) is a fifth of a cold start:
    # imported by the first credential, not when the app is indexed.
    from azure.identity.aio import ManagedIdentityCredential

_credentials: dict[str | None, ManagedIdentityCredential] = {}


def get_credential(client_id: str | None) -> ManagedIdentityCredential:
    """The credential for a user-assigned identity (``client_id``) or the system-assigned one."""
    credential = _credentials.get(client_id)
    if credential is None:
        from azure.identity.aio import ManagedIdentityCredential

        credential = (
            ManagedIdentityCredential(client_id=client_id)
            if client_id
            else ManagedIdentityCredential()
        )
        _credentials[client_id] = credential
    return credential


async def close_credentials() -> None:
    """Release the credentials' connections (tests and scripts; the host never stops a worker)."""
    while _credentials:
        _, credential = _credentials.popitem()
        await credential.close()
