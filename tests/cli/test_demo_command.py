"""``lifecycle demo`` comes from the ``demo`` package, which the engine never imports.

The command is found through the ``lifecycle.commands`` entry point; a broken add-on
command leaves every other command working.
"""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import click
import pytest

import lifecycle
from lifecycle import cli as lifecycle_cli

ENGINE = Path(lifecycle.__file__).parent


def _imported_modules(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_engine_package_never_imports_the_demo() -> None:
    offenders = sorted(
        str(path.relative_to(ENGINE)) for path in ENGINE.rglob("*.py")
        if any(name == "demo" or name.startswith("demo.") for name in _imported_modules(path)))
    assert offenders == []


def test_the_demo_command_is_an_entry_point() -> None:
    group = lifecycle_cli.COMMAND_GROUP
    entries = {e.name: e for e in importlib.metadata.entry_points(group=group)}
    assert entries["demo"].value == "demo.cli:demo"
    command = entries["demo"].load()
    assert isinstance(command, click.Command)
    assert {"--leads", "--days", "--seed", "--database", "--html"} <= {
        opt for p in command.params for opt in getattr(p, "opts", ())}


def test_the_cli_registers_the_demo_command() -> None:
    lifecycle_cli._register()
    assert "demo" in lifecycle_cli.cli.commands


def test_a_broken_add_on_command_is_reported_and_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    broken = importlib.metadata.EntryPoint(name="broken-addon",
                                           value="no_such_package.cli:command",
                                           group=lifecycle_cli.COMMAND_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [broken] if group == lifecycle_cli.COMMAND_GROUP else [])
    lifecycle_cli._register_entry_points()
    assert "broken-addon" not in lifecycle_cli.cli.commands
    err = capsys.readouterr().err
    assert "'broken-addon' (no_such_package.cli:command) could not be loaded" in err
    assert "ModuleNotFoundError" in err
