"""Typed app settings: the one place that reads the environment.

``environment`` names the variable behind each setting; ``model`` validates them. Callers ask
``get_settings()`` for this worker process's settings, read once.
"""

from __future__ import annotations

from functools import lru_cache

from shared.settings.environment import (
    DEFAULT_GRAPH_BASE_URL,
    ENVIRONMENT_NAMES,
    STORAGE_CONNECTION,
    SettingsError,
)
from shared.settings.model import Settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this worker process, read once."""
    return Settings.from_environ()


__all__ = [
    "DEFAULT_GRAPH_BASE_URL",
    "ENVIRONMENT_NAMES",
    "STORAGE_CONNECTION",
    "Settings",
    "SettingsError",
    "get_settings",
]
