"""A stand-in for the `azd` executable, for the tests of the deployment hooks.

No azd can run here (it needs a signed-in Azure account), and what the hooks must survive is
azd's own behaviour at the command line, so this script reproduces the commands they could use,
as azd 1.18 and later do them (Azure/azure-dev, cli/azd/cmd/env.go, internal/env_flag.go,
cmd/middleware/ux.go):

- the environment is ``-e``/``--environment``, else ``AZURE_ENV_NAME`` (which azd puts in every
  environment's ``.env`` and so in every hook's environment), else ``.azure/config.json``'s
  ``defaultEnvironment``; the project is the nearest folder upwards with an ``azure.yaml``;
- ``env get-value KEY`` prints the value; for a missing key it prints
  ``ERROR: key 'KEY' not found in the environment values`` on **standard output** and exits 1;
- ``env set KEY VALUE`` and ``env set K=V [K=V ...]`` save the values to ``.env`` in one write;
  an argument starting with ``-`` is a flag to azd's command-line parser, not a value;
- ``env get-values`` prints ``KEY="value"`` lines.

Every call is appended, one JSON line each, to the file ``AZD_STANDIN_LOG`` names (when set), so
a test can see what a hook asked of azd. Run as a script: ``python azd_standin.py env ...``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NOT_FOUND = "key '{key}' not found in the environment values"


def read_dotenv(path: Path) -> dict[str, str]:
    """The ``KEY="value"`` lines azd writes (godotenv), quotes removed."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def write_dotenv(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f'{name}="{value}"' for name, value in sorted(values.items())]
    path.write_text("".join(f"{line}\n" for line in lines))


def project_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "azure.yaml").exists():
            return folder
    raise SystemExit(fail("no project found (azure.yaml)"))


def fail(message: str) -> int:
    # azd writes its errors with the console, which is standard output.
    print(f"\nERROR: {message}")
    return 1


def environment_name(root: Path, flag: str | None) -> str | None:
    if flag:
        return flag
    if os.environ.get("AZURE_ENV_NAME"):
        return os.environ["AZURE_ENV_NAME"]
    config = root / ".azure" / "config.json"
    if config.exists():
        name = json.loads(config.read_text()).get("defaultEnvironment")
        return str(name) if name else None
    return None


def parse(arguments: list[str]) -> tuple[list[str], str | None]:
    """Positional arguments and the environment flag; other flags are errors, like cobra's."""
    positional: list[str] = []
    flag: str | None = None
    items = iter(arguments)
    for item in items:
        if item in ("-e", "--environment"):
            flag = next(items, None)
        elif item.startswith("--environment="):
            flag = item.split("=", 1)[1]
        elif item.startswith("-") and item != "-":
            raise SystemExit(fail(f"unknown shorthand flag: {item!r}"))
        else:
            positional.append(item)
    return positional, flag


def log(arguments: list[str]) -> None:
    target = os.environ.get("AZD_STANDIN_LOG")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(arguments) + "\n")


def env_set(dotenv: Path, positional: list[str]) -> int:
    if len(positional) == 2 and "=" not in positional[0]:
        pairs = {positional[0]: positional[1]}
    elif positional:
        pairs = {}
        for item in positional:
            if "=" not in item:
                return fail(f"invalid key=value pair: {item!r}")
            name, value = item.split("=", 1)
            pairs[name] = value
    else:
        return fail("no environment values provided")
    write_dotenv(dotenv, {**read_dotenv(dotenv), **pairs})
    return 0


def main(arguments: list[str]) -> int:
    log(arguments)
    if arguments[:1] != ["env"] or len(arguments) < 2:
        return fail(f"the stand-in knows only `azd env ...`, not {arguments!r}")
    command = arguments[1]
    positional, flag = parse(arguments[2:])
    root = project_root(Path.cwd())
    name = environment_name(root, flag)
    if not name:
        return fail("no default environment set")
    dotenv = root / ".azure" / name / ".env"
    if not dotenv.exists():
        return fail(f"environment '{name}' does not exist")
    values = read_dotenv(dotenv)
    if command == "get-value":
        if len(positional) != 1:
            return fail("no key name provided")
        if positional[0] not in values:
            return fail(NOT_FOUND.format(key=positional[0]))
        print(values[positional[0]])
        return 0
    if command == "get-values":
        for key, value in sorted(values.items()):
            print(f'{key}="{value}"')
        return 0
    if command == "set":
        return env_set(dotenv, positional)
    return fail(f"unknown command 'env {command}'")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
