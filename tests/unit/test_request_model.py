"""The request contract: what is accepted, normalised, and refused with which field error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.models import (
    MethodType,
    PhoneType,
    ResetRequest,
    mask_phone_number,
    redact_phone_numbers,
)
from shared.models.callback import check_host_patterns
from shared.models.json_body import duplicate_keys
from shared.problems import validation_problem

VALID: dict[str, Any] = {
    "user": "adele.vance@contoso.com",
    "ticket_id": "INC0012345",
    "requested_by": "helpdesk@contoso.com",
}


def parse(payload: Any) -> ResetRequest:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ResetRequest.model_validate_json(raw)


def with_(**changes: Any) -> dict[str, Any]:
    payload = {**VALID, **changes}
    return {k: v for k, v in payload.items() if v is not ...}


# (payload, JSON pointer of the expected error, a fragment of its message)
BAD_PAYLOADS: list[tuple[Any, str, str]] = [
    (b"{not json", "#", "Invalid JSON"),
    (b"", "#", "Invalid JSON"),
    ([], "#", "an object"),
    ("reset adele", "#", "an object"),
    (with_(user=...), "#/user", "is required"),
    (with_(ticket_id=...), "#/ticket_id", "is required"),
    (with_(requested_by=...), "#/requested_by", "is required"),
    (with_(extra_field=1), "#/extra_field", "not a known field"),
    (with_(user="adele"), "#/user", "userPrincipalName"),
    (with_(user=""), "#/user", "at least 1 character"),
    (with_(user="adele vance@contoso.com"), "#/user", "userPrincipalName"),
    (with_(user="adele@contoso"), "#/user", "userPrincipalName"),
    (with_(user="../admin@contoso.com"), "#/user", "userPrincipalName"),
    (with_(user="adele@contoso.com/../x"), "#/user", "userPrincipalName"),
    (with_(user="a%2fb@contoso.com"), "#/user", "userPrincipalName"),
    (with_(user=".adele@contoso.com"), "#/user", "period"),
    (with_(user="adele.@contoso.com"), "#/user", "period"),
    (with_(user="x" * 105 + "@contoso.com"), "#/user", "113"),
    (with_(user="6e7b768e-07e2-4810-8459-485f84f8f20"), "#/user", "userPrincipalName"),
    (with_(user=42), "#/user", "valid string"),
    (with_(ticket_id=""), "#/ticket_id", "1-64"),
    (with_(ticket_id="INC 1"), "#/ticket_id", "1-64"),
    (with_(ticket_id="x" * 65), "#/ticket_id", "1-64"),
    (with_(ticket_id="INC<script>"), "#/ticket_id", "1-64"),
    (with_(requested_by=""), "#/requested_by", "at least 1 character"),
    (with_(requested_by="eve\r\nFAKE LOG LINE"), "#/requested_by", "control characters"),
    (with_(requested_by="eve\tmallory"), "#/requested_by", "control characters"),
    (with_(reason="x" * 501), "#/reason", "at most 500"),
    (with_(reason="lost phone\x00"), "#/reason", "control characters"),
    (with_(revoke_sessions="yes"), "#/revoke_sessions", "valid boolean"),
    (with_(revoke_sessions=1), "#/revoke_sessions", "valid boolean"),
    (with_(dry_run="true"), "#/dry_run", "valid boolean"),
    (with_(remove_methods="some"), "#/remove_methods", '"all" or a list'),
    (with_(remove_methods=[]), "#/remove_methods", "at least one"),
    (with_(remove_methods=["sms"]), "#/remove_methods", "unknown method type at position(s) 0"),
    (with_(remove_methods=["fido2", "password"]), "#/remove_methods", "position(s) 1;"),
    (with_(remove_methods=["fido2", "fido2"]), "#/remove_methods", "twice"),
    (with_(keep_methods=["voice"]), "#/keep_methods/0", "Input should be"),
    (with_(keep_methods=["fido2", "fido2"]), "#/keep_methods", "twice"),
    (with_(keep_methods="fido2"), "#/keep_methods", "valid array"),
    (with_(remove_methods=["fido2"], keep_methods=["fido2"]), "#", "same method type"),
    (with_(keep_methods=[t.value for t in MethodType]), "#", "no method type to remove"),
    (with_(new_phone="+12065550123"), "#/new_phone", "an object"),
    (with_(new_phone={}), "#/new_phone/number", "is required"),
    (with_(new_phone={"number": "2065550123"}), "#/new_phone/number", "E.164"),
    (with_(new_phone={"number": "+1 206-555-0123"}), "#/new_phone/number", "E.164"),
    (with_(new_phone={"number": "+1 206555"}), "#/new_phone/number", "wrong length"),
    (with_(new_phone={"number": "+999 12345678"}), "#/new_phone/number", "country code"),
    (with_(new_phone={"number": "+44 2071838750x"}), "#/new_phone/number", "E.164"),
    (with_(new_phone={"number": "+12065550123", "type": "pager"}), "#/new_phone/type", "mobile"),
    (with_(new_phone={"number": "+12065550123", "ext": "1"}), "#/new_phone/ext", "known field"),
    (with_(new_phone={"number": 12065550123}), "#/new_phone/number", "valid string"),
    (with_(mode="later"), "#/mode", "'async' or 'sync'"),
    (with_(temporary_access_pass={}), "#/temporary_access_pass", '"mode": "sync"'),
    (
        with_(mode="async", temporary_access_pass={"lifetime_minutes": 60}),
        "#/temporary_access_pass",
        "whoever waits for it",
    ),
    (with_(mode="sync", verification="verified-id"), "#/verification", '"mode": "async"'),
    (with_(verification="in-person"), "#/verification", "verified-id"),
    (
        with_(mode="sync", temporary_access_pass={"lifetime_minutes": 5}),
        "#/temporary_access_pass/lifetime_minutes",
        "greater than or equal to 10",
    ),
    (
        with_(mode="sync", temporary_access_pass={"lifetime_minutes": 43201}),
        "#/temporary_access_pass/lifetime_minutes",
        "less than or equal to 43200",
    ),
    (
        with_(mode="sync", temporary_access_pass={"lifetime_minutes": "60"}),
        "#/temporary_access_pass/lifetime_minutes",
        "valid integer",
    ),
    (
        with_(mode="sync", temporary_access_pass={"lifetime_minutes": 60.5}),
        "#/temporary_access_pass/lifetime_minutes",
        "valid integer",
    ),
    (
        with_(mode="sync", temporary_access_pass={"usable_once": "no"}),
        "#/temporary_access_pass/usable_once",
        "valid boolean",
    ),
    (with_(mode="sync", temporary_access_pass=True), "#/temporary_access_pass", "an object"),
    # Python's "$" matches before a final line break: the whole value must match.
    (with_(user="adele.vance@contoso.com\n"), "#/user", "userPrincipalName"),
    (with_(user="6e7b768e-07e2-4810-8459-485f84f8f204\n"), "#/user", "userPrincipalName"),
    (with_(ticket_id="INC0012345\n"), "#/ticket_id", "1-64"),
    # C1 controls (NEL, CSI), line and paragraph separators, and invisible format characters:
    # bidirectional overrides and isolates, marks, the BOM and zero-width spaces.
    (with_(requested_by="desk\x85FAKE LOG LINE"), "#/requested_by", "control characters"),
    (with_(requested_by="desk\x9b31m"), "#/requested_by", "control characters"),
    (with_(requested_by="desk\u2028FAKE LOG LINE"), "#/requested_by", "line breaks"),
    (with_(requested_by="desk@\u202emoc.osotnoc"), "#/requested_by", "format characters"),
    (with_(requested_by="\u2066desk\u2069@contoso.com"), "#/requested_by", "format characters"),
    (with_(requested_by="desk\u200b@contoso.com"), "#/requested_by", "format characters"),
    (with_(reason="lost phone\x85"), "#/reason", "control characters"),
    (with_(reason="lost phone\tcall-back done"), "#/reason", "control characters"),
    (with_(reason="lost \u202ephone"), "#/reason", "format characters"),
    (with_(reason="lost \u061cphone"), "#/reason", "format characters"),
    (with_(reason="lost \u200ephone \u200f"), "#/reason", "format characters"),
    (with_(reason="\ufefflost phone"), "#/reason", "format characters"),
    (with_(reason="lost phone\u2029"), "#/reason", "format characters"),
    # "\d" is any Unicode digit: Arabic-Indic, Devanagari or fullwidth digits are not ASCII.
    (with_(new_phone={"number": "+12065550123x\u0661\u0662"}), "#/new_phone/number", "E.164"),
    (with_(new_phone={"number": "+1 2065550123x\u0967"}), "#/new_phone/number", "E.164"),
    (
        with_(
            new_phone={"number": "+1\uff12\uff10\uff16\uff15\uff15\uff15\uff10\uff11\uff12\uff13"}
        ),
        "#/new_phone/number",
        "E.164",
    ),
]


@pytest.mark.parametrize(("payload", "pointer", "fragment"), BAD_PAYLOADS)
def test_bad_payload_is_refused_with_a_field_error(payload: Any, pointer: str, fragment: str):
    with pytest.raises(ValidationError) as caught:
        parse(payload)
    problem = validation_problem(caught.value)
    assert problem.status == 400
    found = [e for e in problem.errors if e.pointer == pointer]
    assert found, f"no error at {pointer}: {problem.errors}"
    assert any(fragment in e.detail for e in found), found


def test_the_table_is_large_enough():
    assert len(BAD_PAYLOADS) >= 30


def test_every_field_error_is_reported_at_once():
    with pytest.raises(ValidationError) as caught:
        parse({"user": "nope", "ticket_id": "bad id", "dry_run": "x", "zzz": 1})
    pointers = {e.pointer for e in validation_problem(caught.value).errors}
    assert pointers == {"#/user", "#/ticket_id", "#/requested_by", "#/dry_run", "#/zzz"}


def test_problem_never_echoes_the_submitted_phone_number():
    with pytest.raises(ValidationError) as caught:
        parse(with_(new_phone={"number": "+1 206555"}))
    assert "206555" not in validation_problem(caught.value).body().decode()


def test_problem_never_echoes_a_value_in_a_list():
    """A phone number pasted where a method type belongs stays out of the answer."""
    with pytest.raises(ValidationError) as caught:
        parse(with_(remove_methods=["phone", "+1 2065550123"]))
    body = validation_problem(caught.value).body().decode()
    assert "2065550123" not in body
    assert "position(s) 1" in body


def test_defaults():
    request = parse(VALID)
    assert request.revoke_sessions is True
    assert request.remove_methods == "all"
    assert request.keep_methods == []
    assert request.dry_run is False
    assert request.mode == "async"
    assert request.new_phone is None and request.temporary_access_pass is None
    assert request.selected_types() == frozenset(MethodType)


@pytest.mark.parametrize(
    ("given", "sent_to_graph"),
    [
        ("+12065550123", "+1 2065550123"),
        ("+1 2065550123", "+1 2065550123"),
        ("+12065550123x42", "+1 2065550123x42"),
        ("+442071838750", "+44 2071838750"),
        ("+4915123456789", "+49 15123456789"),
        ("+390612345678", "+39 0612345678"),  # Italy keeps its leading zero
        ("+1 5555551234", "+1 5555551234"),  # the number Graph's own docs use
    ],
)
def test_phone_numbers_are_sent_in_graphs_form(given: str, sent_to_graph: str):
    request = parse(with_(new_phone={"number": given}))
    assert request.new_phone is not None
    assert request.new_phone.number == sent_to_graph
    assert request.new_phone.type is PhoneType.mobile


def test_phone_number_is_not_in_the_repr():
    request = parse(with_(new_phone={"number": "+12065550123", "type": "office"}))
    assert "2065550123" not in repr(request)


@pytest.mark.parametrize(
    "user",
    [
        "megan.bowen_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "$svc.desk@contoso.com",
        "patti.o'brien@contoso.com",
        "ADELE.VANCE@CONTOSO.COM",
        "6E7B768E-07E2-4810-8459-485F84F8F204",
    ],
)
def test_accepted_user_keys(user: str):
    assert parse(with_(user=user)).user.lower() == user.lower()


def test_guid_is_normalised_to_lower_case():
    assert parse(with_(user="6E7B768E-07E2-4810-8459-485F84F8F204")).user == (
        "6e7b768e-07e2-4810-8459-485f84f8f204"
    )


def test_selection_subtracts_kept_types():
    request = parse(with_(keep_methods=["windowsHelloForBusiness", "fido2"]))
    assert MethodType.fido2 not in request.selected_types()
    assert MethodType.phone in request.selected_types()
    listed = parse(with_(remove_methods=["phone", "microsoftAuthenticator"]))
    assert listed.selected_types() == {MethodType.phone, MethodType.microsoft_authenticator}


def test_json_schema_is_published_from_the_model():
    schema = ResetRequest.model_json_schema()
    assert set(schema["required"]) == {"user", "ticket_id", "requested_by"}
    assert schema["additionalProperties"] is False
    assert "new_phone" in schema["properties"]


def test_temporary_access_pass_with_sync_mode_or_dry_run():
    assert parse(with_(mode="sync", temporary_access_pass={})).temporary_access_pass is not None
    assert parse(with_(dry_run=True, temporary_access_pass={})).temporary_access_pass is not None


def test_record_form_masks_the_new_phone_number():
    request = parse(with_(new_phone={"number": "+12065550123"}))
    record = request.to_record()
    assert record["new_phone"]["number"] == "+1 ********23"
    assert "2065550123" not in json.dumps(record)


@pytest.mark.parametrize(
    "message",
    [
        "Invalid phone number +1 2065550123.",
        "Phone number '+12065550123' already exists",
        "number 206-555-0123 is not allowed",
    ],
)
def test_graph_messages_lose_phone_numbers(message: str):
    redacted = redact_phone_numbers(message)
    assert "0123" not in redacted
    assert "[phone number]" in redacted


def test_redaction_keeps_ordinary_text():
    assert redact_phone_numbers("Request_BadRequest in 2 fields") == (
        "Request_BadRequest in 2 fields"
    )


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("requested_by", "Zo\u00eb \u00c6r\u00f8sk\u00f8bing (service desk)"),
        ("requested_by", "\u0645\u062d\u0645\u062f \u0631\u0636\u0627"),  # right-to-left script
        ("reason", "Lost phone.\r\nIdentity verified by a manager call-back."),
        ("reason", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),  # Persian needs ZWNJ
        ("reason", "Lost \U0001f469\u200d\U0001f4bb laptop"),  # an emoji sequence joins with ZWJ
    ],
)
def test_ordinary_text_in_any_script_is_accepted(field: str, text: str):
    assert getattr(parse(with_(**{field: text})), field) == text


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("requested_by", "desk@\u202emoc.osotnoc"),
        ("reason", "+1 2065550123 \u202e"),
        ("reason", "+1 2065550123\x85"),
    ],
)
def test_a_refused_character_is_named_but_the_text_is_not_echoed(field: str, text: str):
    with pytest.raises(ValidationError) as caught:
        parse(with_(**{field: text}))
    body = validation_problem(caught.value).body().decode()
    assert f"#/{field}" in body
    assert "2065550123" not in body and "osotnoc" not in body
    assert json.dumps(text)[1:-1] not in body


def test_phone_numbers_in_graphs_form_are_masked_only_when_ascii():
    assert mask_phone_number("+1 2065550123") == "+1 ********23"
    assert mask_phone_number("+1 2065550123\n") == "******"
    assert mask_phone_number("+1 206555012\u0663") == "******"


def test_callback_host_patterns_are_matched_whole():
    assert check_host_patterns(("Dev1.Service-Now.com", "*.logic.azure.com")) == (
        "dev1.service-now.com",
        "*.logic.azure.com",
    )
    for bad in ("yourco.service-now.com\n", "*.azure.com\n"):
        with pytest.raises(ValueError, match="not host names"):
            check_host_patterns((bad,))


def test_a_name_given_twice_is_found_wherever_it_is():
    body = b'{"a": [{"b": 1, "c": {"d": 1, "d": 2}, "b": 2}], "e": 1, "e": 3, "e": 4}'
    assert duplicate_keys(body) == [("e",), ("a", 0, "b"), ("a", 0, "c", "d")]
    assert duplicate_keys(b'{"a": 1, "b": {"a": 2}}') == []
    assert duplicate_keys(b"{not json") == []
