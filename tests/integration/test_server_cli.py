"""The launcher as users drive it: `atlas-ml server status | start | stop | logs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas

pytestmark = pytest.mark.integration


def atlas_ml(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atlas_mlplugin.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900, check=False)


@pytest.fixture
def session_atlas(local_atlas: LocalAtlas | None) -> LocalAtlas:
    if local_atlas is None:
        pytest.skip("the suite runs against ATLAS_URL or a container; the launcher is not in use")
    return local_atlas


def test_status_json_describes_the_running_server(session_atlas: LocalAtlas) -> None:
    result = atlas_ml("server", "status", "--json", "--state-dir", str(session_atlas.home))
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["running"] is True
    assert status["version"] == "2.1.0"
    assert status["user"] == "admin" and status["password"]
    reply = requests.get(f"{status['url']}/api/atlas/admin/version", auth=(status["user"], status["password"]),
                         timeout=10)
    assert reply.json()["Version"] == "2.1.0"
    wrong = requests.get(f"{status['url']}/api/atlas/admin/version", auth=("admin", "admin"), timeout=10)
    assert wrong.status_code == 401, "the generated password, not a default one, protects the server"


def test_start_on_a_running_server_is_a_no_op(session_atlas: LocalAtlas) -> None:
    before = session_atlas.status()
    result = atlas_ml("server", "start", "--state-dir", str(session_atlas.home),
                      "--port", str(before.url.rsplit(":", 1)[1]))
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stderr
    assert session_atlas.status().pid == before.pid


def test_logs_show_the_server_log(session_atlas: LocalAtlas) -> None:
    result = atlas_ml("server", "logs", "-n", "5", "--state-dir", str(session_atlas.home))
    assert result.returncode == 0
    shown = [line for line in result.stdout.splitlines() if line.startswith("20")]  # timestamped log lines
    assert 1 <= len(shown) <= 5
    log_lines = session_atlas.log_file.read_text().splitlines()
    assert all(line in log_lines for line in shown)


def test_a_server_that_dies_at_startup_is_reported_at_once_with_its_log(tmp_path: Path) -> None:
    # A JVM that cannot boot: the launcher must notice at once (not wait for its timeout) and show why.
    atlas = LocalAtlas(LauncherOptions(state_dir=tmp_path / "broken", port=_free_port(), heap="lots"))
    from atlas_mlplugin.server.errors import LauncherError

    with pytest.raises(LauncherError) as err:
        atlas.start(progress=lambda _msg: None)
    text = str(err.value)
    assert "exited during startup" in text, text
    assert "Invalid maximum heap size" in text, text
    assert atlas.status().pid is None


def test_stop_is_clean_and_leaves_no_jvm(tmp_path: Path) -> None:
    state = tmp_path / "second"
    start = atlas_ml("server", "start", "--json", "--state-dir", str(state), "--port", str(_free_port()))
    assert start.returncode == 0, start.stderr
    pid = json.loads(start.stdout)["pid"]
    assert Path(f"/proc/{pid}").exists()

    stop = atlas_ml("server", "stop", "--state-dir", str(state))
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not _java_running_in(state), "a JVM of the stopped server is still running"
    status = json.loads(atlas_ml("server", "status", "--json", "--state-dir", str(state)).stdout)
    assert status["running"] is False and status["pid"] is None
    assert "was not running" in atlas_ml("server", "stop", "--state-dir", str(state)).stdout


def _java_running_in(state: Path) -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(state) in cmdline and "java" in cmdline and stat != "Z":
            return True
    return False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
