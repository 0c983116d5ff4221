"""Why proof cannot be asked for: kept apart so the HTTP answers can name it without loading
the Verified ID client at start-up."""

from __future__ import annotations


class VerificationNotConfiguredError(Exception):
    """Proof was asked for, but the app has no Verified ID authority or accepted issuers."""

    kind = "verification-not-configured"
    detail = (
        "This app cannot ask for proof of identity: VERIFIED_ID_AUTHORITY and "
        "VERIFIED_ID_ACCEPTED_ISSUERS (and PUBLIC_BASE_URL or WEBSITE_HOSTNAME) must be set."
    )
