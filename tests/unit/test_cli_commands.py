"""Which commands read the installed packages' entry points: only those that may be plugins (and help)."""

from __future__ import annotations

import pytest

from floorgate.edge import cli

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["run", "--config", "site.toml"], "run"),
        (["--log-level", "WARNING", "--log-format", "json", "run", "--config", "x"], "run"),
        (["--log-level", "run", "backup", "a", "b"], "backup"),
        (["demo", "--port", "8000"], "demo"),
        (["--version"], None),
        ([], None),
    ],
)
def test_the_command_word_skips_global_options_and_their_values(argv: list[str], command: str | None) -> None:
    assert cli._command_word(argv) == command


def test_an_own_command_reads_no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(**_: object) -> object:
        raise AssertionError("entry points read for an own command")

    monkeypatch.setattr(cli, "entry_points", no_scan)
    for argv in (["run", "--config", "x"], ["check-config", "x"], ["restore", "a", "--config", "b"]):
        assert cli._plugins(argv) == ({}, {})


def test_a_plugin_command_and_help_still_find_the_plugins() -> None:
    plugins, missing = cli._plugins(["demo", "--help"])
    assert "demo" in plugins or "demo" in missing
    everything, missing_all = cli._plugins(["--help"])
    assert {"demo", "sim"} <= set(everything) | set(missing_all)
