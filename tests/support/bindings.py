"""Stand-ins for the binding objects the Python worker hands to a function.

``func.Out`` and ``func.TimerRequest`` are abstract in the library, so a test that calls a
function directly needs concrete objects. These subclass the library's own types so the
function's annotations still hold under the type checker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import azure.functions as func

T = TypeVar("T")


class OutNotSetError(LookupError):
    """Raised by ``Out.get`` when the function never set the output, which in the real host
    means no message, row or response was written."""


class _Unset:
    pass


_UNSET = _Unset()


class Out(func.Out[T], Generic[T]):
    """An output binding slot: the function calls ``set``, the test reads it back."""

    def __init__(self) -> None:
        self._value: T | _Unset = _UNSET
        self.set_count = 0

    def set(self, val: T) -> None:
        self._value = val
        self.set_count += 1

    def get(self) -> T:
        if isinstance(self._value, _Unset):
            raise OutNotSetError("the output binding was never set")
        return self._value

    @property
    def is_set(self) -> bool:
        return not isinstance(self._value, _Unset)

    def __repr__(self) -> str:
        shown = "<unset>" if isinstance(self._value, _Unset) else repr(self._value)
        return f"Out({shown})"


@dataclass
class TimerStub(func.TimerRequest):
    """A timer invocation; ``past_due`` is what the host sets when a schedule was missed."""

    past_due: bool = False
