"""What indexing the app imports: the heavy SDKs wait for the invocation that needs them.

The Functions host imports ``function_app`` on every cold start, before the first request is
served. The Graph SDK, azure-identity (with msal, requests and cryptography), the Table Storage
SDK, httpx, PyJWT and libphonenumber are each paid by the first call that uses them instead.
The benchmark (``make bench``) measures the time; this test holds the rule that keeps it low.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.paths import REPO_ROOT

DEFERRED = (
    "azure.identity",
    "azure.data.tables",
    "azure.core",
    "msal",
    "msgraph",
    "kiota_http",
    "httpx",
    "jwt",
    "cryptography",
    "phonenumbers",
)


def test_indexing_the_app_leaves_the_sdks_for_first_use():
    probe = (
        "import json, sys\n"
        "import function_app\n"
        "assert function_app.app.get_functions()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(done.stdout))
    early = sorted(
        name for name in loaded for root in DEFERRED if name == root or name.startswith(root + ".")
    )
    assert early == [], f"imported while indexing: {early}"
    assert "azure.functions" in loaded  # the probe saw the modules it imported
