"""Who asked for a reset, as a status read shows it.

The ticket's ``requested_by`` is what the caller says; this is what the app verified: how the
caller authenticated, the client application of its token, and for a delegated token (a Power
Automate connection signed in as a service account) the signed-in user.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CallerView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authenticated_by: str = Field(
        description="function-key, entra-id-token, or schedule (a scheduled group sweep)."
    )
    app_id: str | None = Field(
        default=None, description="The client application id of the caller's verified token."
    )
    name: str | None = Field(default=None, description="The client application's display name.")
    user_id: str | None = Field(
        default=None,
        description="Delegated tokens only: the object id of the signed-in user.",
    )
    user_name: str | None = Field(
        default=None,
        description="Delegated tokens only: the signed-in user's UPN or preferred username.",
    )
