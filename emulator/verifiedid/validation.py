"""What ``createPresentationRequest`` refuses in a request body, and the error envelope it
refuses with.

The envelope is the one Microsoft documents for the Request Service API (``error-codes.md``,
2025-01-30): ``requestId``, ``date`` (RFC 1123), ``mscv`` and ``error{code, message,
innererror{code, message, target}}``, the outer ``code`` and ``message`` fixed by the HTTP
status. Validation failures are 400 ``badRequest`` with the inner code ``badOrMissingField``
and the offending field in ``target``.

The fields and their rules are those of ``presentation-request-api.md``: ``callback`` and
``callback.url`` are mandatory; ``callback.headers`` may carry only ``api-key`` or
``Authorization`` ("Any other header will throw an invalid callback header error");
``faceCheck.sourcePhotoClaimName`` is mandatory and ``matchConfidenceThreshold`` an integer
from 50 to 100; a constraint names its claim and exactly one of ``values``, ``contains`` or
``startsWith``. Where the documentation is silent the emulator chooses, and says so here
(UNCONFIRMED): ``authority`` must be a DID string and ``registration.clientName`` a string
(the page marks every optional field "Optional" and not these); ``requestedCredentials``
must hold at least one credential; a nested ``target`` is written as a path
(``requestedCredentials[0].type``); the real service's exact wording is not documented, so the
messages are the emulator's.
"""

from __future__ import annotations

import secrets
import uuid
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

# The outer code and message of each status, as error-codes.md lists them.
OUTER_ERRORS: dict[int, tuple[str, str]] = {
    400: ("badRequest", "The request is invalid."),
    401: ("unauthorized", "The requested resource requires authentication"),
    403: ("forbidden", "Missing permissions to fulfill this request."),
    404: ("notFound", "The requested resource doesn't exist."),
    405: ("methodNotAllowed", "The requested method isn't allowed on the requested resource."),
    408: ("requestTimeout", "The request timed out."),
    409: ("conflict", "The server can't fulfill the request due to a server conflict."),
    429: ("tooManyRequests", "Too many requests, try again later."),
    500: ("internalServerError", "A generic error has occurred on the server."),
    502: ("badGateway", "bad response received from another gateway."),
    503: ("serviceUnavailable", "The server is temporarily unavailable, please try again later."),
    504: ("gatewayTimeout", "Time out received from another gateway."),
}
ALLOWED_CALLBACK_HEADERS = frozenset({"api-key", "authorization"})


class RequestServiceError(Exception):
    """A refusal of the Request Service API, rendered once into the documented envelope."""

    def __init__(
        self,
        status: int,
        inner_code: str,
        message: str,
        target: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {inner_code}: {message}")
        self.status = status
        self.inner_code = inner_code
        self.message = message
        self.target = target
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        code, message = OUTER_ERRORS.get(self.status, ("error", f"HTTP {self.status}."))
        inner: dict[str, Any] = {"code": self.inner_code, "message": self.message}
        if self.target is not None:
            inner["target"] = self.target
        return {
            "requestId": str(uuid.uuid4()),
            "date": formatdate(usegmt=True),
            "mscv": f"{secrets.token_urlsafe(12)[:16]}.1",
            "error": {"code": code, "message": message, "innererror": inner},
        }


def _bad(target: str, message: str) -> RequestServiceError:
    return RequestServiceError(400, "badOrMissingField", message, target)


def _string(value: Any, target: str, *, required: bool) -> None:
    if value is None:
        if required:
            raise _bad(target, f"The request is missing `{target}`.")
        return
    if not isinstance(value, str) or not value.strip():
        raise _bad(target, f"The request contains `{target}`, but it is not a non-empty string.")


def _boolean(body: dict[str, Any], key: str, target: str) -> None:
    if key in body and not isinstance(body[key], bool):
        raise _bad(target, f"The request contains `{target}`, but it is not boolean.")


def _object(value: Any, target: str, *, required: bool) -> dict[str, Any]:
    if value is None:
        if required:
            raise _bad(target, f"The request is missing `{target}`.")
        return {}
    if not isinstance(value, dict):
        raise _bad(target, f"The request contains `{target}`, but it is not an object.")
    return value


def _strings(value: Any, target: str) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(target, f"The request contains `{target}`, but it is not a list of strings.")


def validate(body: Any) -> None:
    """Raise the 400 the service answers for the first thing wrong in ``body``; return if the
    request may be created."""
    if not isinstance(body, dict):
        raise RequestServiceError(400, "badOrMissingField", "The body is not a JSON object.")
    authority = body.get("authority")
    _string(authority, "authority", required=True)
    if not str(authority).startswith("did:"):
        raise _bad("authority", "The request contains `authority`, but it is not a DID.")
    _boolean(body, "includeQRCode", "includeQRCode")
    _boolean(body, "includeReceipt", "includeReceipt")
    registration = _object(body.get("registration"), "registration", required=True)
    _string(registration.get("clientName"), "registration.clientName", required=True)
    _string(registration.get("purpose"), "registration.purpose", required=False)
    _callback(_object(body.get("callback"), "callback", required=True))
    requested = body.get("requestedCredentials")
    if not isinstance(requested, list) or not requested:
        raise _bad(
            "requestedCredentials",
            "The request must contain `requestedCredentials` with at least one credential.",
        )
    for index, credential in enumerate(requested):
        _requested_credential(credential, f"requestedCredentials[{index}]")


def _callback(callback: dict[str, Any]) -> None:
    url = callback.get("url")
    _string(url, "callback.url", required=True)
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("callback.url", "The request contains `callback.url`, but it is not a URL.")
    _string(callback.get("state"), "callback.state", required=False)
    headers = _object(callback.get("headers"), "callback.headers", required=False)
    for name, value in headers.items():
        if name.lower() not in ALLOWED_CALLBACK_HEADERS:
            raise _bad(
                "callback.headers",
                f"Invalid callback header `{name}`: only `api-key` or `Authorization` are "
                "supported.",
            )
        if not isinstance(value, str):
            raise _bad("callback.headers", f"The callback header `{name}` is not a string.")


def _requested_credential(credential: Any, where: str) -> None:
    credential = _object(credential, where, required=True)
    _string(credential.get("type"), f"{where}.type", required=True)
    _string(credential.get("purpose"), f"{where}.purpose", required=False)
    _strings(credential.get("acceptedIssuers"), f"{where}.acceptedIssuers")
    configuration = _object(
        credential.get("configuration"), f"{where}.configuration", required=False
    )
    validation = _object(
        configuration.get("validation"), f"{where}.configuration.validation", required=False
    )
    _boolean(validation, "allowRevoked", f"{where}.configuration.validation.allowRevoked")
    _boolean(
        validation,
        "validateLinkedDomain",
        f"{where}.configuration.validation.validateLinkedDomain",
    )
    if "faceCheck" in validation:
        _face_check(validation["faceCheck"], f"{where}.configuration.validation.faceCheck")
    constraints = credential.get("constraints")
    if constraints is None:
        return
    if not isinstance(constraints, list):
        raise _bad(f"{where}.constraints", "The request contains `constraints`, not a list.")
    for index, constraint in enumerate(constraints):
        _constraint(constraint, f"{where}.constraints[{index}]")


def _face_check(face_check: Any, where: str) -> None:
    face_check = _object(face_check, where, required=True)
    _string(face_check.get("sourcePhotoClaimName"), f"{where}.sourcePhotoClaimName", required=True)
    threshold = face_check.get("matchConfidenceThreshold")
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 50 <= threshold <= 100:
        raise _bad(
            f"{where}.matchConfidenceThreshold",
            "The request contains `matchConfidenceThreshold`, but it is not an integer "
            "between 50 and 100.",
        )


def _constraint(constraint: Any, where: str) -> None:
    constraint = _object(constraint, where, required=True)
    _string(constraint.get("claimName"), f"{where}.claimName", required=True)
    operands = [key for key in ("values", "contains", "startsWith") if key in constraint]
    if len(operands) != 1:
        raise _bad(where, "A constraint needs exactly one of `values`, `contains`, `startsWith`.")
    (operand,) = operands
    if operand == "values":
        values = constraint["values"]
        _strings(values, f"{where}.values")
        if not values:
            raise _bad(f"{where}.values", "The constraint's `values` is empty.")
    else:
        _string(constraint[operand], f"{where}.{operand}", required=True)


def face_check_of(requested: dict[str, Any]) -> dict[str, Any] | None:
    """A validated requested credential's ``faceCheck`` with the documented default
    threshold (70) filled in, or None when it asks for no Face Check."""
    validation = requested.get("configuration", {}).get("validation", {})
    face_check = validation.get("faceCheck")
    if face_check is None:
        return None
    return {
        "sourcePhotoClaimName": face_check["sourcePhotoClaimName"],
        "matchConfidenceThreshold": face_check.get("matchConfidenceThreshold", 70),
    }
