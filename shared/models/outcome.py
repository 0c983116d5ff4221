"""What the engine reports: the steps of a reset, the methods it found, and its outcome.

The outcome is returned to the caller, kept in the ledger and written to the audit trail, so its
serialisers decide what each of them sees: a Temporary Access Pass only in the response to the
caller who asked for it, phone numbers only masked.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializationInfo,
    field_serializer,
)

from shared.models.request import MethodType, PhoneType


class StepAction(StrEnum):
    delete_method = "delete_method"
    revoke_sessions = "revoke_sessions"
    add_phone = "add_phone"
    create_temporary_access_pass = "create_temporary_access_pass"
    # Group sweeps only: leave the "reset pending" group once the reset has succeeded.
    remove_from_group = "remove_from_group"


class StepResult(StrEnum):
    planned = "planned"  # dry run: this step would run
    done = "done"
    already_absent = "already_absent"  # 404 on delete: gone before we got to it
    failed = "failed"
    skipped = "skipped"  # not attempted; `detail` says why


class OutcomeStatus(StrEnum):
    planned = "planned"
    succeeded = "succeeded"
    failed = "failed"


class GraphErrorInfo(BaseModel):
    """What Graph said when a call failed: enough for an admin to open a support case."""

    model_config = ConfigDict(frozen=True)

    status: int | None = Field(description="HTTP status; null when no response arrived.")
    code: str
    message: str
    request_id: str | None = None


class Step(BaseModel):
    action: StepAction
    method_type: MethodType | None = None
    odata_type: str | None = Field(
        default=None, description="Graph's @odata.type of the method a delete step removes."
    )
    method_id: str | None = None
    phone_type: PhoneType | None = None
    result: StepResult = StepResult.planned
    detail: str | None = None
    error: GraphErrorInfo | None = None
    request_id: str | None = Field(
        default=None, description="Graph's request-id of the call that did this step."
    )


class RegisteredMethod(BaseModel):
    """A method registered on the user, as listed by Graph, with nothing secret in it."""

    model_config = ConfigDict(frozen=True)

    type: MethodType | None = Field(
        description="null for a type this app does not know (one Graph added later)."
    )
    odata_type: str
    id: str
    phone_type: PhoneType | None = None
    display: str | None = Field(
        default=None, description="Label to recognise it by; phone numbers are masked."
    )


class UserRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    user_principal_name: str


class IssuedTemporaryAccessPass(BaseModel):
    """The pass itself is a credential: it is shown once, to the caller, and nowhere else."""

    model_config = ConfigDict(frozen=True)

    value: SecretStr
    lifetime_minutes: int
    usable_once: bool
    starts_at: datetime | None = None

    @field_serializer("value")
    def _reveal_only_when_asked(self, value: SecretStr, info: SerializationInfo) -> str:
        context = info.context or {}
        return value.get_secret_value() if context.get("reveal_secrets") else str(value)


class Outcome(BaseModel):
    id: str
    status: OutcomeStatus
    user: UserRef
    ticket_id: str
    dry_run: bool = False
    started_at: datetime
    finished_at: datetime | None = None
    steps: list[Step] = Field(default_factory=list)
    remaining_methods: list[RegisteredMethod] | None = Field(
        default=None,
        description="Methods registered after the reset (the password is never touched and not "
        "listed); for a dry run, the methods registered now.",
    )
    remaining_methods_verified: bool = Field(
        default=False,
        description="True when remaining_methods comes from a fresh listing after the reset.",
    )
    sessions_revoked_at: datetime | None = None
    temporary_access_pass: IssuedTemporaryAccessPass | None = None
    detail: str | None = None
    retryable: bool = Field(
        default=False,
        description="True when Graph was unavailable: a later attempt may finish the reset.",
    )

    def to_response(self) -> dict[str, Any]:
        """The JSON body for the caller who asked for this reset: the only place a TAP appears."""
        return self.model_dump(mode="json", context={"reveal_secrets": True})

    def to_record(self) -> dict[str, Any]:
        """JSON for logs and storage: the TAP value is masked, phone numbers were never here."""
        return self.model_dump(mode="json")
