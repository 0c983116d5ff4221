"""Reading the audit events a test run emitted out of pytest's captured log records."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from shared.audit import AUDIT_PREFIX


def audit_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """Each event as logged, with the record's level name under ``_level``."""
    events = []
    for record in caplog.records:
        message = record.getMessage()
        if record.name == "mfa_reset.audit" and message.startswith(AUDIT_PREFIX + " "):
            event: dict[str, Any] = json.loads(message[len(AUDIT_PREFIX) + 1 :])
            event["_level"] = logging.getLevelName(record.levelno)
            event["_dimensions"] = {k: v for k, v in vars(record).items() if k.startswith("audit_")}
            events.append(event)
    return events
