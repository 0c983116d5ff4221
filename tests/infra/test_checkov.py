"""checkov's Bicep checks over the templates: no failed check, every skip with a reason.

checkov ships its own, older Bicep parser, which predates the ``extension`` keyword, so the
templates that declare one (the Graph and Verified ID permissions) cannot be scanned; no
checkov check covers Microsoft Graph resources anyway. Those files are left out by name and
proven to be only the ones with an extension; every other file must parse, because checkov
reports a file it could not parse as a "parsing error" yet still exits 0.

checkov runs from its own virtual environment (``make test`` creates ``.venv-checkov``); the
``CHECKOV`` environment variable points at its executable.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.bicep import INFRA, bicep_files, parse
from tests.support.paths import REPO_ROOT

DEFAULT_CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def checkov_executable() -> Path:
    path = Path(os.environ.get("CHECKOV", DEFAULT_CHECKOV))
    if not path.exists():
        pytest.fail(f"checkov not found at {path}: run `make .venv-checkov/.installed`")
    return path


def with_extension(path: Path) -> bool:
    return bool(parse(path).get("extensions"))


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    scanned = [p for p in bicep_files() if not with_extension(p)]
    command = [str(checkov_executable()), "--framework", "bicep", "--skip-download", "-o", "json"]
    for path in scanned:
        command += ["-f", str(path)]
    result = subprocess.run(  # our own arguments, no shell
        command, capture_output=True, text=True, timeout=600, check=False, cwd=REPO_ROOT
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    parsed = json.loads(result.stdout)
    reports = parsed if isinstance(parsed, list) else [parsed]
    (bicep,) = [r for r in reports if r.get("check_type", "bicep") == "bicep"]
    return dict(bicep)


def test_only_the_graph_extension_template_is_left_out():
    left_out = [p.relative_to(INFRA).as_posix() for p in bicep_files() if with_extension(p)]
    assert left_out == ["app/graph-permissions.bicep", "app/verified-id-permissions.bicep"]


def test_checkov_parses_every_scanned_template(report: dict[str, Any]):
    assert report["summary"]["parsing_errors"] == 0, report["results"]["parsing_errors"]


def test_checkov_finds_no_failed_check(report: dict[str, Any]):
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    # It really looked: the storage account, the site and the plan were checked.
    # "resource" is "<type>.<symbol>", e.g. "Microsoft.Web/sites.site".
    resources = {c["resource"].rsplit(".", 1)[0] for c in report["results"]["passed_checks"]}
    assert {"Microsoft.Storage/storageAccounts", "Microsoft.Web/sites"} <= resources
    assert report["summary"]["passed"] >= 15


def test_every_skipped_check_says_why(report: dict[str, Any]):
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the templates carry inline skips; none seen means the scan missed them"
    for check in skipped:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']} has no reason"
