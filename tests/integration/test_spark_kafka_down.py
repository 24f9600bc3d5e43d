"""A job under the listener's kafka transport while the broker is down (Atlas up, so its look-ups answer and the
wait is Kafka's), with the default timeouts (10 s per publish, 10 s flush at the end): every event of the job must
wait in the spool when the job ends, none lost with the JVM.

Before, each event waited out the producer's timeout on the dispatcher's thread, so a job of 40 writes outran
the bounded flush at application end and most of its events were in neither Kafka nor the spool."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr

from atlas_mlplugin.atlas.config import AtlasSettings
from tests.integration.conftest import free_port

pytest.importorskip("pyspark", reason="install the 'spark' extra (make installs it)")
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OUR_JAR = REPO / "spark_listener" / "target" / "2.13" / "atlas-mlplugin-spark-listener_2.13-0.1.0.jar"
WRITES = 40

JOB = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from pyspark.sql import SparkSession
    jar, base, writes = sys.argv[1], Path(sys.argv[2]), int(sys.argv[4])
    conf = json.loads(Path(sys.argv[3]).read_text())  # a file: it holds Atlas's password
    builder = (SparkSession.builder.master("local[2]").appName("down").config("spark.jars", jar)
               .config("spark.sql.queryExecutionListeners", "io.atlasml.spark.AtlasQueryListener")
               .config("spark.extraListeners", "io.atlasml.spark.AtlasSparkListener")
               .config("spark.ui.enabled", "false"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for i in range(writes):
        spark.range(10).write.mode("overwrite").parquet(str(base / f"out{i}"))
    started = time.perf_counter()
    spark.stop()
    print(json.dumps({"stop_s": time.perf_counter() - started}))
""")


def test_kafka_down_every_event_of_the_job_waits_in_the_spool(
        atlas_settings: AtlasSettings, uid: str, tmp_path: Path) -> None:
    assert OUR_JAR.is_file(), "build the listener first: make listener"
    spool = tmp_path / "spool"
    password = atlas_settings.password.get_secret_value() if isinstance(atlas_settings.password, SecretStr) else ""
    conf = {"spark.atlas.transport": "kafka", "spark.atlas.spool.dir": str(spool), "spark.atlas.namespace": uid,
            "spark.atlas.kafka.bootstrap.servers": f"127.0.0.1:{free_port()}",  # nothing listens there
            "spark.atlas.rest.url": atlas_settings.url, "spark.atlas.rest.user": atlas_settings.username or "",
            "spark.atlas.rest.password": password}
    conf_file = tmp_path / "conf.json"
    conf_file.write_text(json.dumps(conf))
    (tmp_path / "job.py").write_text(JOB)
    job = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(OUR_JAR), str(tmp_path / "lake"),
                          str(conf_file), str(WRITES)], capture_output=True, text=True, timeout=900, check=False)
    assert job.returncode == 0, job.stderr[-3000:]
    stop_s = json.loads(job.stdout.strip().splitlines()[-1])["stop_s"]
    spooled = len(list(spool.glob("*.json")))
    assert spooled == WRITES, (f"{spooled} of {WRITES} events in the spool (spark.stop() took {stop_s:.1f} s); "
                               "the rest were lost: " + job.stderr[-3000:])
