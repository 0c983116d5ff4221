"""Callback messages the app signed: only those may send a callback, or give one up.

A message on ``<RESET_QUEUE_NAME>-callbacks`` (or its poison queue) names a reset whose
callback is due. Where the callback goes and what it says come from the ledger row, but the
message still decides *when* the app acts: anyone able to write to the poison queue could
otherwise put ``{"reset_id": ...}`` there and have a pending callback marked ``failed``, after
which no scheduled run sends it again. So every callback message is produced here, signed with
the work-item key under its own purpose string, and both callback workers act only on a message
that carries the app's signature. Nothing is lost by refusing one: a callback still pending an
hour after its reset ended is queued again by the scheduled run, signed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.keyring import Keyring

# Domain separation: the same key signs work items and sweep pages under other purposes.
_PURPOSE = b"mfa-reset/callback-message/v1\n"


class CallbackMessage(BaseModel):
    """What a callback message carries: the reset, and the app's signature of its id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reset_id: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")


def callback_message(keyring: Keyring, reset_id: str) -> str:
    """The queue message asking for a reset's callback, signed with the current key. The one
    way the app queues a callback."""
    signature = keyring.sign(_PURPOSE, reset_id.encode())
    return CallbackMessage(reset_id=reset_id, signature=signature).model_dump_json()


def signed_reset_id(keyring: Keyring, body: bytes) -> str | None:
    """The reset a callback message names, when the app signed it under any of the keys
    (current, previous); None for anything else: unreadable, unsigned, or forged."""
    try:
        message = CallbackMessage.model_validate_json(body)
    except ValidationError:
        return None
    genuine = keyring.verify(_PURPOSE, message.reset_id.encode(), message.signature)
    return message.reset_id if genuine else None
