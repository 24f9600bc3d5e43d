"""The listener's kafka transport against the real Atlas and its Kafka: a real PySpark job (a licensed
registered input, an unregistered one, an ETL write, a JVM Spark ML fit saved as a model) run once with the
spool transport (then ingested) and once with the kafka transport (applied by Atlas's own hook consumer) must
leave the same entities, lineage and model tags in Atlas, names aside. And with Kafka down, the job still
succeeds and its events wait in the spool.

The broker: ATLAS_KAFKA_BOOTSTRAP_SERVERS, else the test session's local Atlas (`server status` reports it);
against another Atlas (ATLAS_URL) without that variable the tests skip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.openlineage.ingest import LineageIngestor
from atlas_mlplugin.reads import tags_of
from atlas_mlplugin.server.launcher import LocalAtlas
from tests.integration.conftest import free_port

pytest.importorskip("pyspark", reason="install the 'spark' extra (make installs it)")
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OUR_JAR = REPO / "spark_listener" / "target" / "2.13" / "atlas-mlplugin-spark-listener_2.13-0.1.0.jar"

JOB = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from pyspark.sql import SparkSession
    jar, base, conf = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    builder = (SparkSession.builder.master("local[2]").appName("churn").config("spark.jars", jar)
               .config("spark.sql.queryExecutionListeners", "io.atlasml.spark.AtlasQueryListener")
               .config("spark.extraListeners", "io.atlasml.spark.AtlasSparkListener")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    people = spark.read.option("header", True).option("inferSchema", True).csv(str(base / "raw/people.csv"))
    orders = spark.read.option("header", True).option("inferSchema", True).csv(str(base / "raw/orders.csv"))
    people.join(orders, "id").write.mode("overwrite").parquet(str(base / "gold/joined.parquet"))
    gold = spark.read.parquet(str(base / "gold/joined.parquet"))
    jvm, gateway = spark._jvm, spark.sparkContext._gateway
    columns = gateway.new_array(jvm.java.lang.String, 2)
    columns[0], columns[1] = "age", "amount"
    assembler = jvm.org.apache.spark.ml.feature.VectorAssembler().setInputCols(columns).setOutputCol("features")
    lr = jvm.org.apache.spark.ml.classification.LogisticRegression().setMaxIter(5).setLabelCol("churned")
    stages = gateway.new_array(jvm.org.apache.spark.ml.PipelineStage, 2)
    stages[0], stages[1] = assembler, lr
    # A fixed uid: Spark ML draws a random one per Pipeline, and the training run's name carries it.
    jvm.org.apache.spark.ml.Pipeline("churn_pipeline").setStages(stages).fit(gold._jdf).write().overwrite().save(
        str(base / "models/churn"))
    spark.stop()
""")


@pytest.fixture(scope="module")
def bootstrap(local_atlas: LocalAtlas | None) -> str:
    found = os.environ.get("ATLAS_KAFKA_BOOTSTRAP_SERVERS")
    if not found and local_atlas is not None:
        found = local_atlas.status().kafka_bootstrap_servers
    if not found:
        pytest.skip("no Kafka of this Atlas known: set ATLAS_KAFKA_BOOTSTRAP_SERVERS (`atlas-ml server status --json`)")
    return found


def _lake(base: Path, registry: GovernanceRegistry) -> None:
    (base / "raw").mkdir(parents=True)
    (base / "raw/people.csv").write_text("id,age\n" + "".join(f"{i},{20 + i}\n" for i in range(40)))
    (base / "raw/orders.csv").write_text("id,amount,churned\n" + "".join(f"{i},{i * 3},{i % 2}\n" for i in range(40)))
    registry.register_dataset(DatasetSpec(qualified_name=(base / "raw/people.csv").as_uri(), name="people",
                                          license="CC-BY-NC-4.0", personal_data_categories=["age"]))


def _run(tmp: Path, base: Path, conf: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import json

    (tmp / "job.py").write_text(JOB)
    job = subprocess.run([sys.executable, str(tmp / "job.py"), str(OUR_JAR), str(base), json.dumps(conf)],
                         capture_output=True, text=True, timeout=900, check=False)
    assert job.returncode == 0, job.stderr[-3000:]
    return job


def _rest(atlas: AtlasSettings) -> dict[str, str]:
    password = atlas.password.get_secret_value() if isinstance(atlas.password, SecretStr) else ""
    return {"spark.atlas.rest.url": atlas.url, "spark.atlas.rest.user": atlas.username or "",
            "spark.atlas.rest.password": password}


# Per run, not per transport: Spark's application id, the run's id and times.
VOLATILE = {"applicationId", "runId", "startTime", "endTime"}


def _held(client: AtlasClient, registry: GovernanceRegistry, base: Path, namespace: str) -> dict[str, Any]:
    """What Atlas holds about the run's model: every entity of its lineage with all its attributes and tags
    (own and propagated, by source), the edges, and the model's tags, with the run's own prefixes replaced by
    fixed ones: the lake's URI, the namespace, and the lake's path as the listener puts it into job names."""
    in_job_names = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(base).lstrip("/"))  # Names.jobSafe

    def rel(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return text.replace(base.as_uri(), "LAKE").replace(in_job_names, "LAKE").replace(namespace, "NS")

    def value(v: Any) -> Any:
        if isinstance(v, dict) and "uniqueAttributes" in v:  # a reference: by name, not by guid
            return (v["typeName"], rel(v["uniqueAttributes"]["qualifiedName"]))
        if isinstance(v, list):
            return sorted((value(x) for x in v), key=repr)
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items()}
        return rel(v)

    model = client.find_entity("ml_model", (base / "models/churn").as_uri())
    assert model is not None, "the model is not in Atlas"
    lineage = client.lineage(model["entity"]["guid"], "INPUT", 10)
    guids = lineage["guidEntityMap"]
    names = {guid: rel(e["attributes"]["qualifiedName"]) for guid, e in guids.items()}
    entities = {}
    for entity in guids.values():
        full = client.find_entity(entity["typeName"], entity["attributes"]["qualifiedName"])["entity"]
        attrs = {k: value(v) for k, v in full["attributes"].items() if k not in VOLATILE and v not in (None, [], {})}
        tags = sorted([(t["typeName"], names.get(t.get("entityGuid"), t.get("entityGuid")),
                        rel((t.get("attributes") or {}).get("licenseId")), t.get("propagate"))
                       for t in full.get("classifications") or []], key=repr)
        entities[rel(entity["attributes"]["qualifiedName"])] = (entity["typeName"], attrs, tags)
    edges = sorted((names[r["fromEntityId"]], names[r["toEntityId"]]) for r in lineage["relations"])
    tags = sorted((t.type_name, rel(t.source_qualified_name), rel(t.attributes.get("licenseId")))
                  for t in tags_of(registry.client, (base / "models/churn").as_uri()))
    return {"entities": entities, "edges": edges, "model_tags": tags}


def _wait_for_model(client: AtlasClient, base: Path, timeout: float = 120.0) -> None:
    """Atlas applies hook notifications on its own time: wait (boundedly) until the last one, the fit, is in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = client.find_entity("ml_model", (base / "models/churn").as_uri())
        if model is not None and model["entity"].get("relationshipAttributes", {}).get("outputFromProcesses"):
            time.sleep(2)  # the consumer commits its transaction, then tags propagate
            return
        time.sleep(1)
    pytest.fail(f"Atlas did not apply the kafka transport's notifications within {timeout:g} s")


def test_kafka_transport_leaves_in_atlas_what_the_spool_transport_does(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings, bootstrap: str,
        uid: str, tmp_path: Path) -> None:
    assert OUR_JAR.is_file(), "build the listener first: make listener"
    held = {}
    for transport in ("spool", "kafka"):
        base, namespace = tmp_path / transport / f"lake-{uid}", f"ns-{uid}-{transport}"
        _lake(base, registry)
        spool = tmp_path / transport / "spool"
        conf = {"spark.atlas.transport": transport, "spark.atlas.spool.dir": str(spool),
                "spark.atlas.namespace": namespace}
        if transport == "kafka":
            conf |= {"spark.atlas.kafka.bootstrap.servers": bootstrap, **_rest(atlas_settings)}
        job = _run(tmp_path / transport, base, conf)
        if transport == "spool":
            report = LineageIngestor(registry).drain(spool)
            assert not report.rejected and report.error is None, report
        else:
            assert not list(spool.glob("*.json")), "events went to the spool, not to Kafka: " + job.stderr[-3000:]
            _wait_for_model(client, base)
        held[transport] = _held(client, registry, base, namespace)
    assert held["kafka"] == held["spool"]
    model_tags = {t[0] for t in held["kafka"]["model_tags"]}
    assert {"NonCommercial", "PersonalData", "UnknownLicense"} <= model_tags  # licensed + unregistered inputs


def test_kafka_down_the_job_succeeds_and_its_events_wait_in_the_spool(
        registry: GovernanceRegistry, atlas_settings: AtlasSettings, uid: str, tmp_path: Path) -> None:
    assert OUR_JAR.is_file(), "build the listener first: make listener"
    base, spool = tmp_path / f"lake-{uid}", tmp_path / "spool"
    _lake(base, registry)
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    conf = {"spark.atlas.transport": "kafka", "spark.atlas.spool.dir": str(spool), "spark.atlas.namespace": uid,
            "spark.atlas.kafka.bootstrap.servers": closed, "spark.atlas.kafka.timeoutMs": "3000",
            **_rest(atlas_settings)}
    job = _run(tmp_path, base, conf)
    spooled = list(spool.glob("*.json"))
    assert spooled, "the events Kafka did not take are not in the spool: " + job.stderr[-3000:]
    report = LineageIngestor(registry).drain(spool)  # and ingest delivers them later
    assert not report.rejected and report.error is None, report
    password = _rest(atlas_settings)["spark.atlas.rest.password"]
    assert not password or password not in job.stdout + job.stderr, "the Atlas password reached the job's log"
