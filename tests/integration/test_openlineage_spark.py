"""The real openlineage-spark listener (from Maven Central) -> `atlas-ml serve`'s receiver -> Atlas:
a third-party producer's events land on the same entities as a registered dataset."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.openlineage.ingest import LineageIngestor
from atlas_mlplugin.openlineage.receiver import make_server, serve_in_background
from atlas_mlplugin.reads import tags_of
from tests.integration.maven_jars import maven_jar

pytest.importorskip("pyspark", reason="install the 'spark' extra (make installs it)")
pytestmark = pytest.mark.integration

OPENLINEAGE_SPARK = ("io.openlineage", "openlineage-spark_2.13", "1.53.0")  # Scala 2.13 = PySpark 4

JOB = textwrap.dedent("""
    import sys
    from pyspark.sql import SparkSession
    jar, url, token, csv, out = sys.argv[1:6]
    spark = (SparkSession.builder.master("local[1]").appName("ol-etl").config("spark.jars", jar)
             .config("spark.extraListeners", "io.openlineage.spark.agent.OpenLineageSparkListener")
             .config("spark.openlineage.transport.type", "http")
             .config("spark.openlineage.transport.url", url)
             .config("spark.openlineage.transport.endpoint", "/api/v1/lineage")
             .config("spark.openlineage.transport.auth.type", "api_key")
             .config("spark.openlineage.transport.auth.apiKey", token)
             .config("spark.openlineage.namespace", "spark").config("spark.ui.enabled", "false").getOrCreate())
    spark.read.option("header", True).csv(csv).write.mode("overwrite").parquet(out)
    spark.stop()
""")


def test_openlineage_spark_events_map_onto_the_registered_dataset(
        registry: GovernanceRegistry, client: AtlasClient, tmp_path: Path) -> None:
    jar = maven_jar(*OPENLINEAGE_SPARK)
    csv, out = tmp_path / "people.csv", tmp_path / "people.parquet"
    csv.write_text("name,age\nana,31\nbo,42\n")
    registry.register_dataset(DatasetSpec(qualified_name=csv.as_uri(), name="people", license="CC-BY-NC-4.0"))
    (tmp_path / "job.py").write_text(JOB)

    events = tmp_path / "events"
    server = make_server("127.0.0.1", 0, token="t0ken", directory=events)
    serve_in_background(server)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        job = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(jar), url, "t0ken", str(csv), str(out)],
                             capture_output=True, text=True, timeout=300, check=False)
        assert job.returncode == 0, job.stderr[-2000:]
    finally:
        server.shutdown()
        server.server_close()
    assert list(events.glob("*.json")), "openlineage-spark posted no events to the receiver"

    report = LineageIngestor(registry).drain(events)
    assert report.applied >= 1 and not report.rejected

    parquet = client.find_entity("ml_dataset", out.as_uri())
    assert parquet is not None, "the Parquet output is an Atlas dataset named like ours"
    tags = tags_of(registry.client, out.as_uri(), "ml_dataset")
    assert [t.source_qualified_name for t in tags if t.type_name == "NonCommercial"] == [csv.as_uri()]
    writers = parquet["entity"]["relationshipAttributes"]["outputFromProcesses"]
    assert len(writers) == 1 and writers[0]["typeName"] == "ml_spark_process"
