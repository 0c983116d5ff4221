"""ALERT_EMAILS as operators type it: a trailing comma or a blank entry must not fail a deployment.

The action group refuses an e-mail receiver with an empty address, and main.bicep must not deploy
the alerts for a value of commas and blanks alone. The cleaning is written with string functions
(checkov's Bicep parser cannot read the lambda filter() needs), evaluated here on real inputs.
"""

from __future__ import annotations

import json

import pytest

from tests.support.bicep import template
from tests.support.bicep_eval import evaluate, variables

CASES = [
    ("secops@contoso.com", ["secops@contoso.com"]),
    ("secops@contoso.com,", ["secops@contoso.com"]),
    (",secops@contoso.com", ["secops@contoso.com"]),
    (
        " secops@contoso.com , servicedesk@contoso.com ",
        ["secops@contoso.com", "servicedesk@contoso.com"],
    ),
    (
        "a@contoso.com,,b@contoso.com, ,c@contoso.com,,,",
        ["a@contoso.com", "b@contoso.com", "c@contoso.com"],
    ),
    ("a@contoso.com" + "," * 64 + "b@contoso.com", ["a@contoso.com", "b@contoso.com"]),
    (",", []),
    (" , ,, ", []),
    ("", []),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_the_action_group_gets_every_address_and_no_empty_one(value: str, expected: list[str]):
    assert variables(template("app/alerts.bicep"), {"alertEmails": value})["emails"] == expected


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_main_deploys_the_alerts_only_when_an_address_is_left(value: str, expected: list[str]):
    condition = template("main.bicep")["modules"]["alerts"]["config"]["condition"]
    assert evaluate(condition, {"alertEmails": value}) is bool(expected)


def test_the_receivers_are_the_cleaned_list():
    tree = template("app/alerts.bicep")
    text = json.dumps(tree["resources"])
    assert '"array_name": "emails"' in text
    assert "alertEmails" not in text  # never the raw value
