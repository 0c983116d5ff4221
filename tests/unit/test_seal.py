"""The keyring and the ledger's seal: what each MAC covers, and that rotation keeps it valid."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from shared.keyring import Keyring
from shared.ledger.seal import SEALED_COLUMNS, RowSeal, sealed_state
from shared.models import ResetRequest

OLD, NEW = SecretStr("old-key-" + "a" * 32), SecretStr("new-key-" + "b" * 32)


def request(**extra: object) -> ResetRequest:
    body = {"user": "alex@contoso.example", "ticket_id": "T1", "requested_by": "desk", **extra}
    return ResetRequest.model_validate_json(json.dumps(body))


ROW = {
    "Status": "running",
    "Attempts": 1,
    "Redrives": 0,
    "Retryable": False,
    "Admitted": True,
    "UserId": "6e7b768e-07e2-4810-8459-485f84f8f204",
    "Outcome": '{"steps": []}',
    "Signature": "f" * 64,
}


def test_every_sealed_column_is_covered_by_the_mac():
    seal = RowSeal(lambda: Keyring([NEW]))
    mac = seal.state_mac("r1", sealed_state(ROW))
    assert seal.genuine("r1", sealed_state(ROW), mac)
    assert not seal.genuine("r2", sealed_state(ROW), mac)  # bound to its row
    changed = {
        "Status": "failed",
        "Attempts": 0,
        "Redrives": 3,
        "Retryable": True,
        "Admitted": False,
        "UserId": "4782e723-f4f4-4af3-a76e-25e3bab0d896",
        "Outcome": '{"steps": [1]}',
        "Signature": "0" * 64,
    }
    assert set(changed) == set(SEALED_COLUMNS)
    for column, value in changed.items():
        assert not seal.genuine("r1", sealed_state({**ROW, column: value}), mac), column


def test_a_state_sealed_before_a_rotation_still_verifies_and_no_other_key_does():
    old_mac = RowSeal(lambda: Keyring([OLD])).state_mac("r1", sealed_state(ROW))
    assert RowSeal(lambda: Keyring([NEW, OLD])).genuine("r1", sealed_state(ROW), old_mac)
    assert not RowSeal(lambda: Keyring([NEW])).genuine("r1", sealed_state(ROW), old_mac)
    assert not RowSeal(lambda: Keyring([NEW])).genuine("r1", sealed_state(ROW), None)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"new_phone": {"number": "+14255550166"}}, {"new_phone": {"number": "+14255550266"}}),
        (
            {"callback_url": "https://x.example/hooks/a?sig=1"},
            {"callback_url": "https://x.example/hooks/b?sig=1"},
        ),
    ],
    ids=["phone-number", "callback-path"],
)
def test_the_fingerprint_tells_apart_what_the_ledger_masks_alike(
    first: dict[str, object], second: dict[str, object]
):
    a, b = request(**first), request(**second)
    assert a.to_record() == b.to_record()  # the ledger's copies are the same
    seal = RowSeal(lambda: Keyring([NEW, OLD]))
    assert seal.fingerprint(a) != seal.fingerprint(b)
    assert seal.fingerprint(a) in seal.fingerprints(a)
    assert RowSeal(lambda: Keyring([OLD])).fingerprint(a) in seal.fingerprints(a)


def test_a_signature_for_one_purpose_never_verifies_for_another():
    keyring = Keyring([NEW])
    signature = keyring.sign(b"mfa-reset/work-item/v2\n", b"{}")
    assert keyring.verify(b"mfa-reset/work-item/v2\n", b"{}", signature)
    assert not keyring.verify(b"mfa-reset/ledger-row-state/v1\n", b"{}", signature)
