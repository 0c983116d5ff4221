"""Which signing keys the app has: the current one signs, every one verifies.

App Service leaves a Key Vault reference it could not resolve (the vault's role assignment
still propagating, a deleted secret) in the setting as its literal text, which is long enough
to pass for a key and derivable from resource names: that is no key, and nothing is signed or
verified with it. No key at all fails too, so no reset is ever admitted or run unsigned.
"""

from __future__ import annotations

from pydantic import SecretStr

from shared.models.callback import unresolved_key_vault_reference
from shared.settings.environment import SettingsError


def signing_keys(current: SecretStr | None, previous: SecretStr | None) -> tuple[SecretStr, ...]:
    named = (("WORK_ITEM_SIGNING_KEY", current), ("WORK_ITEM_SIGNING_KEY_PREVIOUS", previous))
    for name, key in named:
        if key is not None and unresolved_key_vault_reference(key.get_secret_value()):
            raise SettingsError(
                f"{name} is a Key Vault reference App Service could not resolve: check the "
                "app's access to the vault and that the secret exists"
            )
    if current is None:
        raise SettingsError("WORK_ITEM_SIGNING_KEY is not set")
    return (current, *((previous,) if previous else ()))
