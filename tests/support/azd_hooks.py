"""Running azure.yaml's hooks the way azd runs them, against the azd stand-in.

What azd does around a hook, and so what this module does (Azure/azure-dev, cli/azd/pkg/ext/
hooks_runner.go, pkg/exec/command_runner.go, pkg/infra/provisioning/bicep/bicep_provider.go):

- an inline hook becomes a script with ``#!/bin/sh`` and ``set -e`` on top;
- before and after each hook it reloads the environment's ``.env``;
- the hook's process environment is azd's own environment with the ``.env`` values on top;
- `azd up` runs ``preup`` before it resolves the template's parameters (where a missing one is
  a prompt, or with ``--no-prompt`` an error), then ``preprovision`` in its provision step;
- a parameter mapped in main.parameters.json to ``${VAR}`` takes ``VAR`` from the ``.env``, else
  from azd's environment; ``${VAR=default}`` falls back to the default; a mapping to an unset
  variable counts as no value.

A project here is a temporary copy of azure.yaml and infra/hooks with its own ``.azure`` folder,
so nothing is written to the repository.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.azd_standin import read_dotenv, write_dotenv
from tests.support.bicep import INFRA, template
from tests.support.paths import REPO_ROOT

STANDIN = Path(__file__).with_name("azd_standin.py")
MAPPING = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?P<default>[^}]*))?\}")


@dataclass
class Project:
    """A copy of the project's azd files, an azd environment, and the stand-in on PATH."""

    root: Path
    name: str
    log: Path
    bin: Path
    outputs: list[str] = field(default_factory=list)

    @property
    def dotenv(self) -> Path:
        return self.root / ".azure" / self.name / ".env"

    def values(self) -> dict[str, str]:
        return read_dotenv(self.dotenv)

    def set(self, **values: str) -> None:
        write_dotenv(self.dotenv, {**self.values(), **values})

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def process_env(self, **extra: str) -> dict[str, str]:
        """azd's own environment: a clean one (no CI marker unless a test adds it)."""
        return {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "AZD_STANDIN_LOG": str(self.log),
            **extra,
        }

    def azd(self, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """The stand-in run from the project, as an operator would in a terminal."""
        return subprocess.run(  # our own arguments, no shell
            ["azd", *arguments],
            cwd=self.root,
            env=self.process_env(**extra),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def new_project(tmp_path: Path, name: str = "mfa-reset-test") -> Project:
    root = tmp_path / "project"
    (root / "infra").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "azure.yaml", root / "azure.yaml")
    shutil.copytree(INFRA / "hooks", root / "infra" / "hooks")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    azd = bin_dir / "azd"
    azd.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    azd.chmod(0o755)
    (root / ".azure").mkdir()
    (root / ".azure" / "config.json").write_text(json.dumps({"defaultEnvironment": name}))
    project = Project(root=root, name=name, log=tmp_path / "azd-calls.jsonl", bin=bin_dir)
    # What `azd env new` and the location prompt leave in a new environment.
    write_dotenv(project.dotenv, {"AZURE_ENV_NAME": name, "AZURE_LOCATION": "westeurope"})
    return project


def posix_hook(name: str) -> dict[str, Any]:
    hooks = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text())["hooks"]
    hook: dict[str, Any] = hooks[name]["posix"]
    return hook


def run_hook(
    project: Project, name: str, process: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """One hook as azd runs it: azd's environment with the freshly read .env values on top."""
    hook = posix_hook(name)
    assert hook["shell"] == "sh"
    # azd writes an inline hook to a script with this header (pkg/ext/models.go,
    # createTempScript) and runs it.
    script = project.root.parent / f"azd-{name}.sh"
    script.write_text(f"#!/bin/sh\nset -e\n\n# Auto generated file\n{hook['run']}\n")
    result = subprocess.run(  # the hook's own command line, as azd runs an inline hook
        ["sh", str(script)],
        cwd=project.root,
        env={**process, **project.values()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    project.outputs += [result.stdout, result.stderr]
    return result


def required_parameters() -> set[str]:
    return {n for n, p in template("main.bicep")["parameters"].items() if p.get("default") is None}


def resolve_parameters(project: Project, process: dict[str, str]) -> dict[str, str]:
    """main.parameters.json as azd resolves it: parameters with a value, mapped ones only."""
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    values = {**process, **project.values()}  # the .env first, then azd's environment
    resolved: dict[str, str] = {}
    for parameter, entry in mapped.items():
        match = MAPPING.fullmatch(str(entry["value"]))
        assert match, f"{parameter} is not mapped to one variable"
        value = values.get(match["name"]) or match["default"]
        if value:
            resolved[parameter] = value
    return resolved


def missing_parameters(project: Project, process: dict[str, str]) -> set[str]:
    """What azd would prompt for, or with --no-prompt refuse to deploy without."""
    return required_parameters() - set(resolve_parameters(project, process))


def azd_up(project: Project, process: dict[str, str]) -> dict[str, str]:
    """`azd up --no-prompt` up to the deployment: preup, the parameters, preprovision, the
    parameters again (the deployment's). Fails the test at the step azd would fail at."""
    first = run_hook(project, "preup", process)
    assert first.returncode == 0, first.stdout + first.stderr
    assert missing_parameters(project, process) == set(), "azd up would prompt here"
    second = run_hook(project, "preprovision", process)
    assert second.returncode == 0, second.stdout + second.stderr
    assert missing_parameters(project, process) == set()
    return resolve_parameters(project, process)


def azd_provision(project: Project, process: dict[str, str]) -> dict[str, str]:
    """`azd provision --no-prompt`: preprovision, then the parameters."""
    result = run_hook(project, "preprovision", process)
    assert result.returncode == 0, result.stdout + result.stderr
    assert missing_parameters(project, process) == set(), "azd provision would prompt here"
    return resolve_parameters(project, process)
