"""Without the ``[distributed]`` extra the embedded CLI works, and the distributed
commands say in one line what to install (exit 2).

The extra's packages are hidden from a child interpreter (``sys.modules[name] = None``
makes importing them fail as if they were not installed).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HIDE = ("faust", "mode", "kafka", "aiokafka")


def lifecycle_without_extra(*args: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        f"for name in {HIDE!r}:\n"
        "    sys.modules[name] = None\n"
        f"sys.argv = ['lifecycle', *{list(args)!r}]\n"
        "from lifecycle.cli import main\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("args", [("worker",), ("publish", "-"), ("topics", "create")])
def test_a_distributed_command_names_the_extra_in_one_line(args: tuple[str, ...]) -> None:
    result = lifecycle_without_extra(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "install lead-lifecycle[distributed]" in lines[0]


def test_the_embedded_cli_does_not_need_the_extra() -> None:
    result = lifecycle_without_extra("--help")
    assert result.returncode == 0, result.stderr
    assert "worker" in result.stdout  # listed; it explains itself when run
    schema = lifecycle_without_extra("schema")
    assert schema.returncode == 0, schema.stderr
