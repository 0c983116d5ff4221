"""Guards: who may be reset (targets) and who may ask (callers); checked before any write."""

from shared.guards.callers import (
    FUNCTION_KEY_CALLER,
    Caller,
    CallerRejectedError,
    authorize_caller,
    close_signing_keys,
    identify_caller,
)
from shared.guards.targets import (
    DEFAULT_POLICY,
    Paths,
    TargetPolicy,
    TargetProtectedError,
    check_account,
    check_target,
    read_paths,
)

__all__ = [
    "DEFAULT_POLICY",
    "FUNCTION_KEY_CALLER",
    "Caller",
    "CallerRejectedError",
    "Paths",
    "TargetPolicy",
    "TargetProtectedError",
    "authorize_caller",
    "check_account",
    "check_target",
    "close_signing_keys",
    "identify_caller",
    "read_paths",
]
