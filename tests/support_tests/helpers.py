"""Small builders shared by the support tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_host_json(directory: Path, queues: dict[str, Any] | None) -> Path:
    """A host.json with the given ``extensions.queues`` section (none when ``None``)."""
    document: dict[str, Any] = {"version": "2.0"}
    if queues is not None:
        document["extensions"] = {"queues": queues}
    path = directory / "host.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
