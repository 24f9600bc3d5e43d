"""Real PySpark with our listener jar (and openlineage-spark beside it) -> events -> the real Atlas.

The job runs in its own Python process (its own JVM, with the jars on its classpath), as a team's job
would; Atlas is not involved while it runs: lineage waits on disk, and arrives when ingested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.openlineage.ingest import LineageIngestor
from atlas_mlplugin.openlineage.receiver import make_server, serve_in_background
from atlas_mlplugin.reads import tags_of
from tests.integration.maven_jars import maven_jar

pytest.importorskip("pyspark", reason="install the 'spark' extra (make installs it)")
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OUR_JAR = REPO / "spark_listener" / "target" / "2.13" / "atlas-mlplugin-spark-listener_2.13-0.1.0.jar"

JOB = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pyspark.sql import SparkSession
    jars, spool, ol_url, token, base, sqlite_url = sys.argv[1:7]
    base = Path(base)
    spark = (SparkSession.builder.master("local[2]").appName("churn-etl").config("spark.jars", jars)
             .config("spark.sql.queryExecutionListeners", "io.atlasml.spark.AtlasQueryListener")
             .config("spark.extraListeners",
                     "io.atlasml.spark.AtlasSparkListener,io.openlineage.spark.agent.OpenLineageSparkListener")
             .config("spark.atlas.spool.dir", spool)
             .config("spark.openlineage.transport.type", "http").config("spark.openlineage.transport.url", ol_url)
             .config("spark.openlineage.transport.endpoint", "/api/v1/lineage")
             .config("spark.openlineage.transport.auth.type", "api_key")
             .config("spark.openlineage.transport.auth.apiKey", token)
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    people = spark.read.option("header", True).option("inferSchema", True).csv(str(base / "raw/people.csv"))
    orders = spark.read.option("header", True).option("inferSchema", True).csv(str(base / "raw/orders.csv"))
    people.write.mode("overwrite").parquet(str(base / "clean/people.parquet"))
    orders.write.mode("overwrite").parquet(str(base / "clean/orders.parquet"))
    joined = (spark.read.parquet(str(base / "clean/people.parquet"))
              .join(spark.read.parquet(str(base / "clean/orders.parquet")), "id"))
    joined.write.mode("overwrite").parquet(str(base / "gold/joined.parquet"))
    people.write.mode("overwrite").jdbc(sqlite_url + ";password=Url-Pa55-Secret", "people_copy",
                                        properties={"user": "sa", "password": "Prop-Pa55-Secret",
                                                    "driver": "org.sqlite.JDBC"})

    from atlas_mlplugin.spark import autolog   # PySpark ML: the Python hook
    autolog()
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    gold = spark.read.parquet(str(base / "gold/joined.parquet"))
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=["age", "amount"], outputCol="features"),
                                LogisticRegression(maxIter=5, labelCol="churned")])
    pipeline.fit(gold).write().overwrite().save(str(base / "models/pyspark-churn"))

    jvm, gateway = spark._jvm, spark.sparkContext._gateway   # JVM Spark ML through py4j: the listener's events
    columns = gateway.new_array(jvm.java.lang.String, 2)
    columns[0], columns[1] = "age", "amount"
    assembler = jvm.org.apache.spark.ml.feature.VectorAssembler().setInputCols(columns).setOutputCol("features")
    lr = jvm.org.apache.spark.ml.classification.LogisticRegression().setMaxIter(5).setLabelCol("churned")
    stages = gateway.new_array(jvm.org.apache.spark.ml.PipelineStage, 2)
    stages[0], stages[1] = assembler, lr
    model = jvm.org.apache.spark.ml.Pipeline().setStages(stages).fit(gold._jdf)
    model.write().overwrite().save(str(base / "models/jvm-churn"))
    spark.stop()
""")


def test_etl_and_both_kinds_of_spark_ml_reach_atlas_with_tags_and_one_entity_per_dataset(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings, tmp_path: Path) -> None:
    assert OUR_JAR.is_file(), "build the listener first: make listener"
    ol_jar = maven_jar("io.openlineage", "openlineage-spark_2.13", "1.53.0")
    sqlite_jar = maven_jar("org.xerial", "sqlite-jdbc", "3.50.3.0")
    base = tmp_path / "lake"
    (base / "raw").mkdir(parents=True)
    (base / "raw/people.csv").write_text("id,age\n" + "".join(f"{i},{20 + i}\n" for i in range(40)))
    (base / "raw/orders.csv").write_text("id,amount,churned\n" + "".join(f"{i},{i * 3},{i % 2}\n" for i in range(40)))
    people = (base / "raw/people.csv").as_uri()
    registry.register_dataset(DatasetSpec(qualified_name=people, name="people", license="CC-BY-NC-4.0",
                                          personal_data_categories=["age"]))
    (tmp_path / "job.py").write_text(JOB)

    ours, theirs = tmp_path / "listener-spool", tmp_path / "openlineage-events"
    server = make_server("127.0.0.1", 0, token="tok", directory=theirs)
    serve_in_background(server)
    password = atlas_settings.password.get_secret_value() if isinstance(atlas_settings.password, SecretStr) else ""
    env = {**os.environ, "ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": password, "ATLAS_ML_SPOOL_DIR": str(tmp_path / "autolog-spool")}
    try:
        job = subprocess.run([sys.executable, str(tmp_path / "job.py"), f"{OUR_JAR},{ol_jar},{sqlite_jar}", str(ours),
                              f"http://127.0.0.1:{server.server_address[1]}", "tok", str(base),
                              f"jdbc:sqlite:{tmp_path / 'crm.db'}"],
                             capture_output=True, text=True, timeout=900, env=env, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert job.returncode == 0, job.stderr[-3000:]
    assert list(ours.glob("*.json")), "our listener spooled no events"

    ingestor = LineageIngestor(registry)
    for directory in (ours, theirs):
        report = ingestor.drain(directory)
        assert not report.rejected and report.error is None, report

    gold = (base / "gold/joined.parquet").as_uri()
    # Both producers reported the join's write: it is one process in Atlas, between the same datasets.
    writers = client.find_entity("ml_dataset", gold)["entity"]["relationshipAttributes"]["outputFromProcesses"]
    assert [w["typeName"] for w in writers] == ["ml_spark_process"]

    pyspark_model = (base / "models/pyspark-churn").as_uri()
    tags = tags_of(registry.client, pyspark_model)
    assert [t.source_qualified_name for t in tags if t.type_name == "NonCommercial"] == [people]
    non_commercial = next(t for t in tags if t.type_name == "NonCommercial")
    assert non_commercial.attributes["sourceDataset"] == people
    lineage = client.lineage(client.find_entity("ml_model", pyspark_model)["entity"]["guid"], "INPUT", 10)
    names = {e["attributes"]["qualifiedName"] for e in lineage["guidEntityMap"].values()}
    assert {people, (base / "clean/people.parquet").as_uri(), gold} <= names
    types = {e["typeName"] for e in lineage["guidEntityMap"].values()}
    assert {"ml_spark_process", "ml_training_run", "ml_dataset"} <= types

    # The JDBC write is in Atlas, and neither password is: not in Atlas, not in the job's log.
    sqlite_tables = [e["attributes"]["qualifiedName"] for e in
                     client.search_basic("ml_dataset", limit=1000).get("entities") or []
                     if "people_copy" in e["attributes"]["qualifiedName"]]
    assert sqlite_tables, "the JDBC table written by the job is a dataset in Atlas"
    in_atlas = json.dumps([client.search_basic(t, limit=1000) for t in ("ml_dataset", "ml_spark_process")])
    for secret in ("Url-Pa55-Secret", "Prop-Pa55-Secret"):
        assert secret not in in_atlas and secret not in job.stdout + job.stderr

    jvm_model = (base / "models/jvm-churn").as_uri()
    assert client.find_entity("ml_model", jvm_model) is not None, "the JVM Pipeline's saved model is in Atlas"
    assert "NonCommercial" in {t.type_name for t in tags_of(registry.client, jvm_model)}
