"""The app's data: what callers ask for (``request``) and what a reset reports (``outcome``)."""

from shared.models.outcome import (
    GraphErrorInfo,
    IssuedTemporaryAccessPass,
    Outcome,
    OutcomeStatus,
    RegisteredMethod,
    Step,
    StepAction,
    StepResult,
    UserRef,
)
from shared.models.request import (
    PASSWORD_ODATA_TYPE,
    PHONE_DELETE_ORDER,
    MethodType,
    NewPhone,
    PhoneType,
    ResetMessage,
    ResetRequest,
    TemporaryAccessPassRequest,
    mask_phone_number,
    normalise_phone_number,
    redact_phone_numbers,
)

__all__ = [
    "PASSWORD_ODATA_TYPE",
    "PHONE_DELETE_ORDER",
    "GraphErrorInfo",
    "IssuedTemporaryAccessPass",
    "MethodType",
    "NewPhone",
    "Outcome",
    "OutcomeStatus",
    "PhoneType",
    "RegisteredMethod",
    "ResetMessage",
    "ResetRequest",
    "Step",
    "StepAction",
    "StepResult",
    "TemporaryAccessPassRequest",
    "UserRef",
    "mask_phone_number",
    "normalise_phone_number",
    "redact_phone_numbers",
]
