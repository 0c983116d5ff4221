"""RFC 9457 problem details: the one error format every endpoint answers with.

Callers are scripts (ServiceNow, Power Automate), so errors must be machine-readable and stable:
``type`` identifies the kind of problem, ``errors`` lists every field error at once with a JSON
pointer, and no response ever echoes a submitted value back (it may be a phone number).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

PROBLEM_CONTENT_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:mfa-reset:problem:"


@dataclass(frozen=True)
class FieldError:
    pointer: str  # JSON pointer into the request body, "#" for the body itself
    detail: str


@dataclass
class Problem(Exception):
    """A problem document; raise it anywhere below a trigger to answer with it."""

    status: int
    kind: str
    title: str
    detail: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.title if self.detail is None else f"{self.title}: {self.detail}")

    @property
    def type(self) -> str:
        return _TYPE_PREFIX + self.kind

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = [{"pointer": e.pointer, "detail": e.detail} for e in self.errors]
        body.update(self.extensions)
        return body

    def body(self) -> bytes:
        return json.dumps(self.to_dict()).encode()


def bad_request(detail: str, errors: list[FieldError] | None = None) -> Problem:
    return Problem(400, "invalid-request", "The request is not valid", detail, errors or [])


def _pointer(location: tuple[int | str, ...]) -> str:
    return "#" + "".join(f"/{part}" for part in location)


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def validation_problem(exc: ValidationError) -> Problem:
    """Every field error of a Pydantic validation, without the submitted values."""
    errors = [FieldError(_pointer(tuple(err["loc"])), _message(err)) for err in exc.errors()]
    if any(err["type"] == "json_invalid" for err in exc.errors()):
        return bad_request("The body is not valid JSON.", errors)
    return bad_request(f"{len(errors)} field error(s) in the request body.", errors)
