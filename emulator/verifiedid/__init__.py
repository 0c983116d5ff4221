"""Microsoft Entra Verified ID's Request Service API, as far as a verifier uses it: the
``createPresentationRequest`` endpoint (:mod:`.service`, its validation in
:mod:`.validation`), the credentials a wallet holds (:mod:`.credentials`) and the wallet that
answers a request and yields the callbacks the service would send (:mod:`.wallet`)::

    emu.verified_id.latest()                            # what the app asked for
    alice = emu.verified_id.wallet.employee_credential("alice@contoso.example", AUTHORITY)
    callbacks = emu.verified_id.wallet.present(request_id, alice, face_score=85.0)
    statuses = await emu.verified_id.wallet.deliver(callbacks)

The shapes follow Microsoft's documentation, cited in each module; what the documentation
does not say is marked UNCONFIRMED where the emulator decides it.
"""

from __future__ import annotations

from .credentials import EMPLOYEE_TYPE, IDENTITY_TYPE, Credential
from .presentation import PresentationRequest
from .service import (
    CREATE_ALL_ROLE,
    PRESENT_REQUEST_ROLE,
    VERIFIED_ID_APP_ID,
    ServiceCall,
    VerifiedIdService,
)
from .wallet import FACE_CHECK_FAILED, Callback, Wallet

__all__ = [
    "CREATE_ALL_ROLE",
    "EMPLOYEE_TYPE",
    "FACE_CHECK_FAILED",
    "IDENTITY_TYPE",
    "PRESENT_REQUEST_ROLE",
    "VERIFIED_ID_APP_ID",
    "Callback",
    "Credential",
    "PresentationRequest",
    "ServiceCall",
    "VerifiedIdService",
    "Wallet",
]
