"""The reliability suite: fault tests against a real Atlas of its own, which they kill (SIGKILL), freeze
(SIGSTOP) and restart, plus the secrets audit. Each test adds its figures to census.FIGURES; they are printed
at the end of the run and written to .state/reliability/figures.json (the README's reliability section
quotes them).

`make test-reliability` runs all of it; `make test` runs the tests marked `representative`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.typedefs import apply
from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas
from tests.integration.conftest import BACKEND, REPO, free_port
from tests.reliability.census import FIGURES

STATE_DIR = REPO / ".state" / "reliability-atlas"
FIGURES_FILE = REPO / ".state" / "reliability" / "figures.json"
ATLAS_ML = [sys.executable, "-c", "from atlas_mlplugin.cli.main import cli; cli()"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "representative: the part of the reliability suite `make test` runs")


class FaultAtlas:
    """The suite's own Atlas and the faults done to it."""

    def __init__(self, launcher: LocalAtlas) -> None:
        self.launcher = launcher
        status = launcher.status()
        self.settings = AtlasSettings(url=status.url, username=status.user, password=SecretStr(status.password))

    def client(self) -> AtlasClient:
        return AtlasClient(self.settings)

    @property
    def pid(self) -> int:
        pid = self.launcher.status().pid
        assert pid is not None, "the reliability Atlas is not running"
        return pid

    def kill(self) -> None:
        """SIGKILL the JVM, as the OOM killer or a power cut would."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        while _exists(pid):
            time.sleep(0.1)

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def start(self) -> None:
        self.launcher.start(progress=lambda msg: print(f"[reliability atlas] {msg}", file=sys.stderr, flush=True))

    def restart(self) -> None:
        self.launcher.stop()
        self.start()

    def cli_env(self, **extra: str) -> dict[str, str]:
        """The environment a CLI process needs to reach this server (password in the environment, never argv)."""
        password = self.settings.password.get_secret_value() if self.settings.password else ""
        env = dict(os.environ, ATLAS_URL=self.settings.url, ATLAS_USER=self.settings.username or "",
                   ATLAS_PASSWORD=password, PYTHONPATH=str(REPO))
        env.update(extra)
        return env


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(scope="session")
def fault_atlas() -> Iterator[FaultAtlas]:
    """A fresh server, started by two `atlas-ml server start` at once on one state directory (the second
    used to report a misleading 409 Conflict from creating the base types at the same time)."""
    if BACKEND != "local":
        pytest.skip("the fault tests kill and freeze a launcher-managed server; ATLAS_URL and docker cannot")
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    port = str(free_port())
    starts = [subprocess.Popen([*ATLAS_ML, "server", "start", "--state-dir", str(STATE_DIR), "--port", port],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [(s.communicate(timeout=1200)[1], s.returncode) for s in starts]
    launcher = LocalAtlas(LauncherOptions(state_dir=STATE_DIR, port=int(port)))
    try:
        for err, code in outputs:
            assert code == 0 and "409" not in err, f"concurrent `server start` failed (exit {code}):\n{err}"
        atlas = FaultAtlas(launcher)
        apply(atlas.client())
        yield atlas
    finally:
        launcher.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.faults and not FIGURES.other:
        return
    terminalreporter.section("reliability figures")
    terminalreporter.write_line(FIGURES.table())
    FIGURES.write(FIGURES_FILE)
    terminalreporter.write_line(f"(written to {FIGURES_FILE.relative_to(REPO)})")
