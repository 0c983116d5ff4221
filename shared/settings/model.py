"""The app's settings as one validated, immutable object, with their defaults and limits.

Reading them in one place gives one place where a bad value fails loudly at start-up instead of
half-way through a reset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from shared.keyring import Keyring
from shared.models.callback import (
    check_host_patterns,
    check_webhook_secret,
    unresolved_key_vault_reference,
)
from shared.settings.environment import (
    DEFAULT_GRAPH_BASE_URL,
    environment_values,
    settings_error,
)
from shared.settings.keys import signing_keys
from shared.settings.notify import (
    NotifySender,
    PublicBaseUrl,
    ResetHoldMinutes,
    WebsiteHostname,
)
from shared.settings.verify import (
    VERIFIED_ID_BASE_URL,
    AcceptedIssuers,
    CredentialTypes,
    FaceCheckThreshold,
    NameMatch,
    RequireVerification,
    VerificationAttempts,
    VerifiedIdAuthority,
    VerifiedIdBaseUrl,
)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")


class Settings(BaseModel):
    """Validated app settings with their defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    graph_base_url: str = Field(
        default=DEFAULT_GRAPH_BASE_URL,
        description="Graph root including the version segment; national clouds and the emulator "
        "override it.",
    )
    managed_identity_client_id: str | None = Field(
        default=None,
        description="Client id of a user-assigned managed identity; unset means system-assigned.",
    )
    graph_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=230,
        description="Per-request timeout; Graph's authentication-method APIs give up after 60 s.",
    )
    graph_max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a throttled (429) or unavailable (503/504) Graph request.",
    )
    graph_retry_delay_seconds: float = Field(
        default=3.0,
        ge=0,
        le=180,
        description="Base of the exponential back-off when Graph sends no Retry-After.",
    )
    graph_beta_methods: bool = Field(
        default=False,
        description="Remove hardware OATH tokens through Graph beta (Microsoft does not support "
        "beta in production: an explicit choice). Off: no beta write, a refusal up front.",
    )

    reset_queue_name: str = Field(
        default="mfa-resets",
        # Storage queue rules (3-63 characters), leaving room for "-callbacks-poison".
        min_length=3,
        max_length=46,
        pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
        description="Queue of accepted resets; also <name>-poison, <name>-callbacks (completion "
        "callbacks), <name>-sweep (a sweep's pages). Bindings read %RESET_QUEUE_NAME%.",
    )
    ledger_table_name: str = Field(
        default="MfaResets",
        pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$",
        description="Table Storage table of the reset ledger.",
    )
    storage_connection_string: str | None = Field(
        default=None, description="Connection string of the storage account (local runs)."
    )
    storage_queue_service_uri: str | None = Field(
        default=None,
        description="Queue endpoint for the identity-based connection (the bindings read it "
        "too); the app itself sends a held reset's message with a delay.",
    )
    storage_table_service_uri: str | None = Field(
        default=None, description="Table endpoint for the identity-based connection."
    )
    storage_client_id: str | None = Field(
        default=None,
        description="User-assigned identity for storage; defaults to AZURE_CLIENT_ID.",
    )
    lease_seconds: int = Field(
        default=900,
        ge=60,
        le=3600,
        description="How long a worker owns a running reset before another may take it over; "
        "longer than a reset can take (functionTimeout).",
    )
    status_retry_after_seconds: int = Field(
        default=5, ge=1, le=300, description="Retry-After sent to callers polling a reset."
    )

    denied_users: tuple[str, ...] = Field(
        default=(),
        description="Comma-separated UPNs or object ids never reset (break-glass accounts).",
    )
    protected_group_ids: tuple[str, ...] = Field(
        default=(),
        description="Comma-separated group object ids whose members (transitively) are never "
        "reset.",
    )
    allowed_role_template_ids: tuple[str, ...] = Field(
        default=(),
        description="Comma-separated role template ids whose holders may still be reset; every "
        "other directory role protects its holder.",
    )

    easy_auth_enabled: bool = Field(
        default=False,
        description="Set by App Service when App Service Authentication is on; then callers "
        "must bring an app role, read from the X-MS-CLIENT-PRINCIPAL header the platform sets.",
    )
    require_caller_roles: bool = Field(
        default=False,
        description="Require a signed-in caller with an app role even if the platform does not "
        "announce App Service Authentication through WEBSITE_AUTH_ENABLED; the templates set it "
        "whenever they turn authentication on, so the check cannot silently fall away.",
    )
    caller_execute_role: str = Field(
        default="MfaReset.Execute",
        min_length=1,
        max_length=120,
        description="App role a signed-in caller needs to run a reset.",
    )
    caller_preview_role: str = Field(
        default="MfaReset.Preview",
        min_length=1,
        max_length=120,
        description="App role that allows dry runs and status reads only.",
    )
    caller_tenant_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$",
        description="Tenant whose Entra ID access tokens callers present (issuer and signing "
        "keys). Required when callers must bring app roles.",
    )
    caller_audiences: tuple[str, ...] = Field(
        default=(),
        description="Comma-separated audiences a caller's token must be for: the API app "
        "registration's client id and application id URI. Required when callers must bring "
        "app roles.",
    )
    caller_authority: str = Field(
        default="https://login.microsoftonline.com",
        description="Entra ID authority that publishes the tenant's signing keys and issues "
        "v2.0 tokens; national clouds (and the emulator) override it.",
    )
    resets_per_hour: int = Field(
        default=30,
        ge=1,
        le=10000,
        description="Tenant-wide cap on resets accepted in any rolling hour, across instances.",
    )
    resets_per_user_per_day: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Resets of one user accepted in any rolling 24 hours.",
    )
    dry_runs_per_caller_per_hour: int = Field(
        default=60,
        ge=1,
        le=10000,
        description="Dry runs one caller may ask for per clock hour: a dry run answers whether "
        "an account is protected, which must not become a way to map out the tenant.",
    )

    cleanup_schedule: str = Field(
        default="0 30 1 * * *",
        pattern=r"^\S+( \S+){5}$",
        description="NCRONTAB schedule (six fields, in UTC) of the "
        "scheduled cleanup run. The timer binding reads it as %CLEANUP_SCHEDULE%, so the "
        "setting must exist.",
    )
    reset_group_id: str | None = Field(
        default=None,
        description="Object id of the group whose user members the scheduled run resets and "
        "then removes; unset means no group sweep.",
    )
    redrive_max_attempts: int = Field(
        default=3,
        ge=0,
        le=20,
        description="How many times scheduled runs re-queue a stuck or retryably failed reset "
        "before leaving it failed.",
    )
    retention_days: int = Field(
        default=90,
        ge=2,
        le=3650,
        description="Ledger rows older than this are deleted by the scheduled run; at least "
        "two days, so the per-user limit still sees a day of history.",
    )

    work_item_signing_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Secret (from Key Vault, through a Key Vault reference) that signs every "
        "admitted reset; the queue worker runs only messages signed with it. Required to "
        "accept or run a reset.",
    )
    work_item_signing_key_previous: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="The key before the last rotation: resets signed with it still run.",
    )

    callback_signing_secret: SecretStr | None = Field(
        default=None,
        description="Standard Webhooks secret (whsec_ + base64 of 24-64 bytes, a Key Vault "
        "reference) signing callbacks; unset or unresolved: callback_url is refused.",
    )
    callback_allowed_hosts: tuple[str, ...] = Field(
        default=(),
        description="Comma-separated callback hosts: names, or *.domain (*.service-now.com).",
    )
    callback_allow_loopback_http: bool = Field(
        default=False,
        description="Local runs only (never in templates): plain http to loopback callbacks.",
    )

    notify_sender: NotifySender = None
    public_base_url: PublicBaseUrl = None
    reset_hold_minutes: ResetHoldMinutes = 0
    website_hostname: WebsiteHostname = None

    require_verification: RequireVerification = False
    verified_id_base_url: VerifiedIdBaseUrl = VERIFIED_ID_BASE_URL
    verified_id_authority: VerifiedIdAuthority = None
    verified_id_credential_types: CredentialTypes = ("VerifiedEmployee",)
    verified_id_accepted_issuers: AcceptedIssuers = ()
    face_check_threshold: FaceCheckThreshold = 70
    verified_id_name_match: NameMatch = "exact"
    verification_attempts: VerificationAttempts = 3

    @field_validator(
        "denied_users",
        "protected_group_ids",
        "allowed_role_template_ids",
        "caller_audiences",
        "callback_allowed_hosts",
        "verified_id_credential_types",
        "verified_id_accepted_issuers",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("protected_group_ids", "allowed_role_template_ids")
    @classmethod
    def _check_guids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _GUID.match(v)]
        if bad:
            raise ValueError(f"not object ids (GUIDs): {', '.join(bad)}")
        return value

    @field_validator("callback_signing_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or unresolved_key_vault_reference(value.get_secret_value()):
            return None
        return check_webhook_secret(value)

    @field_validator("callback_allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_host_patterns(value)

    @property
    def verification_ready(self) -> bool:
        """Whether a reset can be proven: an authority, and issuers to accept."""
        return bool(self.verified_id_authority and self.verified_id_accepted_issuers)

    @field_validator("graph_base_url", "caller_authority", "verified_id_base_url")
    @classmethod
    def _check_base_url(cls, value: str, info: ValidationInfo) -> str:
        parts = urlsplit(value)
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("must be an https URL (plain http only for a loopback emulator)")
        if info.field_name == "graph_base_url" and not parts.path.rstrip("/"):
            raise ValueError("must include the version segment, for example /v1.0")
        return value.rstrip("/")

    @field_validator("reset_group_id")
    @classmethod
    def _check_group_id(cls, value: str | None) -> str | None:
        if value and not _GUID.match(value):
            raise ValueError("not an object id (GUID)")
        return value.lower() if value else None

    @field_validator(
        "managed_identity_client_id",
        "storage_connection_string",
        "storage_table_service_uri",
        "storage_queue_service_uri",
        "storage_client_id",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    def signing_keys(self) -> tuple[SecretStr, ...]:
        """The key that signs (first) and every key that verifies (``shared.settings.keys``)."""
        return signing_keys(self.work_item_signing_key, self.work_item_signing_key_previous)

    @property
    def links_base_url(self) -> str | None:
        """Where the links in notifications point: the setting, else App Service's host."""
        if self.public_base_url:
            return self.public_base_url
        return f"https://{self.website_hostname}" if self.website_hostname else None

    def keyring(self) -> Keyring:
        """The signing keys as a keyring (raises ``SettingsError`` like ``signing_keys``)."""
        return Keyring(self.signing_keys())

    def caller_token_issuers(self) -> tuple[str, ...]:
        """Issuers of the tenant's v2.0 and v1.0 access tokens."""
        tenant = self.caller_tenant_id
        v1 = (
            f"https://sts.windows.net/{tenant}/"
            if self.caller_authority == "https://login.microsoftonline.com"
            else f"{self.caller_authority}/{tenant}/"
        )
        return (f"{self.caller_authority}/{tenant}/v2.0", v1)

    @property
    def caller_roles_required(self) -> bool:
        """Whether callers must be signed in with an app role (and the principal header is
        trusted): either setting turns it on, neither can turn the other off."""
        return self.easy_auth_enabled or self.require_caller_roles

    @property
    def graph_scope(self) -> str:
        """The token scope for Graph, derived from the base URL's host.

        National clouds have their own Graph host and audience, so a fixed
        ``https://graph.microsoft.com/.default`` would fetch a token Graph refuses there.
        """
        parts = urlsplit(self.graph_base_url)
        return f"{parts.scheme}://{parts.netloc}/.default"

    @property
    def graph_beta_url(self) -> str:
        """Graph's beta root beside the configured version (same cloud, same token)."""
        return self.graph_base_url.rsplit("/", 1)[0] + "/beta"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        try:
            return cls.model_validate(environment_values(environ))
        except ValidationError as exc:
            raise settings_error(exc) from None
