"""The seeded demo tenant.

Ids and timestamps are fixed so documentation, demos and tests can quote them and get
the same answer on every run.
"""

from __future__ import annotations

from .tenant import Tenant

ADELE_ID = "6e7b768e-07e2-4810-8459-485f84f8f204"
ALEX_ID = "4782e723-f4f4-4af3-a76e-25e3bab0d896"
MEGAN_ID = "0b9c1a3e-5f7d-4e21-8c4a-7d2e6f1b3a90"
SVC_DESK_ID = "a1f0c2d3-4b5e-4f60-9a7b-8c9d0e1f2a3b"
PATTI_ID = "c3d4e5f6-0718-4293-a4b5-c6d7e8f90a1b"
DIEGO_ID = "e8f9a0b1-c2d3-4e4f-8a5b-6c7d8e9f0a1b"

SEED_TIME = "2024-03-01T08:00:00Z"


def demo_tenant() -> Tenant:
    """A tenant with one user per interesting reset scenario (see the module's constants)."""
    t = Tenant(domain="contoso.example")

    adele = t.add_user(
        "adele.vance@contoso.example",
        display_name="Adele Vance",
        id=ADELE_ID,
        mail="adele.vance@contoso.example",
    )
    t.add_method(
        adele.id,
        "phone",
        phone_type="mobile",
        phone_number="+1 2065550100",
        default=True,
        created=SEED_TIME,
    )
    t.add_method(
        adele.id,
        "phone",
        phone_type="alternateMobile",
        phone_number="+1 2065550101",
        created=SEED_TIME,
    )
    t.add_method(
        adele.id, "phone", phone_type="office", phone_number="+1 4255550102", created=SEED_TIME
    )
    t.add_method(adele.id, "email", email_address="adele@fabrikam.example", created=SEED_TIME)
    t.add_method(
        adele.id,
        "microsoftAuthenticator",
        display_name="iPhone 15",
        id="9a2c4e6f-1b3d-4f5a-8c7e-0d2f4a6b8c01",
        created=SEED_TIME,
    )
    t.add_method(
        adele.id, "softwareOath", id="b3d5f7a9-2c4e-4a6b-9d8f-1e3a5c7e9f02", created=SEED_TIME
    )
    t.add_method(
        adele.id,
        "fido2",
        display_name="YubiKey 5",
        id="c4e6a8b0-3d5f-4b7c-8e9a-2f4b6d8f0a03",
        created=SEED_TIME,
    )
    t.add_method(
        adele.id,
        "windowsHelloForBusiness",
        display_name="LAPTOP-01",
        id="d5f7b9c1-4e6a-4c8d-9f0b-3a5c7e9a1b04",
        created=SEED_TIME,
    )

    alex = t.add_user(
        "alex.wilber@contoso.example",
        display_name="Alex Wilber",
        id=ALEX_ID,
        mail="alex.wilber@contoso.example",
    )
    t.add_method(
        alex.id,
        "microsoftAuthenticator",
        display_name="Pixel 8",
        id="e6a8c0d2-5f7b-4d9e-8a1c-4b6d8f0b2c05",
        default=True,
        created=SEED_TIME,
    )
    t.add_method(
        alex.id, "phone", phone_type="mobile", phone_number="+1 2065550110", created=SEED_TIME
    )
    t.add_method(
        alex.id,
        "fido2",
        display_name="Feitian ePass",
        id="f7b9d1e3-6a8c-4e0f-9b2d-5c7e9a1c3d06",
        created=SEED_TIME,
    )

    megan = t.add_user(
        "megan.bowen_fabrikam.example#EXT#@contoso.example",
        display_name="Megan Bowen (Fabrikam)",
        user_type="Guest",
        id=MEGAN_ID,
        mail="megan.bowen@fabrikam.example",
    )
    t.add_method(
        megan.id,
        "phone",
        phone_type="mobile",
        phone_number="+44 7700900123",
        default=True,
        created=SEED_TIME,
    )
    t.add_method(
        megan.id,
        "microsoftAuthenticator",
        display_name="Galaxy S24",
        id="08c0e2f4-7b9d-4f1a-8c3e-6d8f0b2d4e07",
        created=SEED_TIME,
    )

    svc = t.add_user("$svc.desk@contoso.example", display_name="Service Desk", id=SVC_DESK_ID)
    t.add_method(
        svc.id, "phone", phone_type="mobile", phone_number="+1 2065550120", created=SEED_TIME
    )

    patti = t.add_user(
        "patti.o'brien@contoso.example",
        display_name="Patti O'Brien",
        id=PATTI_ID,
        mail="patti.obrien@contoso.example",
    )
    t.add_method(patti.id, "email", email_address="patti@fabrikam.example", created=SEED_TIME)
    t.add_method(
        patti.id,
        "softwareOath",
        id="19d1f3a5-8c0e-4a2b-9d4f-7e9a1c3e5f08",
        default=True,
        created=SEED_TIME,
    )

    t.add_user("diego.siciliani@contoso.example", display_name="Diego Siciliani", id=DIEGO_ID)

    for user in t.users():
        user.created = SEED_TIME
        user.sign_in_sessions_valid_from = SEED_TIME
    return t
