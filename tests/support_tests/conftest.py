"""The support fixtures, imported here because only the root conftest may list plugins.

Importing them alongside the root conftest's ``pytest_plugins`` entry is harmless: the
fixtures share one Azurite process however often they are registered.
"""

from tests.support.fixtures import azurite, queue_host, storage_names

__all__ = ["azurite", "queue_host", "storage_names"]
