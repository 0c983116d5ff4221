"""The app's data: what callers ask for (``request``), what a reset reports (``outcome``), and
what a completion callback says (``callback``)."""

from shared.models.callback import (
    CallbackEvent,
    CallbackState,
    CallbackView,
    callback_host,
    masked_callback_url,
)
from shared.models.caller import CallerView
from shared.models.notice import (
    DisputeView,
    NoticeResult,
    NoticeStage,
    NotificationView,
    Recipient,
    mask_address,
)
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
    ResetRequest,
    TemporaryAccessPassRequest,
    mask_phone_number,
    normalise_phone_number,
    redact_phone_numbers,
)

__all__ = [
    "PASSWORD_ODATA_TYPE",
    "PHONE_DELETE_ORDER",
    "CallbackEvent",
    "CallbackState",
    "CallbackView",
    "CallerView",
    "DisputeView",
    "GraphErrorInfo",
    "IssuedTemporaryAccessPass",
    "MethodType",
    "NewPhone",
    "NoticeResult",
    "NoticeStage",
    "NotificationView",
    "Outcome",
    "OutcomeStatus",
    "PhoneType",
    "Recipient",
    "RegisteredMethod",
    "ResetRequest",
    "Step",
    "StepAction",
    "StepResult",
    "TemporaryAccessPassRequest",
    "UserRef",
    "callback_host",
    "mask_address",
    "mask_phone_number",
    "masked_callback_url",
    "normalise_phone_number",
    "redact_phone_numbers",
]
