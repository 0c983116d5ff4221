"""Write the Power Platform connector definition (``connector/``) from the models and routes.

``make connector`` runs it after a change to the request or outcome models or to the HTTP
routes; the tests fail until it has. It indexes the function app as the Functions host does and
refuses to write a definition whose operations are not exactly the app's HTTP routes. With
``--check`` it writes nothing and exits 1 when the committed files are out of date.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.connector import (  # noqa: E402 (the repository root goes on the path first)
    api_definition,
    api_properties,
    check_routes,
    render,
    served_routes,
)

CONNECTOR_DIR = ROOT / "connector"
DEFINITION_FILE = CONNECTOR_DIR / "apiDefinition.swagger.json"
PROPERTIES_FILE = CONNECTOR_DIR / "apiProperties.json"


def route_prefix() -> str:
    """host.json's HTTP route prefix ("api" unless it says otherwise)."""
    host = json.loads((ROOT / "host.json").read_text())
    prefix: str = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return prefix


def generated() -> dict[Path, str]:
    """What the connector files must contain, checked against the indexed app's routes."""
    import function_app

    check_routes(served_routes(function_app.app.get_functions()), route_prefix())
    return {DEFINITION_FILE: render(api_definition()), PROPERTIES_FILE: render(api_properties())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    files = generated()
    stale = [path for path, text in files.items() if _read(path) != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run `make connector`")
        return 1 if stale else 0
    CONNECTOR_DIR.mkdir(exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        state = "written" if path in stale else "unchanged"
        print(f"{path.relative_to(ROOT)}: {state}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
