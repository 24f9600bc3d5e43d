"""Real Spark, local mode, with the listener jar built for the running pyspark's Scala version.

Run with a virtualenv that has pyspark (see tests/spark/run.sh, which creates .state/venv-spark35 and
.state/venv-spark4 and runs this suite in both). The jar is built with Maven when it is missing or older than
its sources; the SQLite JDBC driver comes from Maven Central the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode stays on the loopback interface
LISTENER = ROOT / "spark_listener"
STATE = ROOT / ".state"
SQLITE_JDBC = "org.xerial:sqlite-jdbc:3.50.3.0"
PROFILES = {"2.12": "spark35", "2.13": "spark4"}
VERSION = "0.1.0"


def require_spark_test_deps() -> None:
    """Module-level skip for an interpreter without the suite's packages (e.g. the project's .venv)."""
    for module in ("pyspark", "jsonschema", "openlineage.client"):
        pytest.importorskip(module, reason=f"needs {module}: run `bash tests/spark/run.sh`, which makes "
                                           ".state/venv-spark35 and .state/venv-spark4 and runs this suite in both")


def scala_binary() -> str:
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    for jar in jars.glob("scala-library-*.jar"):
        return ".".join(jar.name[len("scala-library-"):].split(".")[:2])
    raise RuntimeError(f"no scala-library jar in {jars}")


def _newest_source_mtime() -> float:
    files = [LISTENER / "pom.xml", *LISTENER.joinpath("src/main").rglob("*")]
    return max(f.stat().st_mtime for f in files if f.is_file())


def listener_jar() -> Path:
    sb = scala_binary()
    jar = LISTENER / "target" / sb / f"atlas-mlplugin-spark-listener_{sb}-{VERSION}.jar"
    if not jar.exists() or jar.stat().st_mtime < _newest_source_mtime():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("Maven (mvn) is needed to build the listener jar")
        subprocess.run([mvn, "-B", "-q", "-P", PROFILES[sb], "-DskipTests", "package"], cwd=LISTENER, check=True)
    assert jar.exists(), jar
    return jar


def maven_jar(coordinates: str) -> Path:
    out = STATE / "spark-test-jars"
    group, artifact, version = coordinates.split(":")
    jar = out / f"{artifact}-{version}.jar"
    if not jar.exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mvn", "-B", "-q", "dependency:copy", f"-Dartifact={coordinates}",
                        f"-DoutputDirectory={out}"], cwd=STATE, check=True)
    return jar


LOG4J2 = """\
status = warn
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
rootLogger.appenderRef.console.ref = console
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{HH:mm:ss.SSS}} %p %c: %m%n%ex
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{{HH:mm:ss}} %p %c{{1}}: %m%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = warn
"""


def spark_conf(workdir: Path, spool: Path, **atlas: str) -> dict[str, str]:
    """Spark settings for a local session with both listeners and driver logs captured in workdir/driver.log."""
    log4j = workdir / "log4j2.properties"
    log4j.write_text(LOG4J2.format(log=workdir / "driver.log"))
    conf = {
        "spark.jars": f"{listener_jar()},{maven_jar(SQLITE_JDBC)}",
        "spark.sql.queryExecutionListeners": "io.atlasml.spark.AtlasQueryListener",
        "spark.extraListeners": "io.atlasml.spark.AtlasSparkListener",
        "spark.atlas.spool.dir": str(spool),
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}",
        "spark.sql.warehouse.dir": str(workdir / "warehouse"),
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }
    conf.update({f"spark.atlas.{k.replace('_', '.')}": v for k, v in atlas.items()})
    return conf


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return Path(os.path.realpath(tmp_path_factory.mktemp("spark")))


@pytest.fixture(scope="session")
def spool(workdir) -> Path:
    return workdir / "spool"


@pytest.fixture(scope="session")
def spark(workdir, spool):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("atlas-listener-test")
    for key, value in spark_conf(workdir, spool).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    yield session
    session.stop()


class Spool:
    """Reads the events the listener spooled, waiting for the asynchronous dispatcher."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def events(self) -> list[dict]:
        if not self.directory.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.directory.glob("*.json"))]

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "an event") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events():
                if predicate(event):
                    return event
            if time.monotonic() > deadline:
                names = [(e["eventType"], e["job"]["name"]) for e in self.events()]
                raise AssertionError(f"no {what} within {timeout}s; events: {names}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def events(spool) -> Spool:
    return Spool(spool)


def free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def names(datasets: list[dict]) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in datasets}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
