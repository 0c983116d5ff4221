"""Reading the Bicep templates without the Bicep compiler: pycep-parser's JSON view of them.

pycep renders a literal string and a reference to a parameter or variable the same way (the
name, unquoted), and keeps interpolated strings as their source text, so the helpers here only
ask questions that survive that: names, literal GUIDs, which keys are set.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pycep import BicepParser

from tests.support.paths import REPO_ROOT

INFRA = REPO_ROOT / "infra"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    tree = BicepParser().parse(file_path=path)
    assert isinstance(tree, dict)
    return dict(tree)


def template(relative: str) -> dict[str, Any]:
    return parse(INFRA / relative)


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's body, without the wrappers of ``if (...)`` and ``[for ...]``."""
    config: dict[str, Any] = resource["config"]
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


def resources_of_type(tree: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in tree.get("resources", {}).items() if r["type"] == kind}


def app_settings(tree: dict[str, Any]) -> dict[str, Any]:
    """Name -> value of the app settings of the template's one Function App."""
    (site,) = resources_of_type(tree, "Microsoft.Web/sites").values()
    entries = body(site)["properties"]["siteConfig"]["appSettings"]
    return {entry["name"]: entry["value"] for entry in entries}
