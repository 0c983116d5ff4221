"""The seeding API, the demo tenant, lifecycle and the ``python -m emulator`` CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest

from emulator import GraphEmulator, Tenant, demo_tenant
from emulator.demo import ADELE_ID, ALEX_ID, DIEGO_ID, MEGAN_ID, PATTI_ID, SVC_DESK_ID
from tests.emulator.emu_helpers import EMAIL, MOBILE, PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_demo_tenant_users() -> None:
    t = demo_tenant()
    expected = {
        "adele.vance@contoso.example": ADELE_ID,
        "alex.wilber@contoso.example": ALEX_ID,
        "megan.bowen_fabrikam.example#EXT#@contoso.example": MEGAN_ID,
        "$svc.desk@contoso.example": SVC_DESK_ID,
        "patti.o'brien@contoso.example": PATTI_ID,
        "diego.siciliani@contoso.example": DIEGO_ID,
    }
    for upn, user_id in expected.items():
        user = t.user(upn)
        assert user is not None
        assert user.id == user_id
    guest = t.user(MEGAN_ID)
    assert guest is not None
    assert guest.user_type == "Guest"


def test_demo_tenant_methods_and_defaults() -> None:
    t = demo_tenant()
    adele_kinds = set(t.method_kinds(ADELE_ID))
    assert len(adele_kinds) >= 6
    assert t.default_method(ADELE_ID) == MOBILE
    assert t.method_kinds(ALEX_ID) == ["microsoftAuthenticator", "phone", "fido2"]
    assert t.default_method(ALEX_ID) is not None
    assert t.method_kinds(MEGAN_ID) == ["phone", "microsoftAuthenticator"]
    assert t.default_method(MEGAN_ID) == MOBILE
    assert t.method_kinds(SVC_DESK_ID) == ["phone"]
    assert t.method_kinds(PATTI_ID) == ["email", "softwareOath"]
    assert t.default_method(PATTI_ID) not in (None, EMAIL)
    assert [m["id"] for m in t.methods(DIEGO_ID)] == [PASSWORD]


def test_demo_tenant_is_deterministic() -> None:
    assert demo_tenant().methods(ADELE_ID) == demo_tenant().methods(ADELE_ID)
    assert demo_tenant().methods(PATTI_ID) == demo_tenant().methods(PATTI_ID)


def test_seeding_api_round_trip() -> None:
    t = Tenant(domain="fabrikam.example")
    user = t.add_user("kim@fabrikam.example", display_name="Kim", id=None)
    assert user.user_principal_name == "kim@fabrikam.example"
    phone = t.add_method(user.id, "phone", phone_type="mobile", phone_number="+1 2065550100")
    assert phone == MOBILE
    auth = t.add_method(user.id, "microsoftAuthenticator", display_name="iPhone 15", default=True)
    t.add_method(user.id, "externalAuthentication", display_name="Duo")
    assert t.default_method(user.id) == auth
    t.set_default(user.id, phone)
    assert t.default_method(user.id) == phone
    kinds = [m["@odata.type"] for m in t.methods(user.id)]
    assert kinds[0] == "#microsoft.graph.passwordAuthenticationMethod"
    assert len(kinds) == 4
    assert t.user("KIM@FABRIKAM.EXAMPLE") is user
    assert t.user(user.id.upper()) is user
    assert t.user("nobody@fabrikam.example") is None


def test_seeding_api_rejects_mistakes() -> None:
    t = Tenant()
    user = t.add_user("a@contoso.example")
    with pytest.raises(ValueError, match="kind"):
        t.add_method(user.id, "sms")
    with pytest.raises(ValueError, match="property"):
        t.add_method(user.id, "fido2", colour="blue")
    t.add_method(user.id, "phone", phone_type="office", phone_number="+1 4255550100")
    with pytest.raises(ValueError, match="already"):
        t.add_method(user.id, "phone", phone_type="office", phone_number="+1 4255550101")
    with pytest.raises(ValueError, match="already in use"):
        t.add_user("A@contoso.example")
    with pytest.raises(ValueError, match="password"):
        t.set_default(user.id, PASSWORD)
    with pytest.raises(ValueError, match="role_template_id"):
        t.add_directory_role(user.id, "Made-up Role")


def test_seeded_tap_is_replaced_and_readable() -> None:
    t = Tenant()
    user = t.add_user("b@contoso.example")
    first = t.add_method(user.id, "temporaryAccessPass", lifetime_in_minutes=60)
    second = t.add_method(user.id, "temporaryAccessPass", lifetime_in_minutes=30)
    assert first != second
    taps = [m for m in t.methods(user.id) if m["id"] == second]
    assert taps[0]["lifetimeInMinutes"] == 30
    assert taps[0]["temporaryAccessPass"] is None
    assert t.method_kinds(user.id) == ["temporaryAccessPass"]
    assert t.last_tap_value(user.id)


def test_group_and_role_seeding() -> None:
    t = Tenant()
    user = t.add_user("c@contoso.example")
    group = t.add_group("Admins", role_assignable=True)
    t.add_member(group.id, user.id)
    t.add_member(group.id, user.id)  # idempotent
    assert t.members(group.id) == [user.id]
    role = t.add_directory_role(
        group.id, "Global Administrator", role_template_id="62e90394-69f5-4237-9190-012177145e10"
    )
    assert [r.id for r in t.roles_of(user.id)] == [role.id]
    assert t.roles_of(user.id, transitive=False) == []
    eligible = t.add_eligible_role(
        user.id, "User Administrator", role_definition_id="fe930be7-5e62-47db-91af-98c3a49a38b1"
    )
    assert eligible.principal_id == user.id


def test_start_stop_without_context_manager() -> None:
    emu = GraphEmulator(demo_tenant())
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    emu.start()
    try:
        url = emu.identity_endpoint
        assert httpx.get(url).status_code == 401
    finally:
        emu.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    emu.stop()  # stopping twice is harmless


def test_only_loopback_hosts_are_allowed() -> None:
    with pytest.raises(ValueError, match="loopback"):
        GraphEmulator(Tenant(), host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        GraphEmulator(Tenant(), host="example.com")


def test_cli_prints_env_and_serves_until_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        settings = dict(line.split("=", 1) for line in lines)
        assert set(settings) == {
            "GRAPH_BASE_URL",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "VERIFIED_ID_BASE_URL",
        }
        assert settings["VERIFIED_ID_BASE_URL"].endswith("/verifiedid/v1.0")
        assert settings["GRAPH_BASE_URL"].startswith("http://127.0.0.1:")
        token_request = urllib.request.Request(
            f"{settings['IDENTITY_ENDPOINT']}?api-version=2019-08-01&resource=https://graph.microsoft.com",
            headers={"X-IDENTITY-HEADER": settings["IDENTITY_HEADER"]},
        )
        with urllib.request.urlopen(token_request, timeout=10) as response:
            token = json.loads(response.read())["access_token"]
        graph_request = urllib.request.Request(
            f"{settings['GRAPH_BASE_URL']}/users/{ADELE_ID}",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(graph_request, timeout=10) as response:
            assert json.loads(response.read())["displayName"] == "Adele Vance"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{settings['GRAPH_BASE_URL']}/users/{ADELE_ID}", timeout=10)
        assert refused.value.code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


def test_cli_refuses_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--host", "0.0.0.0"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr
    assert result.stdout == ""
