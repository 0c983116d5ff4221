"""How the stand-in reads host.json's queue settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.functions_host import QueueSettings, parse_timespan
from tests.support.paths import HOST_JSON
from tests.support_tests.helpers import write_host_json


def test_defaults_apply_when_host_json_has_no_queue_section(tmp_path: Path) -> None:
    settings = QueueSettings.from_host_json(write_host_json(tmp_path, None))
    assert settings == QueueSettings(
        max_dequeue_count=5,
        message_encoding="base64",
        visibility_timeout_seconds=0.0,
        batch_size=16,
    )


def test_values_are_read_from_the_queue_section(tmp_path: Path) -> None:
    path = write_host_json(
        tmp_path,
        {
            "maxDequeueCount": 3,
            "messageEncoding": "None",
            "visibilityTimeout": "00:00:30",
            "batchSize": 4,
            "maxPollingInterval": "00:00:02",
        },
    )
    assert QueueSettings.from_host_json(path) == QueueSettings(
        max_dequeue_count=3,
        message_encoding="none",
        visibility_timeout_seconds=30.0,
        batch_size=4,
    )


def test_the_repository_host_json_is_readable() -> None:
    settings = QueueSettings.from_host_json(HOST_JSON)
    assert settings.max_dequeue_count >= 1
    assert settings.message_encoding in ("base64", "none")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:00", 0.0),
        ("00:00:30", 30.0),
        ("00:01:00", 60.0),
        ("01:02:03", 3723.0),
        ("1.00:00:01", 86401.0),
        ("00:00:01.5", 1.5),
        ("00:10", 600.0),
    ],
)
def test_timespans(text: str, seconds: float) -> None:
    assert parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["30", "30s", "PT30S", "", "00:00:00:00"])
def test_malformed_timespans_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="TimeSpan"):
        parse_timespan(text)


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ({"messageEncoding": "utf8"}, "messageEncoding"),
        ({"maxDequeueCount": 0}, "maxDequeueCount"),
        ({"batchSize": 64}, "batchSize"),
        ({"visibilityTimeout": "soon"}, "TimeSpan"),
    ],
)
def test_invalid_settings_are_rejected(
    tmp_path: Path, queues: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        QueueSettings.from_host_json(write_host_json(tmp_path, queues))
