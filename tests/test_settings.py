"""The settings table: one place feeds validation, ``coursewatch settings`` and the docs page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from coursewatch.cli import main
from coursewatch.errors import SettingsError
from coursewatch.settings import SETTINGS, docs_page, load_settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_the_docs_page_is_the_table() -> None:
    assert DOCS.read_text(encoding="utf-8") == docs_page(), (
        "docs/settings.md is out of date: coursewatch settings --format docs > docs/settings.md"
    )


def test_the_command_shows_each_value_and_where_it_came_from() -> None:
    env = {"COURSEWATCH_PORT": "9000", "COURSEWATCH_ADMIN_TOKEN": "s3cret"}
    res = CliRunner().invoke(main, ["settings", "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert set(rows) == {s.name for s in SETTINGS}
    assert rows["port"]["value"] == "9000"
    assert rows["port"]["source"] == "environment (COURSEWATCH_PORT)"
    assert rows["host"]["source"] == "default"
    assert rows["admin_token"]["value"] == "(set)"  # a secret is never printed
    assert "s3cret" not in res.output


def test_a_value_that_cannot_be_used_is_one_line() -> None:
    with pytest.raises(SettingsError, match="COURSEWATCH_PORT='eighty'"):
        load_settings({"COURSEWATCH_PORT": "eighty"})
    res = CliRunner().invoke(main, ["settings"], env={"COURSEWATCH_PORT": "eighty"})
    assert res.exit_code == 1 and res.output.startswith("error: setting COURSEWATCH_PORT")
