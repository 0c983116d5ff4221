"""The workbook and the alert rules agree with the code, with what Azure accepts, and with the docs.

Their queries are written once, as files under ``infra/queries``: the workbook and the alert rules
load them with ``loadTextContent`` and ``docs/monitoring.md`` shows them. Every field a query
reads from an audit event or a run summary, every event name and every ``detail`` prefix it
matches, is checked here against the code that writes them, so renaming one breaks a test rather
than a dashboard nobody looks at until the day it matters.

The templates are read with pycep (no Bicep compiler here): ``evaluate`` rebuilds the workbook
JSON from the template's object literal, resolving ``loadTextContent``, ``union`` and variable
references, which is all the workbook template uses.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared import audit
from shared.audit import AUDIT_PREFIX, AuditEvent
from shared.cleanup import SUMMARY_PREFIX, CleanupRun, RunSummary
from shared.graph.contract import GraphError, ProtectionReadError
from shared.guards import Caller
from shared.ledger import ResetStatus
from shared.models import (
    GraphErrorInfo,
    MethodType,
    Outcome,
    OutcomeStatus,
    Step,
    StepAction,
    StepResult,
    UserRef,
)
from shared.reset.callbacks import Attempt, describe
from shared.reset.submission import _why
from shared.reset.verification import failure_detail
from tests.support.bicep import INFRA, body, parse, resources_of_type, template
from tests.support.paths import REPO_ROOT

QUERIES = INFRA / "queries"
DOC = REPO_ROOT / "docs" / "monitoring.md"
SHARED = REPO_ROOT / "shared"

AUDIT_HEAD = (
    "traces\n"
    f'| where message startswith "{AUDIT_PREFIX} "\n'
    f'| extend e = parse_json(substring(message, strlen("{AUDIT_PREFIX} ")))\n'
)
SUMMARY_HEAD = (
    "traces\n"
    f'| where message startswith "{SUMMARY_PREFIX} "\n'
    f'| extend s = parse_json(substring(message, strlen("{SUMMARY_PREFIX} ")))\n'
)

# What the portal draws for a log query item (the values Microsoft's own workbooks use, in
# microsoft/Application-Insights-Workbooks); queryType 0 is a log query.
VISUALIZATIONS = {
    "table",
    "tiles",
    "barchart",
    "unstackedbar",
    "categoricalbar",
    "linechart",
    "areachart",
    "timechart",
    "piechart",
    "scatterchart",
}
ITEM_TYPES = {1: "text", 3: "query", 9: "parameters", 12: "group"}
# Application Insights (workspace-based or not) answers `traces` with these columns; the
# workspace's AppTraces would be Message, SeverityLevel, TimeGenerated.
WORKSPACE_COLUMNS = re.compile(r"\b(AppTraces|TimeGenerated|Message|SeverityLevel)\b")
ISO_MINUTES = re.compile(r"^P(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?|(?P<d>1)D)$")


# -- reading the templates ---------------------------------------------------------------------


def query_files() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(QUERIES.glob("*.kql"))}


def evaluate(value: Any, tree: dict[str, Any], base: Path) -> Any:
    """A pycep value as Bicep would compile it, for what these templates use."""
    if isinstance(value, list):
        return [evaluate(v, tree, base) for v in value]
    if not isinstance(value, dict):
        return value
    if "function" in value:
        function = value["function"]
        kind, parameters = function["type"], function["parameters"]
        if kind == "load_text_content":
            path = (base / parameters["file_path"]).resolve()
            assert path.is_relative_to(QUERIES), f"{path} is not a query file"
            return path.read_text()
        if kind == "union":
            merged: dict[str, Any] = {}
            for argument in parameters.values():
                part = evaluate(variable(tree, argument), tree, base)
                assert isinstance(part, dict), argument
                merged.update(part)
            return merged
        return value  # guid(), toLower(), string(): kept as the expression
    return {key.strip("'"): evaluate(item, tree, base) for key, item in value.items()}


def variable(tree: dict[str, Any], value: Any) -> Any:
    """A bare name is a variable reference when the template has that variable."""
    if isinstance(value, str) and value in tree.get("variables", {}):
        return tree["variables"][value]["value"]
    return value


def workbook_template() -> tuple[dict[str, Any], dict[str, Any]]:
    tree = template("app/workbook.bicep")
    content = evaluate(tree["variables"]["workbook"]["value"], tree, INFRA / "app")
    return tree, content


def walk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every item, groups' items included, in order."""
    found = []
    for item in items:
        found.append(item)
        if item["type"] == 12:
            found += walk(item["content"]["items"])
    return found


def workbook_queries() -> list[dict[str, Any]]:
    return [item for item in walk(workbook_template()[1]["items"]) if item["type"] == 3]


def alert_rules() -> list[dict[str, Any]]:
    tree = template("app/alerts.bicep")
    rules = evaluate(tree["variables"]["rules"]["value"], tree, INFRA / "app")
    assert isinstance(rules, list)
    return rules


def loaded_files(path: Path) -> set[str]:
    return set(re.findall(r"loadTextContent\('\.\./queries/([\w.-]+)'\)", path.read_text()))


# -- reading the code ----------------------------------------------------------------------------


def string_literals() -> tuple[set[str], set[str]]:
    """How the app's string literals begin and end: plain strings whole, f-strings up to their
    first and from their last interpolation (``f"limit: {x}"`` begins with ``limit: ``)."""
    starts: set[str] = set()
    ends: set[str] = set()
    for path in SHARED.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                starts.add(node.value)
                ends.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                first, last = node.values[0], node.values[-1]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    starts.add(first.value)
                if isinstance(last, ast.Constant) and isinstance(last.value, str):
                    ends.add(last.value)
    return starts, ends


def rendered_fstrings(containing: str, placeholder: str) -> list[str]:
    """The app's f-strings that contain ``containing``, every interpolation as ``placeholder``."""
    rendered = []
    for path in SHARED.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.JoinedStr):
                continue
            text = "".join(
                str(v.value) if isinstance(v, ast.Constant) else placeholder for v in node.values
            )
            if containing in text:
                rendered.append(text)
    return rendered


def sample_outcome() -> Outcome:
    return Outcome(
        id="r-1",
        status=OutcomeStatus.failed,
        user=UserRef(id="u-1", user_principal_name="adele@contoso.example"),
        ticket_id="INC1",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        steps=[
            Step(
                action=StepAction.delete_method,
                method_type=MethodType.fido2,
                method_id="m-1",
                result=StepResult.failed,
                error=GraphErrorInfo(
                    status=403,
                    code="Authorization_RequestDenied",
                    message="Insufficient privileges to complete the operation.",
                    request_id="req-1",
                ),
            ),
            Step(action=StepAction.revoke_sessions, result=StepResult.done, request_id="req-2"),
        ],
    )


def logged_event(caplog: pytest.LogCaptureFixture) -> tuple[str, dict[str, Any]]:
    """An audit event the code writes, as Application Insights receives it (the message)."""
    caplog.set_level(logging.INFO, logger="mfa_reset.audit")
    payload = audit.emit(
        AuditEvent.failed,
        reset_id="r-1",
        ticket_id="INC1",
        requested_by="desk@contoso.example",
        caller=Caller("entra-id-token", app_id="app-1", name="ServiceNow").to_audit(),
        target="adele@contoso.example",
        status=str(ResetStatus.failed),
        outcome=sample_outcome(),
        detail="2 selected method(s) remain",
    )
    (record,) = [r for r in caplog.records if r.name == "mfa_reset.audit"]
    return record.getMessage(), payload


def event_fields(payload: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """The audit event's keys, its steps' keys, and its caller's keys."""
    (step, *_) = payload["steps"]
    return set(payload), set(step), set(payload["caller"])


def summary_fields() -> set[str]:
    return set(RunSummary(started_at=datetime(2026, 1, 1, tzinfo=UTC)).to_dict())


# -- the queries against the code ----------------------------------------------------------------


def test_every_query_file_is_used_and_every_loaded_file_exists():
    files = set(query_files())
    assert files, "no queries under infra/queries"
    workbook = loaded_files(INFRA / "app" / "workbook.bicep")
    alerts = loaded_files(INFRA / "app" / "alerts.bicep")
    assert (workbook | alerts) == files
    # What an alert fires on, a person can see in the workbook.
    assert alerts <= workbook
    assert alerts == {name for name in files if name.startswith("alert-")}


@pytest.mark.parametrize("name", sorted(query_files()))
def test_each_query_reads_traces_of_application_insights(name: str):
    text = query_files()[name]
    assert text.startswith((AUDIT_HEAD, SUMMARY_HEAD)), "one way to read the events"
    assert not WORKSPACE_COLUMNS.search(text), "workspace columns in an Application Insights query"
    # No time filter of its own: the workbook's time range and the alert's window decide.
    assert "ago(" not in text and "{TimeRange" not in text
    # Log search alerts need a query that starts with a table; `take` stays out of alerts.
    if name.startswith("alert-"):
        assert not re.search(r"\|\s*(take|limit|top|union|search)\b", text)


def test_the_message_prefixes_are_the_ones_the_code_logs(caplog: pytest.LogCaptureFixture):
    message, payload = logged_event(caplog)
    assert message.startswith(f"{AUDIT_PREFIX} ")
    assert json.loads(message[len(AUDIT_PREFIX) + 1 :]) == payload
    for name, text in query_files().items():
        prefixes = set(re.findall(r'message startswith "([^"]*)"', text))
        prefixes |= set(re.findall(r'strlen\("([^"]*)"\)', text))
        assert prefixes in ({f"{AUDIT_PREFIX} "}, {f"{SUMMARY_PREFIX} "}), name


async def test_the_run_summary_line_is_the_one_the_queries_parse(
    caplog: pytest.LogCaptureFixture,
):
    class Ledger:
        async def record_run(self, values: dict[str, Any]) -> None:
            pass

    async def no_gateway() -> Any:
        raise AssertionError("not needed")

    caplog.set_level(logging.INFO, logger="shared.cleanup")
    run = CleanupRun(Ledger(), no_gateway, SimpleNamespace(reset_group_id="g-1"))  # type: ignore[arg-type]
    run.summary.errors.append("group sweep: GraphError: Graph 403 Authorization_RequestDenied")
    await run._record()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "shared.cleanup"]
    assert line.startswith(f"{SUMMARY_PREFIX} ")
    assert set(json.loads(line[len(SUMMARY_PREFIX) + 1 :])) == summary_fields()
    assert summary_fields() == {f.name for f in fields(RunSummary)}


def test_every_field_a_query_reads_is_one_the_code_writes(caplog: pytest.LogCaptureFixture):
    _, payload = logged_event(caplog)
    event_keys, step_keys, caller_keys = event_fields(payload)
    for name, text in query_files().items():
        for field, sub in re.findall(r"\be\.(\w+)(?:\.(\w+))?", text):
            assert field in event_keys, f"{name}: e.{field} is not in an audit event"
            if sub:
                assert field == "caller" and sub in caller_keys, f"{name}: e.{field}.{sub}"
        for field in re.findall(r"\bs\.(\w+)", text):
            assert field in summary_fields(), f"{name}: s.{field} is not in a run summary"
        step_fields = re.findall(r"\bstep\.(\w+)", text)
        if step_fields:
            assert re.search(r"\bstep = (e\.)?steps\b", text), f"{name}: where step comes from"
            assert "e.steps" in text
        for field in step_fields:
            assert field in step_keys, f"{name}: step.{field} is not in an audit event's step"
        if text.startswith(SUMMARY_HEAD):
            assert not re.search(r"\be\.", text), name


def test_every_event_a_query_names_is_one_the_code_emits():
    events = {str(e) for e in AuditEvent}
    named: set[str] = set()
    for text in query_files().values():
        named |= set(re.findall(r'(?:tostring\(e\.event\)|\bevent)\s*[!=]=\s*"([^"]+)"', text))
        for group in re.findall(r"(?:tostring\(e\.event\)|\bevent)\s+in\s*\(([^)]*)\)", text):
            named |= set(re.findall(r'"([^"]+)"', group))
    assert named, "no event names found: the pattern no longer matches the queries"
    assert named <= events, named - events
    # Every kind of event is shown somewhere.
    assert events <= named, events - named


def test_every_step_result_and_status_a_query_names_exists():
    results = {str(r) for r in StepResult}
    statuses = {str(s) for s in ResetStatus} | {str(s) for s in OutcomeStatus}
    for name, text in query_files().items():
        for value in re.findall(r'tostring\(step\.result\)\s*==\s*"([^"]+)"', text):
            assert value in results, name
        for value in re.findall(r'tostring\(e\.status\)\s*==\s*"([^"]+)"', text):
            assert value in statuses, name


def test_every_detail_prefix_and_suffix_a_query_matches_is_one_the_code_writes():
    starts, ends = string_literals()
    checked = 0
    for name, text in query_files().items():
        for subject, literal in re.findall(r'([\w.()]+)\s+startswith\s+"([^"]*)"', text):
            if subject == "message":
                continue  # the prefixes of the log lines: checked against the code above
            assert any(s.startswith(literal) for s in starts), f"{name}: no text starts {literal!r}"
            checked += 1
        for _, literal in re.findall(r'([\w.()]+)\s+endswith\s+"([^"]*)"', text):
            assert any(s.endswith(literal) for s in ends), f"{name}: no text ends {literal!r}"
            checked += 1
        assert not re.search(r"\b(has|contains)\b", text), f"{name}: match whole prefixes"
    assert checked >= 10


def test_the_refusal_reasons_are_the_ones_the_code_gives():
    """Protected targets, caller roles, limits and reused keys, as the code words them."""
    starts, _ = string_literals()
    text = query_files()["refusals-by-reason.kql"]
    for prefix in ("protected target", "caller-forbidden", "caller-unauthenticated", "limit:"):
        assert f'startswith "{prefix}"' in text
    assert 'startswith "idempotency-key-reused"' in text
    # The limits the ledger counts are worded "<n> resets ... reached" (no "limit:" prefix).
    limits = query_files()["alert-limit-reached.kql"]
    for suffix in re.findall(r'endswith "([^"]*)"', limits):
        assert f'endswith "{suffix}"' in text
    assert "protected target (" in starts


def test_the_graph_403_pattern_matches_what_the_code_writes():
    text = query_files()["alert-graph-permission-missing.kql"]
    (pattern,) = re.findall(r'matches regex @"([^"]*)"', text)
    denied = GraphError(403, "Authorization_RequestDenied", "Insufficient privileges")
    read = ProtectionReadError(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges",
        read="role assignments",
        permission="RoleManagement.Read.Directory",
    )
    for detail in (str(denied), str(read), _why(denied), f"abandoned: x; last error: {denied}"):
        assert re.search(pattern, detail), detail
    for other in (
        GraphError(404, "Request_ResourceNotFound", "gone"),
        GraphError(429, "TooManyRequests", "slow down"),
    ):
        assert not re.search(pattern, str(other)) and not re.search(pattern, _why(other))
    # Steps: the status Graph answered, numeric, next to its code.
    assert "toint(step.graph_status) == 403" in text


def test_the_callback_host_is_read_from_every_callback_detail():
    patterns = {
        pattern
        for text in query_files().values()
        for pattern in re.findall(r'extract\(@"([^"]*)", 1,', text)
    }
    assert patterns == {r"callback to ([^ :]+)", r"verification-failed: ([a-z-]+)"}
    # The rule of a failed presentation, from the detail the code writes for it.
    written = failure_detail("face-check", 1, 3, "r-1")
    rule = re.search(r"verification-failed: ([a-z-]+)", written)
    assert rule and rule.group(1) == "face-check"
    pattern = r"callback to ([^ :]+)"
    host = "yourco.service-now.com"
    details = rendered_fstrings("callback to ", host)
    assert len(details) >= 3  # delivered, failed after retries, not sent
    record = SimpleNamespace(callback=SimpleNamespace(host=host))
    details += [describe(record, Attempt(200)), describe(record, Attempt(None, "timeout"))]  # type: ignore[arg-type]
    for detail in details:
        match = re.search(pattern, detail)
        assert match and match.group(1) == host, detail


def test_audit_steps_carry_graphs_status_and_code_but_not_its_message(
    caplog: pytest.LogCaptureFixture,
):
    message, payload = logged_event(caplog)
    failed, done = payload["steps"]
    assert (failed["graph_status"], failed["graph_code"]) == (403, "Authorization_RequestDenied")
    assert failed["graph_request_id"] == "req-1"
    assert (done["graph_status"], done["graph_code"]) == (None, None)
    assert "Insufficient privileges" not in message
    dimensions = next(r for r in caplog.records if r.name == "mfa_reset.audit").__dict__
    assert '"graph_code": "Authorization_RequestDenied"' in dimensions["audit_steps"]


# -- the workbook ----------------------------------------------------------------------------------


def test_the_workbook_resource_is_a_shared_workbook_linked_to_application_insights():
    tree, _ = workbook_template()
    (resource,) = resources_of_type(tree, "Microsoft.Insights/workbooks").values()
    assert resource["api_version"] == "2023-06-01"
    config = body(resource)
    assert config["kind"] == "shared"
    assert config["name"]["function"]["type"] == "guid"  # a workbook's name is a GUID
    properties = config["properties"]
    assert properties["category"] == "workbook"  # the Workbooks gallery
    assert properties["version"] == "Notebook/1.0"
    assert properties["sourceId"] == {
        "function": {"type": "to_lower", "parameters": {"string_to_change": "insightsId"}}
    }
    serialized = properties["serializedData"]["function"]
    assert serialized == {"type": "string", "parameters": {"value_to_convert": "workbook"}}


def test_the_workbook_is_notebook_json_of_the_item_types_azure_draws():
    _, content = workbook_template()
    assert content["version"] == "Notebook/1.0"
    assert content["fallbackResourceIds"] == ["insightsId"]
    json.dumps(content)  # plain JSON once the queries are loaded
    items = walk(content["items"])
    names = [item["name"] for item in items]
    assert len(names) == len(set(names)), "item names are unique"
    parameters = {}
    for item in items:
        assert item["type"] in ITEM_TYPES, item["name"]
        assert set(item) <= {"type", "name", "content", "customWidth"}, item["name"]
        content_ = item["content"]
        if item["type"] == 1:
            assert isinstance(content_["json"], str) and content_["json"].strip()
        elif item["type"] == 9:
            assert content_["version"] == "KqlParameterItem/1.0"
            for parameter in content_["parameters"]:
                parameters[parameter["name"]] = parameter
        elif item["type"] == 12:
            assert content_["version"] == "NotebookGroup/1.0"
            assert content_["groupType"] == "editable" and content_["title"]
    time_range = parameters["TimeRange"]
    assert time_range["type"] == 4 and time_range["isRequired"] is True  # a time range picker
    assert time_range["value"]["durationMs"] in [
        v["durationMs"] for v in time_range["typeSettings"]["selectableValues"]
    ]


def test_each_query_item_is_a_log_query_on_application_insights():
    queries = workbook_queries()
    assert queries
    for item in queries:
        content = item["content"]
        assert content["version"] == "KqlItem/1.0"
        assert content["queryType"] == 0  # logs
        assert content["resourceType"] == "microsoft.insights/components"
        assert content["crossComponentResources"] == ["insightsId"]
        assert content["timeContextFromParameter"] == "TimeRange"
        assert content["visualization"] in VISUALIZATIONS, item["name"]
        assert content["title"] and content["query"] in query_files().values()
        if "customWidth" in item:
            assert 0 < int(item["customWidth"]) <= 100


def test_charts_plot_columns_their_query_returns():
    for item in workbook_queries():
        content = item["content"]
        chart = content.get("chartSettings")
        if content["visualization"] == "table":
            assert chart is None, item["name"]
            continue
        if content["visualization"] != "piechart":  # a pie: one label, one value column
            assert chart, f"{item['name']}: say which columns to plot"
        chart = chart or {}
        columns = [chart.get("xAxis"), *chart.get("yAxis", []), chart.get("group")]
        for column in filter(None, columns):
            # A column the query names (summarize/project/extend ... column = ...).
            assert re.search(rf"\b{column}\b", content["query"]), f"{item['name']}: {column}"
        for series in chart.get("seriesLabelSettings", []):
            assert re.search(
                rf'"{series["seriesName"]}"|\b{series["seriesName"]}\b', content["query"]
            )


def test_the_workbook_shows_every_section_the_issue_asks_for():
    titles = " ".join(item["content"]["title"].lower() for item in workbook_queries())
    for words in (
        "per day by outcome",
        "refusals by reason",
        "top callers",
        "top requesters",
        "graph error code and method type",
        "scheduled runs",
        "median and 95th percentile",
        "latest resets",
        "delivered and failed, by host",
    ):
        assert words in titles, words


# -- the alerts ------------------------------------------------------------------------------------


def test_alert_rules_are_log_search_alerts_on_application_insights():
    tree = template("app/alerts.bicep")
    (rule,) = resources_of_type(tree, "Microsoft.Insights/scheduledQueryRules").values()
    assert rule["api_version"] == "2023-12-01"
    assert rule["config"]["loop_type"]["detail"]["array_name"] == "rules"
    config = body(rule)
    assert config["kind"] == "LogAlert"
    properties = config["properties"]
    assert properties["scopes"] == ["insightsId"]
    assert properties["enabled"] is True
    assert properties["autoMitigate"] is False  # stateless: each new event notifies
    # One window per evaluation: an event is counted once.
    assert json.dumps(properties["windowSize"]) == json.dumps(properties["evaluationFrequency"])
    (condition,) = properties["criteria"]["allOf"]
    assert condition["timeAggregation"] == "Count"
    assert condition["operator"] == "GreaterThan"
    assert condition["threshold"] == 0
    assert condition["failingPeriods"] == {
        "numberOfEvaluationPeriods": 1,
        "minFailingPeriodsToAlert": 1,
    }

    def of_rule(key: str) -> dict[str, Any]:
        return {
            "operator": {
                "type": "property_accessor",
                "operands": {"operand_1": "r", "operand_2": key},
            }
        }

    assert condition["query"] == of_rule("query")
    assert properties["severity"] == of_rule("severity")
    assert properties["evaluationFrequency"] == of_rule("frequency")
    assert "actionGroup" in json.dumps(properties["actions"]["actionGroups"])


def test_the_rules_are_the_seven_the_issues_ask_for_with_valid_settings():
    rules = alert_rules()
    assert [r["name"] for r in rules] == [
        "protected-target",
        "limit-reached",
        "graph-permission-missing",
        "reset-given-up",
        "scheduled-run-errors",
        "callback-failed",
        "reset-disputed",
    ]
    for rule in rules:
        assert rule["severity"] in range(5)
        match = ISO_MINUTES.match(rule["frequency"])
        assert match, rule["frequency"]
        minutes = int(match["d"] or 0) * 1440 + int(match["h"] or 0) * 60 + int(match["m"] or 0)
        assert 1 <= minutes <= 1440
        assert rule["query"] == query_files()[f"alert-{rule['name']}.kql"]
        assert rule["displayName"].startswith("MFA reset: ") and len(rule["description"]) > 40


def test_one_action_group_emails_the_alert_emails():
    tree = template("app/alerts.bicep")
    (group,) = resources_of_type(tree, "Microsoft.Insights/actionGroups").values()
    assert group["api_version"] == "2023-01-01"
    config = body(group)
    assert config["location"] == "global"
    properties = config["properties"]
    assert len(properties["groupShortName"]) <= 12 and properties["enabled"] is True
    receivers = properties["emailReceivers"]
    assert receivers["loop_type"]["detail"]["array_name"] == "emails"
    assert receivers["config"]["useCommonAlertSchema"] is True
    assert receivers["config"]["emailAddress"] == "email"
    assert "alertEmails" in json.dumps(tree["variables"]["spaced"])  # cleaned: test_alert_emails


def test_main_deploys_the_workbook_always_and_the_alerts_only_with_emails():
    main = template("main.bicep")
    parameter = main["parameters"]["alertEmails"]
    assert parameter["type"] == "string" and parameter["default"] == ""
    assert any(d["type"] == "description" for d in parameter["decorators"])
    modules = main["modules"]
    assert "condition" not in modules["workbook"]["config"]
    condition = json.dumps(modules["alerts"]["config"]["condition"])
    assert "alertEmails" in condition and "empty" in condition and "not" in condition
    for name in ("workbook", "alerts"):
        assert "insightsId" in json.dumps(body(modules[name])["params"]["insightsId"])
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["alertEmails"] == {"value": "${ALERT_EMAILS=}"}
    monitoring = parse(INFRA / "app" / "monitoring.bicep")
    (insights,) = resources_of_type(monitoring, "Microsoft.Insights/components").values()
    # Workspace-based: the same rows are in the workspace as AppTraces; the queries use the
    # component's `traces` (see docs/monitoring.md).
    assert "WorkspaceResourceId" in body(insights)["properties"]
    assert "insightsId" in monitoring["outputs"]


# -- the documentation -----------------------------------------------------------------------------


def doc_queries() -> list[tuple[str, str]]:
    return re.findall(r"<!-- query: ([\w.-]+) -->\n```kusto\n(.*?)```", DOC.read_text(), re.S)


def test_the_doc_shows_every_query_as_it_is_deployed():
    shown = doc_queries()
    names = [name for name, _ in shown]
    assert sorted(names) == sorted(query_files()), "each query once"
    for name, text in shown:
        assert text == query_files()[name], name
    # No other KQL in the document: one source.
    assert DOC.read_text().count("```kusto") == len(shown)


def test_the_doc_gives_each_alert_its_deployed_severity_and_frequency():
    text = DOC.read_text()
    for rule in alert_rules():
        row = re.search(rf"^\| `mfa-reset-{rule['name']}` \|(.*)$", text, re.M)
        assert row, rule["name"]
        cells = [c.strip() for c in row.group(1).split("|")]
        assert cells[0].startswith(f"{rule['severity']} "), rule["name"]
        assert cells[1].startswith(f"`{rule['frequency']}`"), rule["name"]
    assert "ALERT_EMAILS" in text and "AppTraces" in text
