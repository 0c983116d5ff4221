"""Where the project's own files are, found from this package rather than the working
directory, so the helpers behave the same whether pytest runs from the root or elsewhere."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST_JSON = REPO_ROOT / "host.json"
