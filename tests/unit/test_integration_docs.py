"""The worked integration examples (``docs/integrations/``) hold to the app, block by block.

A fenced code block takes part in the checks through its info string, the words after the
opening fence (GitHub highlights by the first word and ignores the rest):

=============================  ==========================================================
info string                    checked
=============================  ==========================================================
``json request``               a request body exactly as the platform sends it, with
                               realistic values: ``ResetRequest.model_validate_json``
``json request-template``      the same body as the platform's designer holds it, its
                               placeholders inside JSON strings (Jira smart values
                               ``{{...}}``, Power Automate expressions ``@{...}``): valid
                               JSON, and the next ``json request`` block of the document is
                               its example: the same keys at every level, every string
                               either equal to the example's or holding a placeholder
``json callback``              a completion callback: ``definitions.ResetCallback`` of
                               ``connector/apiDefinition.swagger.json`` (Swagger 2.0 read as
                               JSON Schema draft 4: ``x-nullable`` admits null, objects admit
                               only the members they document), and the app's own models:
                               every key one ``status_view`` produces, ``event`` a
                               ``CallbackEvent`` matching ``status``
``json status``                a status read's body: ``definitions.StatusView``, and the same
                               models without ``event``
``json signature-example``     a Standard Webhooks test vector: the signature recomputed
                               with HMAC-SHA256 and with the library the app signs with; its
                               body is a callback as the app sends it (compact JSON)
``text app-settings``          ``NAME=value`` lines: every name an app setting, the values
                               accepted by ``Settings``, and every callback URL and host the
                               document shows admitted by its ``CALLBACK_ALLOWED_HOSTS``
``javascript servicenow``      ServiceNow server script: ES5 only (global scripts, and scoped
                               ones without ECMAScript 2021 mode, run nothing newer), parses
                               under ``node --check``; the ``MfaResetWebhook`` Script
                               Include runs under node, ``CertificateEncryption`` stood in by
                               node's crypto, against the test vector and forgeries of it
=============================  ==========================================================

Any other ``json`` block fails (an example nobody checks drifts), each document needs at least
one request and one callback block, and every UPPER_SNAKE word in a document is an app setting
(``ENVIRONMENT_NAMES``), a host setting the README documents, an azd variable or output that
``infra/`` defines, or one of the words that are not settings (``NOT_SETTINGS``, and incident
numbers, Entra error codes and ISO 8601 durations by pattern).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft4Validator
from pydantic import SecretStr, ValidationError
from standardwebhooks.webhooks import Webhook

from shared.ledger import ResetStatus
from shared.models import (
    CallbackEvent,
    CallbackView,
    Outcome,
    RegisteredMethod,
    ResetRequest,
    Step,
)
from shared.models.callback import check_webhook_secret
from shared.models.outcome import GraphErrorInfo, UserRef
from shared.reset.callbacks import host_allowed
from shared.settings import ENVIRONMENT_NAMES, Settings, SettingsError
from tests.support.swagger import json_schema

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "integrations"
DOCUMENTS = ("power-automate.md", "servicenow.md", "jira-service-management.md")
CONNECTOR_DEFINITION = ROOT / "connector" / "apiDefinition.swagger.json"

JSON_ROLES = {"request", "request-template", "callback", "status", "signature-example"}
# Host settings the README documents beside the app's own (the Functions host and App Service
# read them; shared.settings does not).
HOST_SETTINGS = {"IDENTITY_ENDPOINT", "IDENTITY_HEADER"}
# UPPER_SNAKE words in the documents that are not settings.
NOT_SETTINGS = {"HMAC", "SHA256", "JSON", "HTTP", "HTTPS", "POST", "GET", "ASCII", "REST", "README"}
# Incident numbers, Entra error codes and ISO 8601 durations in the examples.
NOT_SETTING_PATTERN = re.compile(r"^(?:INC\d{7}|AADSTS\d+|PT\d+[HMS])$")
UPPER_WORD = re.compile(r"(?<![A-Za-z0-9_$.])[A-Z][A-Z0-9_]{3,}(?![A-Za-z0-9_])")
PLACEHOLDER = re.compile(r"\{\{.+?\}\}|@\{.+?\}")
# Status reads show the outcome's fields and these; a callback adds "event".
STATUS_VIEW_KEYS = set(Outcome.model_fields) | {
    "status",
    "attempts",
    "accepted_at",
    "finished_at",
    "detail",
    "callback",
}
TIMESTAMPS = ("started_at", "finished_at", "accepted_at", "sessions_revoked_at")
ES6_ONLY = {
    "let": re.compile(r"\blet\s"),
    "const": re.compile(r"\bconst\s"),
    "arrow function": re.compile(r"=>"),
    "template literal": re.compile(r"`"),
    "class": re.compile(r"\bclass\s+[A-Za-z_]"),
}


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    language: str
    role: str
    text: str

    def where(self) -> str:
        return f"{self.document}:{self.line} ({self.language} {self.role})".rstrip()


_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def fenced_blocks(document: str, text: str) -> list[Block]:
    """Every fenced block of a Markdown text, indentation (a block in a list item) removed."""
    found = []
    for match in _FENCE.finditer(text):
        words = match["info"].split()
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        found.append(
            Block(
                document=document,
                line=text.count("\n", 0, match.start()) + 1,
                language=words[0] if words else "",
                role=" ".join(words[1:]),
                text=body,
            )
        )
    return found


def read(document: str) -> str:
    path = DOCS / document
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return path.read_text(encoding="utf-8")


def blocks(document: str, language: str | None = None, role: str | None = None) -> list[Block]:
    return [
        b
        for b in fenced_blocks(document, read(document))
        if (language is None or b.language == language) and (role is None or b.role == role)
    ]


def all_blocks(language: str, role: str) -> list[Block]:
    return [b for document in DOCUMENTS for b in blocks(document, language, role)]


def loads(block: Block) -> Any:
    try:
        return json.loads(block.text)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{block.where()}: not JSON ({exc})") from None


# --- the published schema ------------------------------------------------------------------


def published_errors(definition_name: str, value: Any) -> list[str]:
    """Where ``value`` breaks ``definitions.<definition_name>`` of the connector definition."""
    assert CONNECTOR_DEFINITION.is_file(), "connector/apiDefinition.swagger.json is missing"
    definition = json.loads(CONNECTOR_DEFINITION.read_text(encoding="utf-8"))
    definitions = definition.get("definitions", {})
    assert definition_name in definitions, f"the connector publishes no {definition_name}"
    root = {
        "$ref": f"#/definitions/{definition_name}",
        "definitions": json_schema(definitions),
    }
    validator = Draft4Validator(root, format_checker=Draft4Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
        for e in validator.iter_errors(value)
    ]


# --- what the app produces -----------------------------------------------------------------


def _unknown(value: dict[str, Any], allowed: set[str], where: str) -> list[str]:
    return [f"{where}: {key} is not a field the app sends" for key in sorted(set(value) - allowed)]


def _model_errors(model: Any, value: Any, where: str) -> list[str]:
    try:
        model.model_validate(value)
    except ValidationError as exc:
        return [f"{where}: {exc.errors()[0]['msg']}"]
    return []


def produced_errors(body: Any, *, callback: bool) -> list[str]:
    """Where ``body`` is not something the app's status view (plus ``event``) produces."""
    if not isinstance(body, dict):
        return ["(body): not an object"]
    errors = _unknown(body, STATUS_VIEW_KEYS | ({"event"} if callback else set()), "(body)")
    for key in ("id", "ticket_id", "status", "steps", "attempts", "accepted_at"):
        if key not in body:
            errors.append(f"(body): {key} is missing; every status read has it")
    status = body.get("status")
    if status not in {s.value for s in ResetStatus}:
        errors.append(f"status: {status!r} is not a reset status")
    if callback:
        event = body.get("event")
        if event not in {e.value for e in CallbackEvent}:
            errors.append(f"event: {event!r} is not a CallbackEvent")
        elif event != f"reset.{status}":
            errors.append(f"event: {event} does not go with status {status}")
        if body.get("temporary_access_pass") is not None:
            errors.append("temporary_access_pass: a callback never carries a pass")
    if body.get("user") is not None:
        errors += _unknown(body["user"], set(UserRef.model_fields), "user")
        errors += _model_errors(UserRef, body["user"], "user")
    for i, step in enumerate(body.get("steps") or []):
        errors += _unknown(step, set(Step.model_fields), f"steps/{i}")
        errors += _model_errors(Step, step, f"steps/{i}")
        if step.get("error") is not None:
            errors += _unknown(step["error"], set(GraphErrorInfo.model_fields), f"steps/{i}/error")
    for i, method in enumerate(body.get("remaining_methods") or []):
        errors += _unknown(method, set(RegisteredMethod.model_fields), f"remaining_methods/{i}")
        errors += _model_errors(RegisteredMethod, method, f"remaining_methods/{i}")
    if body.get("callback") is not None:
        errors += _model_errors(CallbackView, body["callback"], "callback")
    for key in TIMESTAMPS:
        if body.get(key) is not None:
            try:
                datetime.fromisoformat(body[key])
            except (TypeError, ValueError):
                errors.append(f"{key}: {body[key]!r} is not an ISO 8601 time")
    return errors


# --- app settings ----------------------------------------------------------------------------


def settings_of(block: Block) -> dict[str, str]:
    values = {}
    for line in block.text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{block.where()}: {line!r} is not NAME=value"
        values[name.strip()] = value.strip()
    return values


def allowed_hosts(document: str) -> tuple[str, ...]:
    hosts: tuple[str, ...] = ()
    for block in blocks(document, "text", "app-settings"):
        hosts += Settings.from_environ(settings_of(block)).callback_allowed_hosts
    return hosts


def infra_names() -> set[str]:
    """Variables azd reads (infra/main.parameters.json) and outputs it prints (main.bicep)."""
    parameters = (ROOT / "infra" / "main.parameters.json").read_text(encoding="utf-8")
    bicep = (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", parameters)) | set(
        re.findall(r"^output ([A-Z][A-Z0-9_]*) ", bicep, re.MULTILINE)
    )


def unknown_names(text: str) -> set[str]:
    """UPPER_SNAKE words that are neither settings nor on the list of other words."""
    known = set(ENVIRONMENT_NAMES) | HOST_SETTINGS | infra_names() | NOT_SETTINGS
    return {
        word
        for word in UPPER_WORD.findall(text)
        if word not in known and not NOT_SETTING_PATTERN.match(word)
    }


# --- templates -------------------------------------------------------------------------------


def template_errors(template: Any, example: Any, path: str = "") -> list[str]:
    """Where a template and its example differ other than by a placeholder."""
    where = path or "(body)"
    if isinstance(template, dict) and isinstance(example, dict):
        if set(template) != set(example):
            return [f"{where}: keys {sorted(template)} != {sorted(example)}"]
        return [
            e for k in template for e in template_errors(template[k], example[k], f"{path}/{k}")
        ]
    if isinstance(template, str) and PLACEHOLDER.search(template):
        return [] if isinstance(example, str) else [f"{where}: the example is not a string"]
    if template != example:
        return [f"{where}: {template!r} != {example!r} and holds no placeholder"]
    return []


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_json_block_says_what_it_is(document: str):
    roles = [b.role for b in blocks(document, "json")]
    unlabelled = [b.where() for b in blocks(document, "json") if b.role not in JSON_ROLES]
    assert unlabelled == [], f"label these json blocks with one of {sorted(JSON_ROLES)}"
    assert "request" in roles, f"{document} shows no request body"
    assert "callback" in roles, f"{document} shows no callback body"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_request_bodies_are_valid_requests(document: str):
    for block in blocks(document, "json", "request"):
        try:
            ResetRequest.model_validate_json(block.text)
        except ValidationError as exc:
            pytest.fail(f"{block.where()}: {exc}")


@pytest.mark.parametrize("document", DOCUMENTS)
def test_request_templates_differ_from_their_examples_only_by_placeholders(document: str):
    json_blocks = blocks(document, "json")
    for i, block in enumerate(json_blocks):
        if block.role != "request-template":
            continue
        example = next((b for b in json_blocks[i + 1 :] if b.role == "request"), None)
        assert example is not None, f"{block.where()}: no json request example follows"
        template = loads(block)
        assert PLACEHOLDER.search(block.text), f"{block.where()}: a template without placeholders"
        assert template_errors(template, loads(example)) == [], block.where()


@pytest.mark.parametrize("document", DOCUMENTS)
def test_callback_bodies_match_the_published_schema_and_the_app(document: str):
    for block in blocks(document, "json", "callback"):
        body = loads(block)
        assert published_errors("ResetCallback", body) == [], block.where()
        assert produced_errors(body, callback=True) == [], block.where()


@pytest.mark.parametrize("document", DOCUMENTS)
def test_status_bodies_match_the_published_schema_and_the_app(document: str):
    for block in blocks(document, "json", "status"):
        body = loads(block)
        assert published_errors("StatusView", body) == [], block.where()
        assert produced_errors(body, callback=False) == [], block.where()


def test_signature_examples_are_signed_as_the_app_signs():
    vectors = all_blocks("json", "signature-example")
    assert vectors, "no document gives a signature test vector"
    for block in vectors:
        vector = loads(block)
        secret, body = vector["secret"], vector["body"]
        webhook_id, timestamp = vector["webhook-id"], vector["webhook-timestamp"]
        assert check_webhook_secret(SecretStr(secret)) is not None, block.where()
        key = base64.b64decode(secret.removeprefix("whsec_"))
        mac = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
        assert vector["webhook-signature"] == "v1," + base64.b64encode(mac).decode(), block.where()
        signed_at = datetime.fromtimestamp(int(timestamp), UTC)
        assert Webhook(secret).sign(webhook_id, signed_at, body) == vector["webhook-signature"]
        # The body as the app sends it: compact JSON, ASCII, a callback of that reset and event.
        payload = json.loads(body)
        assert body == json.dumps(payload, separators=(",", ":")), block.where()
        assert body.isascii(), block.where()
        assert webhook_id == f"msg_{payload['id']}_{payload['status']}", block.where()
        assert published_errors("ResetCallback", payload) == [], block.where()
        assert produced_errors(payload, callback=True) == [], block.where()


@pytest.mark.parametrize("document", DOCUMENTS)
def test_app_settings_are_real_and_admit_the_documents_callbacks(document: str):
    for block in blocks(document, "text", "app-settings"):
        values = settings_of(block)
        assert set(values) - set(ENVIRONMENT_NAMES) == set(), block.where()
        try:
            Settings.from_environ(values)
        except SettingsError as exc:
            pytest.fail(f"{block.where()}: {exc}")
    hosts = allowed_hosts(document)
    urls = [
        loads(b).get("callback_url")
        for b in blocks(document, "json")
        if b.role in ("request", "request-template")
    ]
    called = [urlsplit(u).hostname or "" for u in urls if u]
    called += [
        loads(b)["callback"]["host"]
        for b in blocks(document, "json", "callback")
        if loads(b).get("callback")
    ]
    for host in called:
        assert host_allowed(host, hosts), f"{document}: {host} is not in CALLBACK_ALLOWED_HOSTS"
    if called:
        settings = {n for b in blocks(document, "text", "app-settings") for n in settings_of(b)}
        assert "CALLBACK_SIGNING_SECRET" in settings, f"{document}: callbacks need the secret"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_setting_the_document_names_exists(document: str):
    assert unknown_names(read(document)) == set()


def test_the_host_settings_allowed_are_the_ones_the_readme_documents():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {name for name in HOST_SETTINGS if f"`{name}`" in readme} == HOST_SETTINGS


def servicenow_scripts() -> list[Block]:
    scripts = all_blocks("javascript", "servicenow")
    assert scripts, "no ServiceNow script in the documents"
    return scripts


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("Node.js is not installed (make test installs it for Azurite)")
    return found


def code_only(script: str) -> str:
    """A script without its string literals and comments (near enough for spotting ES6)."""
    script = re.sub(r"'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"", "''", script)
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", script, flags=re.DOTALL)


def test_servicenow_scripts_are_es5_and_parse(tmp_path: Path):
    for block in servicenow_scripts():
        code = code_only(block.text)
        for construct, pattern in ES6_ONLY.items():
            assert not pattern.search(code), f"{block.where()}: {construct} is not ES5"
        script = tmp_path / f"line{block.line}.js"
        script.write_text(block.text, encoding="utf-8")
        checked = subprocess.run(
            [node(), "--check", str(script)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, f"{block.where()}: {checked.stderr}"


# CertificateEncryption.generateMac(key, algorithm, data), as documented: the key base64, the
# MAC returned in base64; and Class.create() as ServiceNow's Script Includes use it.
_SERVICENOW_STANDINS = """
var crypto = require('crypto');
var Class = { create: function () {
    return function () { this.initialize.apply(this, arguments); };
} };
function CertificateEncryption() {}
CertificateEncryption.prototype.generateMac = function (key, algorithm, data) {
    if (algorithm !== 'HmacSHA256') { throw new Error('unexpected algorithm ' + algorithm); }
    return crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(data, 'utf8')
        .digest('base64');
};
"""

_VERIFIER_CASES = """
var v = VECTOR;
var t = parseInt(v['webhook-timestamp'], 10);
var hook = new MfaResetWebhook(v.secret);
var check = function (body, signature, now, secret) {
    return new MfaResetWebhook(secret || v.secret)
        .verify(v['webhook-id'], v['webhook-timestamp'], signature, body, now);
};
var other = 'whsec_' + Buffer.from('another-secret-of-32-bytes-long!').toString('base64');
console.log(JSON.stringify({
    genuine: check(v.body, v['webhook-signature'], t + 60),
    genuineAmongOthers: check(v.body, 'v1,AAAA ' + v['webhook-signature'], t),
    sixMinutesLater: check(v.body, v['webhook-signature'], t + 360),
    sixMinutesEarlier: check(v.body, v['webhook-signature'], t - 360),
    bodyChanged: check(v.body.replace('refused', 'succeeded'), v['webhook-signature'], t),
    otherSecret: check(v.body, v['webhook-signature'], t, other),
    otherVersion: check(v.body, v['webhook-signature'].replace('v1,', 'v2,'), t),
    noSignature: check(v.body, '', t),
    note: hook.workNote(JSON.parse(v.body))
}));
"""


def test_the_servicenow_verifier_accepts_the_test_vector_and_nothing_else(tmp_path: Path):
    (include,) = [b for b in servicenow_scripts() if "var MfaResetWebhook = " in b.text]
    (vector_block,) = blocks("servicenow.md", "json", "signature-example")
    vector = loads(vector_block)
    script = tmp_path / "verify.js"
    script.write_text(
        _SERVICENOW_STANDINS + include.text + _VERIFIER_CASES.replace("VECTOR", json.dumps(vector)),
        encoding="utf-8",
    )
    ran = subprocess.run([node(), str(script)], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    note = result.pop("note")
    assert result == {
        "genuine": True,
        "genuineAmongOthers": True,
        "sixMinutesLater": False,
        "sixMinutesEarlier": False,
        "bodyChanged": False,
        "otherSecret": False,
        "otherVersion": False,
        "noSignature": False,
    }
    payload = json.loads(vector["body"])
    assert note.startswith(f"MFA reset {payload['status']} ({payload['event']})")
    assert payload["detail"] in note


def test_the_checks_see_what_they_are_for():
    """Each check fails on the mistake it is there for, so a passing run means something."""
    (block,) = blocks("servicenow.md", "json", "signature-example")
    good = json.loads(loads(block)["body"])
    assert published_errors("ResetCallback", good) == []
    assert produced_errors(good, callback=True) == []
    assert published_errors("ResetCallback", {**good, "extra": 1})
    assert produced_errors({**good, "extra": 1}, callback=True)
    assert published_errors("ResetCallback", {k: v for k, v in good.items() if k != "event"})
    assert produced_errors({**good, "event": "reset.succeeded"}, callback=True)
    assert produced_errors({**good, "status": "done"}, callback=True)
    assert produced_errors({**good, "steps": [{"action": "delete_method", "x": 1}]}, callback=True)
    assert template_errors({"user": "{{issue.key}}"}, {"user": "a@b.c"}) == []
    assert template_errors({"user": "{{issue.key}}", "mode": "sync"}, {"user": "a@b.c"})
    assert template_errors({"ticket_id": "HD-1"}, {"ticket_id": "HD-2"})
    assert unknown_names("set CALLBACK_ALLOWED_HOST and RESETS_PER_HOUR") == {
        "CALLBACK_ALLOWED_HOST"
    }
    assert not host_allowed("api-private.atlassian.com", ("*.atlassian.net",))
    assert ES6_ONLY["let"].search(code_only("let x = 1; // let it be"))
    assert not ES6_ONLY["let"].search(code_only("var x = 'let y'; // let it be"))
    fenced = fenced_blocks("x.md", 'a\n   ```json request\n   {"a": 1}\n   ```\n')
    assert [(b.language, b.role, b.text) for b in fenced] == [("json", "request", '{"a": 1}')]
