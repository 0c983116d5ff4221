"""The settings of notifying the user: who sends, where links point, how long a reset waits.

Kept as annotated field types, so the settings model lists them in one line each and the
reasons live here, next to the feature they configure.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

_MAILBOX = re.compile(r"^[A-Za-z0-9'._!#^~$&+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\Z")


def _mailbox(value: str | None) -> str | None:
    if not value:
        return None
    if not _MAILBOX.match(value):
        raise ValueError("must be a mailbox address (noreply@contoso.com)")
    return value


def _base_url(value: str | None) -> str | None:
    if not value:
        return None
    value = value.rstrip("/")
    if not value.startswith("https://") and not value.startswith("http://127.0.0.1"):
        raise ValueError("must be an https URL (plain http only for a loopback test server)")
    return value


NotifySender = Annotated[
    str | None,
    Field(
        default=None,
        description="The mailbox (a shared mailbox's address) notifications are sent from, "
        "through Graph sendMail; the app may send only as it (Exchange RBAC for Applications). "
        "Unset: no notification is sent.",
    ),
    AfterValidator(_mailbox),
]

PublicBaseUrl = Annotated[
    str | None,
    Field(
        default=None,
        description="Where users reach the app (https://<app>.azurewebsites.net): the links in "
        "notifications point there. Defaults to https://WEBSITE_HOSTNAME, which App Service "
        "sets; set it when a custom domain or a front door serves the app.",
    ),
    AfterValidator(_base_url),
]

ResetHoldMinutes = Annotated[
    int,
    Field(
        default=0,
        ge=0,
        le=4320,
        description="An asynchronous reset that issues no pass waits this long after the user "
        'was notified before it runs, so the user can stop it ("this wasn\'t me"); the caller '
        "may cancel it meanwhile. 0: no hold.",
    ),
]

WebsiteHostname = Annotated[
    str | None,
    Field(default=None, description="Set by App Service: the app's default host name."),
]
