"""The listener never fails the job: a receiver that is down, a spool that cannot be written."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import free_closed_port, listener_jar, require_spark_test_deps

require_spark_test_deps()
from openlineage_spec import validate_event  # noqa: E402

JOB = Path(__file__).with_name("spark_job.py")


def run_job(workdir: Path, spool: Path, **atlas: str) -> tuple[subprocess.CompletedProcess, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    listener_jar()  # build before timing
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(JOB), str(workdir), str(spool),
                           *(f"{k}={v}" for k, v in atlas.items())],
                          capture_output=True, text=True, timeout=300)
    return proc, time.monotonic() - started


def test_http_receiver_down_falls_back_to_the_spool(tmp_path):
    url = f"http://127.0.0.1:{free_closed_port()}/api/v1/lineage"
    proc, _ = run_job(tmp_path, tmp_path / "spool", **{"transport": "http", "http.url": url,
                                                       "http.token": "tok-SECRET-123", "captureReads": "true"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "JOB OK" in proc.stdout
    spooled = [json.loads(p.read_text()) for p in sorted((tmp_path / "spool").glob("*.json"))]
    writes = [e for e in spooled if e["outputs"]]
    reads = [e for e in spooled if not e["outputs"]]
    assert [e["outputs"][0]["name"] for e in writes] == [str(tmp_path / "out.parquet")]
    assert reads and all(e["inputs"] for e in reads), "captureReads=true records read-only executions"
    for event in spooled:
        validate_event(event)
    log = (tmp_path / "driver.log").read_text()
    assert "could not POST lineage" in log
    assert "tok-SECRET-123" not in log and "tok-SECRET-123" not in json.dumps(spooled)


def test_unwritable_spool_and_dead_receiver_still_succeed(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spool directory should be")
    url = f"http://127.0.0.1:{free_closed_port()}/lineage"
    proc, seconds = run_job(tmp_path, blocker / "spool", **{"transport": "http", "http.url": url,
                                                            "flushTimeoutMs": "3000"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "JOB OK" in proc.stdout
    assert (tmp_path / "out.parquet").is_dir()
    log = (tmp_path / "driver.log").read_text()
    assert "could not deliver a lineage event" in log
    assert seconds < 120
