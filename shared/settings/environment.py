"""Where settings come from: the environment variable of each, and the error a bad one raises.

App settings arrive as environment variables (Azure app settings, or ``local.settings.json``
under ``func start``). The names are kept in one explicit table so tests can hold the Bicep
templates and the README's configuration table to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"

# The connection the queue bindings and the ledger share: a connection string (Azurite, or an
# account key) in RESET_STORAGE, or identity-based settings RESET_STORAGE__queueServiceUri,
# RESET_STORAGE__tableServiceUri, RESET_STORAGE__credential and RESET_STORAGE__clientId.
STORAGE_CONNECTION = "RESET_STORAGE"

# Environment variable -> field name. Kept explicit so tests can compare it with the templates.
ENVIRONMENT_NAMES: dict[str, str] = {
    "GRAPH_BASE_URL": "graph_base_url",
    "AZURE_CLIENT_ID": "managed_identity_client_id",
    "GRAPH_TIMEOUT_SECONDS": "graph_timeout_seconds",
    "GRAPH_MAX_RETRIES": "graph_max_retries",
    "GRAPH_RETRY_DELAY_SECONDS": "graph_retry_delay_seconds",
    "GRAPH_BETA_METHODS": "graph_beta_methods",
    "RESET_QUEUE_NAME": "reset_queue_name",
    "LEDGER_TABLE_NAME": "ledger_table_name",
    STORAGE_CONNECTION: "storage_connection_string",
    f"{STORAGE_CONNECTION}__tableServiceUri": "storage_table_service_uri",
    f"{STORAGE_CONNECTION}__queueServiceUri": "storage_queue_service_uri",
    f"{STORAGE_CONNECTION}__clientId": "storage_client_id",
    "LEASE_SECONDS": "lease_seconds",
    "STATUS_RETRY_AFTER_SECONDS": "status_retry_after_seconds",
    "DENIED_USERS": "denied_users",
    "PROTECTED_GROUP_IDS": "protected_group_ids",
    "ALLOWED_ROLE_TEMPLATE_IDS": "allowed_role_template_ids",
    "WEBSITE_AUTH_ENABLED": "easy_auth_enabled",
    "REQUIRE_CALLER_ROLES": "require_caller_roles",
    "CALLER_EXECUTE_ROLE": "caller_execute_role",
    "CALLER_PREVIEW_ROLE": "caller_preview_role",
    "CALLER_TENANT_ID": "caller_tenant_id",
    "CALLER_AUDIENCES": "caller_audiences",
    "CALLER_AUTHORITY": "caller_authority",
    "RESETS_PER_HOUR": "resets_per_hour",
    "RESETS_PER_USER_PER_DAY": "resets_per_user_per_day",
    "DRY_RUNS_PER_CALLER_PER_HOUR": "dry_runs_per_caller_per_hour",
    "CLEANUP_SCHEDULE": "cleanup_schedule",
    "RESET_GROUP_ID": "reset_group_id",
    "REDRIVE_MAX_ATTEMPTS": "redrive_max_attempts",
    "RETENTION_DAYS": "retention_days",
    "WORK_ITEM_SIGNING_KEY": "work_item_signing_key",
    "WORK_ITEM_SIGNING_KEY_PREVIOUS": "work_item_signing_key_previous",
    "CALLBACK_SIGNING_SECRET": "callback_signing_secret",
    "CALLBACK_ALLOWED_HOSTS": "callback_allowed_hosts",
    "CALLBACK_ALLOW_LOOPBACK_HTTP": "callback_allow_loopback_http",
    "NOTIFY_SENDER": "notify_sender",
    "PUBLIC_BASE_URL": "public_base_url",
    "RESET_HOLD_MINUTES": "reset_hold_minutes",
    "WEBSITE_HOSTNAME": "website_hostname",
    "REQUIRE_VERIFICATION": "require_verification",
    "VERIFIED_ID_BASE_URL": "verified_id_base_url",
    "VERIFIED_ID_AUTHORITY": "verified_id_authority",
    "VERIFIED_ID_CREDENTIAL_TYPES": "verified_id_credential_types",
    "VERIFIED_ID_ACCEPTED_ISSUERS": "verified_id_accepted_issuers",
    "FACE_CHECK_THRESHOLD": "face_check_threshold",
    "VERIFIED_ID_NAME_MATCH": "verified_id_name_match",
    "VERIFICATION_ATTEMPTS": "verification_attempts",
}


class SettingsError(RuntimeError):
    """A setting has a value the app cannot run with."""


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the environment sets, by field name; an empty variable counts as unset."""
    env = os.environ if environ is None else environ
    return {
        field: env[name] for name, field in ENVIRONMENT_NAMES.items() if env.get(name, "") != ""
    }


def settings_error(exc: ValidationError) -> SettingsError:
    """Every invalid setting, named as the operator sets it (never its value: it may be a
    secret)."""
    field_to_env = {field: name for name, field in ENVIRONMENT_NAMES.items()}
    problems = "; ".join(
        f"{field_to_env.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}"
        for err in exc.errors()
    )
    return SettingsError(f"invalid app settings: {problems}")
