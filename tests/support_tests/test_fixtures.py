"""The storage_names fixture and the names it builds."""

from __future__ import annotations

import re

import pytest

from tests.support.fixtures import StorageNames, unique_storage_names

QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


@pytest.mark.parametrize(
    "test_name",
    [
        "test_simple",
        "test_param[a--b-C_D]",
        "test_" + "very_long_name_" * 10,
        "___",
        "TEST_ÜNÏCODE[ü]",
    ],
)
def test_names_follow_the_service_rules(test_name: str) -> None:
    names = unique_storage_names(test_name)
    assert QUEUE_NAME.match(names.queue), names.queue
    assert QUEUE_NAME.match(names.poison), names.poison
    assert TABLE_NAME.match(names.table), names.table
    assert names.poison == f"{names.queue}-poison"


def test_names_differ_between_calls() -> None:
    first = unique_storage_names("test_same")
    second = unique_storage_names("test_same")
    assert first.queue != second.queue
    assert first.table != second.table


def test_fixture_gives_names_from_the_test(storage_names: StorageNames) -> None:
    assert "fixture-gives-names" in storage_names.queue
    assert "fixturegivesnames" in storage_names.table
