"""`floorgate run` pauses the garbage collector for its start only; every other command resumes it at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PROBE = """
import gc, sys
sys.argv = ["/usr/bin/floorgate", *sys.argv[1:]]
from floorgate.edge import cli
paused = not gc.isenabled()
code = cli.main(sys.argv[1:])
print(paused, gc.isenabled(), code)
"""


def test_run_as_a_program_the_collector_is_paused_and_another_command_resumes_it(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "check-config", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.split() == ["True", "True", "2"], result.stderr


def test_imported_the_collector_is_left_alone() -> None:
    """In a process of its own, so the module is imported here for the first time (as a library would)."""
    probe = "import gc\nfrom floorgate.edge import cli\nprint(gc.isenabled())\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.split() == ["True"], result.stderr
