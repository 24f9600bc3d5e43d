"""`atlas-ml serve` as a user runs it (a real process): the token from a file or the environment and never
from the command line, and a serve loop that no bad file or failing ingest pass can stop. Atlas is a closed
port here: nothing in these tests needs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
TOKEN = "file-token-0123456789abcdef"
EVENT = {"eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "t",
         "run": {"runId": "r1"}, "job": {"namespace": "spark", "name": "job"},
         "inputs": [{"namespace": "file", "name": "/a.csv"}], "outputs": [{"namespace": "file", "name": "/b"}]}
CLI = [sys.executable, "-c", "from atlas_mlplugin.cli.main import cli; cli()"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "ATLAS_ML_"))}
    return {**env, "PYTHONPATH": str(REPO), "ATLAS_URL": f"http://127.0.0.1:{closed_port()}", **extra}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def serving(args: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`atlas-ml serve --port 0 ...` running; yields the process and its URL (from its start-up line)."""
    with log.open("wb") as err:
        proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--interval", "0.2", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        found: list[str] = []

        def started() -> bool:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {log.read_text()}"
            found.extend(re.findall(r"on (http://\S+/api/v1/lineage)", log.read_text()))
            return bool(found)

        wait_for(started, "the receiver to start")
        yield proc, found[0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def post(url: str, token: str) -> int:
    return requests.post(url, json=EVENT, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_token_on_the_command_line_is_refused(tmp_path: Path) -> None:
    run = subprocess.run([*CLI, "serve", "--dir", str(tmp_path / "events"), "--token", "hunter2-secret"],
                         env=environment(), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2, run.stderr
    assert "process list" in run.stderr and "--token-file" in run.stderr and "ATLAS_ML_RECEIVER_TOKEN" in run.stderr
    assert "hunter2-secret" not in run.stderr


def test_token_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n")  # as `echo` or an editor leaves it
    token_file.chmod(0o600)
    with serving(["--dir", str(tmp_path / "events"), "--token-file", str(token_file)],
                 environment(ATLAS_ML_RECEIVER_TOKEN="not-this-one-0123456789"), tmp_path / "serve.log") as (proc, url):
        assert post(url, TOKEN) == 201
        assert post(url, "not-this-one-0123456789") == 401
        assert TOKEN not in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, "SIGTERM stops serve cleanly"
    assert TOKEN not in (tmp_path / "serve.log").read_text()


def test_token_from_the_environment(tmp_path: Path) -> None:
    with serving(["--dir", str(tmp_path / "events")], environment(ATLAS_ML_RECEIVER_TOKEN=TOKEN),
                 tmp_path / "serve.log") as (_, url):
        assert post(url, TOKEN) == 201
        assert post(url, "wrong") == 401


@pytest.mark.parametrize("content", ["", "  \n", "two words", "tökén-0123456789abcdef"])
def test_an_unusable_token_file_is_refused_with_the_reason(tmp_path: Path, content: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(content)
    run = subprocess.run([*CLI, "serve", "--dir", str(tmp_path / "events"), "--token-file", str(token_file)],
                         env=environment(), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    expected = "is empty" if not content.strip() else "spaces, control or non-ASCII characters"
    assert expected in run.stderr, run.stderr


def test_serve_keeps_running_through_a_failing_pass_and_rejects_a_deep_file(tmp_path: Path) -> None:
    events = tmp_path / "events"
    with serving(["--dir", str(events)], environment(ATLAS_ML_RECEIVER_TOKEN=TOKEN), tmp_path / "serve.log") as (
            proc, url):
        # Every ingest pass now fails: the dead-letter folder is a file.
        shutil.rmtree(events / "rejected")
        (events / "rejected").write_text("in the way")
        wait_for(lambda: "ingest pass failed" in (tmp_path / "serve.log").read_text(), "a failed pass to be reported")
        time.sleep(0.5)  # a few more passes
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        (events / "rejected").unlink()

        # A file nested far too deep, e.g. left by a broken producer: rejected, serve goes on.
        deep = events / "00000000000000000001-deep.json"
        deep.write_bytes(b'{"eventTime": "2026-11-27T10:00:00Z", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
        wait_for(lambda: (events / "rejected" / deep.name).exists(), "the deep file to be rejected")
        reason = (events / "rejected" / (deep.name + ".reason.txt")).read_text()
        assert "nests deeper than 64 levels" in reason
        assert proc.poll() is None and post(url, TOKEN) == 201
        stored = [json.loads(p.read_text()) for p in events.glob("*.json")]
        assert EVENT in stored or not stored  # (a pass may already be trying to apply it)
