"""The Windows signing-key hook parses, stays within Windows PowerShell 5.1, and matches the sh one.

PowerShell cannot run here (no package of it in this project's registries), so the hook is
checked by parsing: tree-sitter's PowerShell grammar finds syntax errors (it rejects ``??``,
``?.`` and the ternary outright, and marks ``&&``/``||`` chains), a walk of the tree finds the
.NET Core only call the old hook used, and the decisions (variables read, values written, the
messages it stops with) are held equal to those of signing-key.sh, which the azd stand-in runs.
What parsing cannot show, how the cmdlets behave, rests on both hooks doing the same few things.
"""

from __future__ import annotations

import re

import tree_sitter_powershell
import yaml
from tree_sitter import Language, Node, Parser

from tests.support.bicep import INFRA
from tests.support.paths import REPO_ROOT

PS1 = INFRA / "hooks" / "signing-key.ps1"
SH = INFRA / "hooks" / "signing-key.sh"
# Windows PowerShell 5.1 runs on .NET Framework, which has no static GetBytes(int); this line
# from the old inline hook set no key there.
OLD_HOOK_LINE = "$bytes = [System.Security.Cryptography.RandomNumberGenerator]::GetBytes(48)"
POWERSHELL_7_ONLY = {"&&", "||", "pipeline_chain_tail"}


def parse(source: str) -> Node:
    parser = Parser(Language(tree_sitter_powershell.language()))
    return parser.parse(source.encode()).root_node


def nodes(root: Node) -> list[Node]:
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return found


def problems(source: str) -> list[str]:
    """Why a script would fail to parse or run on Windows PowerShell 5.1, by the tree."""
    found = []
    for node in nodes(parse(source)):
        text = (node.text or b"").decode()
        if node.type == "ERROR" or node.is_missing:
            found.append(f"syntax error at line {node.start_point[0] + 1}: {text[:40]!r}")
        elif node.type in POWERSHELL_7_ONLY:
            found.append(f"PowerShell 7 only: {text[:40]!r}")
        elif node.type == "invokation_expression" and re.search(r"\]::GetBytes\(", text):
            found.append(f"static GetBytes is .NET Core only: {text!r}")
    return found


def test_the_windows_hook_parses_and_needs_nothing_newer_than_powershell_5_1():
    assert problems(PS1.read_text()) == []


def test_the_check_catches_what_broke_the_old_hook_and_powershell_7_syntax():
    assert problems(OLD_HOOK_LINE)
    for line in ("$a = $b ?? 'c'", "$x = $a ? 1 : 2", "azd env list && exit 0", "$a?.b"):
        assert problems(line), line


def test_azure_yaml_runs_it_on_windows_with_pwsh():
    hooks = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text())["hooks"]
    for name in ("preup", "preprovision"):
        assert hooks[name]["windows"] == {"shell": "pwsh", "run": "./infra/hooks/signing-key.ps1"}
        assert hooks[name]["posix"] == {"shell": "sh", "run": "sh ./infra/hooks/signing-key.sh"}


def _messages(text: str, call: str, interpolation: str) -> set[str]:
    found = re.findall(rf"{call} ([\"'])(.*?)\1", text)
    return {re.sub(interpolation, "<value>", message) for _, message in found}


def test_both_hooks_make_the_same_decisions():
    sh, ps1 = SH.read_text(), PS1.read_text()
    # The variables read.
    sh_vars = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", sh))
    ps1_vars = set(re.findall(r"\$env:([A-Z][A-Z0-9_]+)", ps1))
    assert sh_vars == ps1_vars
    assert {"WORK_ITEM_SIGNING_KEY", "WORK_ITEM_SIGNING_KEY_PREVIOUS", "AZURE_ENV_NAME"} <= ps1_vars
    # The values written, one `azd env set` each time.
    written = r"(WORK_ITEM_SIGNING_KEY\w*)="
    sh_lines = re.findall(r"^\s*azd env set .*$", sh, re.M)
    ps1_lines = re.findall(r"^\s*Set-AzdValues @\(.*$", ps1, re.M)
    sh_sets = [re.findall(written, line) for line in sh_lines]
    ps1_sets = [re.findall(written, line) for line in ps1_lines]
    assert sh_sets == ps1_sets and len(sh_sets) == 2
    # The reasons it stops, word for word apart from the interpolated values.
    sh_stops = _messages(sh, "fail", r"\$\{?[#?\w]+\}?")
    ps1_stops = _messages(ps1, "Stop-Hook", r"\$\((?:[^()]|\([^()]*\))*\)|\$\w+")
    assert sh_stops == ps1_stops and len(sh_stops) >= 5


def test_the_windows_hook_makes_its_key_from_32_random_bytes():
    ps1 = PS1.read_text()
    assert "[System.Security.Cryptography.RandomNumberGenerator]::Create()" in ps1
    assert "New-Object 'System.Byte[]' 32" in ps1 and "ToString('x2')" in ps1
    assert "get-value" not in ps1.split("$ErrorActionPreference", 1)[1]
