"""The output-binding and timer stand-ins."""

from __future__ import annotations

import azure.functions as func
import pytest

from tests.support.bindings import Out, OutNotSetError, TimerStub


def test_get_before_set_raises() -> None:
    out: Out[str] = Out()
    assert not out.is_set
    with pytest.raises(OutNotSetError, match="never set"):
        out.get()
    with pytest.raises(LookupError):
        out.get()


def test_set_then_get_returns_the_last_value() -> None:
    out: Out[str] = Out()
    out.set("first")
    out.set("second")
    assert out.is_set
    assert out.get() == "second"
    assert out.set_count == 2


def test_none_is_a_value_not_the_absence_of_one() -> None:
    out: Out[str | None] = Out()
    out.set(None)
    assert out.is_set
    assert out.get() is None


def test_out_is_usable_where_a_function_expects_func_out() -> None:
    def function(out: func.Out[list[str]]) -> None:
        out.set(["a", "b"])

    out: Out[list[str]] = Out()
    function(out)
    assert isinstance(out, func.Out)
    assert out.get() == ["a", "b"]
    assert repr(out) == "Out(['a', 'b'])"


def test_timer_stub_is_a_timer_request() -> None:
    def function(timer: func.TimerRequest) -> bool:
        return timer.past_due

    assert isinstance(TimerStub(), func.TimerRequest)
    assert function(TimerStub()) is False
    assert function(TimerStub(past_due=True)) is True
