"""`atlas-ml` starts fast because it imports nothing heavy until a command runs: a release gate in CI pays
the start-up on every call. Measured as what gets imported (a timing assertion would be flaky); the
benchmark figures are in the issue notes (`python -X importtime -m atlas_mlplugin.cli --help`)."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from atlas_mlplugin.cli.main import COMMANDS, cli

HEAVY = ("requests", "pydantic", "yaml", "urllib3", "apache_atlas", "atlas_mlplugin.atlas.client",
         "atlas_mlplugin.server.launcher", "atlas_mlplugin.model")


def loaded_after(argv: list[str]) -> set[str]:
    code = ("import sys\n"
            f"sys.argv = {['atlas-ml', *argv]!r}\n"
            "from atlas_mlplugin.cli.main import cli\n"
            "try:\n    cli()\n"
            "except SystemExit:\n    pass\n"
            f"print('LOADED:' + ' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert "Usage:" in out.stdout or "version" in out.stdout, out.stdout
    line = next(line for line in out.stderr.splitlines() if line.startswith("LOADED:"))
    return set(line.removeprefix("LOADED:").split())


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"], ["server", "--help"], ["dataset", "--help"],
                                  ["--version"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    assert loaded_after(argv) == set()


def test_every_command_is_listed_and_loads() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        assert isinstance(cli.get_command(ctx, name), click.Command), name
    assert cli.get_command(ctx, "no-such-command") is None
