"""The reset request and the authentication method types.

The request model is the contract with every caller (ITSM webhooks, Power Automate, the
schedule), so it is strict: unknown fields are refused, booleans must be JSON booleans, and every
value Graph would reject later is rejected here first, with all field errors at once.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from shared.models.callback import check_callback_url, masked_callback_url
from shared.models.text import check_free_text, check_single_line


class MethodType(StrEnum):
    """Authentication method types a reset can remove, named as in the request."""

    phone = "phone"
    email = "email"
    microsoft_authenticator = "microsoftAuthenticator"
    software_oath = "softwareOath"
    fido2 = "fido2"
    windows_hello_for_business = "windowsHelloForBusiness"
    temporary_access_pass = "temporaryAccessPass"
    platform_credential = "platformCredential"
    external_authentication = "externalAuthentication"
    # Listed and unassigned through Graph beta only, so removed only with GRAPH_BETA_METHODS.
    hardware_oath = "hardwareOath"
    # QR code + PIN sign-in (frontline workers): one per user, deleted as a singleton.
    qr_code_pin = "qrCodePin"

    @property
    def odata_type(self) -> str:
        if self is MethodType.external_authentication:
            return "#microsoft.graph.externalAuthenticationMethod"
        return f"#microsoft.graph.{self.value}AuthenticationMethod"

    @classmethod
    def from_odata_type(cls, odata_type: str | None) -> MethodType | None:
        """Map Graph's ``@odata.type`` to a type, or None for a type this app does not know."""
        return _BY_ODATA_TYPE.get((odata_type or "").lower())


_BY_ODATA_TYPE = {t.odata_type.lower(): t for t in MethodType}
# Types Graph v1.0 can neither list nor delete: the app reaches them through beta, and only when
# the operator opts in (GRAPH_BETA_METHODS).
BETA_ONLY_METHOD_TYPES = frozenset({MethodType.hardware_oath})
V1_REMOVABLE_METHOD_TYPES = frozenset(MethodType) - BETA_ONLY_METHOD_TYPES
PASSWORD_ODATA_TYPE = "#microsoft.graph.passwordAuthenticationMethod"


class PhoneType(StrEnum):
    mobile = "mobile"
    alternate_mobile = "alternateMobile"
    office = "office"


# Graph refuses to delete `mobile` while an `alternateMobile` exists, so phones go in this order.
PHONE_DELETE_ORDER: tuple[PhoneType, ...] = (
    PhoneType.alternate_mobile,
    PhoneType.office,
    PhoneType.mobile,
)

# Every pattern below is applied with fullmatch: Python's "$" also matches before a final line
# break, so "^...$" with match() lets "INC1\n" through. Digits are [0-9]: "\d" is any Unicode
# digit (Arabic-Indic, fullwidth, ...).
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Entra allows A-Z a-z 0-9 ' . - _ ! # ^ ~ before the @ (plus a leading $ on some synced
# accounts); guests carry #EXT#. Anything else (/, %, ?, spaces) is refused so a key can never
# change the shape of a Graph URL.
_UPN = re.compile(
    r"[A-Za-z0-9'._!#^~$&+-]{1,64}@"
    r"(?=.{1,255}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_TICKET = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}(?:x[0-9]{1,10})?")
_GRAPH_PHONE = re.compile(r"\+([0-9]{1,3}) ([0-9]{4,14})(?:x([0-9]{1,10}))?")


def _check_user_key(value: str) -> str:
    if _GUID.fullmatch(value):
        return value.lower()
    if len(value) > 113 or not _UPN.fullmatch(value):
        raise ValueError("must be a userPrincipalName (name@domain) or an object id (GUID)")
    if value.startswith(".") or ".@" in value or ".." in value.split("@", 1)[0]:
        raise ValueError("a userPrincipalName cannot start with a period or have one before the @")
    return value


def normalise_phone_number(value: str) -> str:
    """Return Graph's ``+CC NNNN[xEXT]`` form of an E.164 or Graph-form number.

    E.164 has no separator between country code and number, so the split needs the country-code
    table that libphonenumber carries; a wrong split would register an unreachable number.
    """
    compact = value.strip()
    graph_form = _GRAPH_PHONE.fullmatch(compact)
    if not graph_form and not _E164.fullmatch(compact):
        raise ValueError(
            "must be E.164 (+12065550123) or Graph's form (+1 2065550123), "
            "optionally with an extension (x123)"
        )
    # libphonenumber's tables are a tenth of a cold start; the first phone number pays for them.
    import phonenumbers

    number_part, _, extension = compact.replace(" ", "").partition("x")
    try:
        parsed = phonenumbers.parse(number_part, None)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number with a valid country code") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("has the wrong length for its country code")
    if graph_form and int(graph_form.group(1)) != parsed.country_code:
        raise ValueError(f"country code should be +{parsed.country_code}")
    national = phonenumbers.national_significant_number(parsed)
    return f"+{parsed.country_code} {national}" + (f"x{extension}" if extension else "")


def mask_phone_number(value: str | None) -> str | None:
    """Keep the country code and the last two digits: enough to recognise, not to call."""
    if not value:
        return value
    match = _GRAPH_PHONE.fullmatch(value)
    if not match:
        return "*" * 6
    national = match.group(2)
    return f"+{match.group(1)} {'*' * (len(national) - 2)}{national[-2:]}"


_DIGIT_RUN = re.compile(r"\+?\d[\d ().-]{5,}\d")


def redact_phone_numbers(text: str) -> str:
    """Graph's error messages may quote the number they refused; such text reaches the ledger."""
    return _DIGIT_RUN.sub("[phone number]", text)


UserKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=113,
        description="userPrincipalName (guests: the #EXT# form) or object id (GUID) of the user.",
        examples=["adele.vance@contoso.com", "6e7b768e-07e2-4810-8459-485f84f8f204"],
    ),
    AfterValidator(_check_user_key),
]


class NewPhone(BaseModel):
    """A phone number to register after the reset (the user's replacement phone)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # repr=False: a request object in a traceback or log line must not show the number.
    number: str = Field(
        repr=False,
        description="E.164 (+12065550123) or Graph's form (+1 2065550123); extension as x123.",
        examples=["+12065550123", "+1 2065550123x123"],
    )
    type: PhoneType = Field(default=PhoneType.mobile, description="Graph phoneType.")

    @field_validator("number")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_phone_number(value)


class TemporaryAccessPassRequest(BaseModel):
    """A Temporary Access Pass issued after the reset, so the user can register anew."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    lifetime_minutes: int = Field(
        default=60, ge=10, le=43200, description="10 minutes to 30 days; the tenant policy applies."
    )
    usable_once: bool = Field(default=True, description="One sign-in only (recommended).")


class ResetRequest(BaseModel):
    """One MFA reset of one user, as a caller submits it."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        title="MFA reset request",
        json_schema_extra={
            "examples": [
                {
                    "user": "adele.vance@contoso.com",
                    "ticket_id": "INC0012345",
                    "requested_by": "helpdesk.agent@contoso.com",
                    "reason": "Lost phone, identity verified by manager call-back",
                    "new_phone": {"number": "+12065550123", "type": "mobile"},
                }
            ]
        },
    )

    user: UserKey
    ticket_id: str = Field(
        description="ITSM ticket or change reference: 1-64 of A-Z a-z 0-9 . _ : / -",
        examples=["INC0012345", "JSM-4711"],
    )
    requested_by: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            description="Who asked (UPN, e-mail or name): one line, without control or invisible "
            "format (bidirectional, zero-width) characters.",
        ),
        AfterValidator(check_single_line),
    ]
    reason: Annotated[
        str | None,
        Field(
            default=None,
            max_length=500,
            description="Free text for the audit trail: line breaks (CR, LF) allowed, other "
            "control and invisible format (bidirectional, zero-width) characters not.",
        ),
        AfterValidator(check_free_text),
    ] = None
    mode: Literal["async", "sync"] = Field(
        default="async",
        description='"async": answer 202 at once and reset in the background (poll the '
        'Location); "sync": reset before answering.',
    )
    dry_run: bool = Field(default=False, description="Return the ordered plan; change nothing.")
    revoke_sessions: bool = Field(default=True, description="Revoke the user's sign-in sessions.")
    remove_methods: Literal["all"] | list[MethodType] = Field(
        default="all", description='"all", or the method types to remove.'
    )
    keep_methods: list[MethodType] = Field(
        default_factory=list,
        description="Method types never touched (e.g. windowsHelloForBusiness).",
    )
    new_phone: NewPhone | None = None
    callback_url: str | None = Field(
        default=None,
        description='Only with "mode": "async": an https URL the app POSTs the result to when '
        "the reset ends, signed per the Standard Webhooks specification. Its host must be "
        "allowed by the app's CALLBACK_ALLOWED_HOSTS.",
    )
    verification: Literal["verified-id"] | None = Field(
        default=None,
        description='"verified-id": the user proves who they are (Verified ID and Face Check) on '
        "the app's page before anything is changed; asynchronous resets only. A pass is then "
        "shown to the verified person, never to the caller.",
    )
    temporary_access_pass: TemporaryAccessPassRequest | None = Field(
        default=None,
        description='Only for whoever waits for it: with "mode": "sync" the caller, with '
        '"verification": "verified-id" the verified user; handed over once and stored nowhere.',
    )

    @field_validator("ticket_id")
    @classmethod
    def _check_ticket(cls, value: str) -> str:
        if not _TICKET.fullmatch(value):
            raise ValueError("must be 1-64 characters of A-Z a-z 0-9 . _ : / -")
        return value

    @field_validator("remove_methods", mode="wrap")
    @classmethod
    def _check_remove(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Validated by hand: the union's default errors name both branches and confuse callers.
        if value == "all":
            return "all"
        if not isinstance(value, list):
            raise ValueError('must be "all" or a list of method types')
        if not value:
            raise ValueError('must name at least one method type, or be "all"')
        known = {t.value: t for t in MethodType}
        # Positions, never the values: a problem document must not echo what was submitted.
        unknown = [str(i) for i, v in enumerate(value) if not isinstance(v, str) or v not in known]
        if unknown:
            raise ValueError(
                f"unknown method type at position(s) {', '.join(unknown)}; "
                f"expected {', '.join(known)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("lists a method type twice")
        return [known[v] for v in value]

    @field_validator("temporary_access_pass")
    @classmethod
    def _tap_needs_a_waiting_caller(
        cls, value: TemporaryAccessPassRequest | None, info: ValidationInfo
    ) -> TemporaryAccessPassRequest | None:
        # An asynchronous reset would have to keep the pass somewhere until the caller polls;
        # a credential at rest is what this app refuses to hold. A verified user waits for it
        # on the app's page, so it goes to them.
        if (
            value is not None
            and info.data.get("mode") == "async"
            and not info.data.get("dry_run")
            and info.data.get("verification") is None
        ):
            raise ValueError(
                'is only issued to whoever waits for it: send "mode": "sync", or "verification": '
                '"verified-id" to show it to the verified user'
            )
        return value

    @field_validator("verification")
    @classmethod
    def _verification_is_asynchronous(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (info.data.get("mode") != "async" or info.data.get("dry_run")):
            raise ValueError('is only for "mode": "async": the user proves who they are later')
        return value

    @field_validator("callback_url")
    @classmethod
    def _check_callback_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("mode") != "async" or info.data.get("dry_run"):
            raise ValueError(
                'is only for "mode": "async": a synchronous request or a dry run is answered inline'
            )
        return check_callback_url(value)

    @field_validator("keep_methods")
    @classmethod
    def _check_keep(cls, value: list[MethodType]) -> list[MethodType]:
        if len(set(value)) != len(value):
            raise ValueError("lists a method type twice")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> ResetRequest:
        if isinstance(self.remove_methods, list) and set(self.remove_methods) & set(
            self.keep_methods
        ):
            raise ValueError("keep_methods and remove_methods name the same method type")
        if not self.selected_types():
            raise ValueError("keep_methods leaves no method type to remove")
        return self

    def to_record(self) -> dict[str, Any]:
        """The request as it may be stored and logged: the new phone number masked, the callback
        URL cut to its host."""
        record = self.model_dump(mode="json")
        if self.new_phone is not None:
            record["new_phone"]["number"] = mask_phone_number(self.new_phone.number)
        if self.callback_url is not None:
            # Callback URLs often carry a secret in their query string.
            record["callback_url"] = masked_callback_url(self.callback_url)
        return record

    def selected_types(self) -> frozenset[MethodType]:
        """The method types this request removes."""
        chosen = set(MethodType) if self.remove_methods == "all" else set(self.remove_methods)
        return frozenset(chosen - set(self.keep_methods))
