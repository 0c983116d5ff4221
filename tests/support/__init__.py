"""Test support: a real storage emulator (Azurite) and a stand-in for the parts of the
Functions host the app relies on but that cannot run here (the queue trigger's polling,
retries and poison queue, and the output-binding and timer objects the worker passes in).

Suites register the fixtures with ``pytest_plugins = ["tests.support.fixtures"]``.
"""

from emulator.azurite import Azurite, AzuriteError
from tests.support.bindings import Out, OutNotSetError, TimerStub
from tests.support.functions_host import QueueHost, QueueRunReport, QueueSettings

__all__ = [
    "Azurite",
    "AzuriteError",
    "Out",
    "OutNotSetError",
    "QueueHost",
    "QueueRunReport",
    "QueueSettings",
    "TimerStub",
]
