"""The naming join with real Spark, for the table kinds Spark platforms use: a job under our listener writes
CC-BY-NC data into a Hive-enabled `saveAsTable` and a Hive SerDe table, a Delta Lake table and a Delta path,
an Apache Iceberg table in a V2 (Hadoop) catalog and a JDBC table; a second Spark application, under PySpark
ML autolog only, trains one model on each. Every model must carry the source dataset's NonCommercial tag
(and no placeholder UnknownLicense), so a public commercial release is blocked.

And absence of lineage is never a clean bill: models fitted on a checkpointed DataFrame and on in-memory rows
carry IncompleteLineage, which blocks a public release, and autolog says in the log what it could not name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.cli.main import cli
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.openlineage.ingest import LineageIngestor
from atlas_mlplugin.policy.check import check_model
from atlas_mlplugin.policy.model import ReleaseContext
from atlas_mlplugin.reads import tags_of
from tests.integration.maven_jars import maven_jar

pytest.importorskip("pyspark", reason="install the 'spark' extra (make installs it)")
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OUR_JAR = REPO / "spark_listener" / "target" / "2.13" / "atlas-mlplugin-spark-listener_2.13-0.1.0.jar"
# Runtimes for Spark 4.0 / Scala 2.13, from Maven Central.
DELTA = [("io.delta", "delta-spark_2.13", "4.0.0"), ("io.delta", "delta-storage", "4.0.0")]
ICEBERG = [("org.apache.iceberg", "iceberg-spark-runtime-4.0_2.13", "1.10.0")]
SQLITE = [("org.xerial", "sqlite-jdbc", "3.50.3.0")]

# The same Spark settings for both applications: one warehouse, one Hive metastore (Derby), one Iceberg catalog.
SESSION = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pyspark.sql import SparkSession

    def session(name, base, jars, listener):
        b = (SparkSession.builder.master("local[1]").appName(name).config("spark.jars", jars)
             .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension,"
                     "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
             .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
             .config("spark.sql.catalog.lake", "org.apache.iceberg.spark.SparkCatalog")
             .config("spark.sql.catalog.lake.type", "hadoop")
             .config("spark.sql.catalog.lake.warehouse", str(base / "iceberg"))
             .config("spark.sql.warehouse.dir", str(base / "warehouse"))
             .config("javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={base}/metastore_db;create=true")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2"))
        if listener:
            b = (b.config("spark.sql.queryExecutionListeners", "io.atlasml.spark.AtlasQueryListener")
                 .config("spark.extraListeners", "io.atlasml.spark.AtlasSparkListener")
                 .config("spark.atlas.spool.dir", str(base / "listener-spool")))
        return b.enableHiveSupport().getOrCreate()
""")

ETL = SESSION + textwrap.dedent("""
    base, jars, csv, jdbc_url = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    spark = session("lake-etl", base, jars, listener=True)
    people = spark.read.option("header", True).option("inferSchema", True).csv(csv)
    people.write.format("parquet").mode("overwrite").saveAsTable("hive_people")
    people.createOrReplaceTempView("people_view")  # a Hive SerDe table: read back as a HiveTableRelation
    spark.sql("DROP TABLE IF EXISTS hive_text_people")
    spark.sql("CREATE TABLE hive_text_people STORED AS TEXTFILE AS SELECT * FROM people_view")
    people.write.format("delta").mode("overwrite").saveAsTable("delta_people")
    people.write.format("delta").mode("overwrite").save(str(base / "delta-path"))
    spark.sql("CREATE NAMESPACE IF NOT EXISTS lake.db")
    people.writeTo("lake.db.ice_people").createOrReplace()
    people.write.mode("overwrite").jdbc(jdbc_url, "people", properties={"driver": "org.sqlite.JDBC"})
    spark.stop()
""")

TRAIN = SESSION + textwrap.dedent("""
    import logging
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    base, jars, jdbc_url = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    spark = session("lake-train", base, jars, listener=False)
    spark.sparkContext.setCheckpointDir(str(base / "checkpoints"))
    from atlas_mlplugin.spark import autolog
    autolog()
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    sources = {
        "hive": spark.table("hive_people"),
        "hive-serde": spark.table("hive_text_people"),
        "delta-table": spark.table("delta_people"),
        "delta-path": spark.read.format("delta").load(str(base / "delta-path")),
        "iceberg": spark.table("lake.db.ice_people"),
        "jdbc": spark.read.jdbc(jdbc_url, "people", properties={"driver": "org.sqlite.JDBC"}),
        "checkpointed": spark.read.option("header", True).option("inferSchema", True)
                             .csv(str(base / "raw.csv")).checkpoint(),
        "in-memory": spark.createDataFrame([(20 + i, 3 * i, i % 2) for i in range(40)], ["age", "amount", "churned"]),
    }
    for kind, df in sources.items():
        model = Pipeline(stages=[VectorAssembler(inputCols=["age", "amount"], outputCol="features"),
                                 LogisticRegression(maxIter=5, labelCol="churned")]).fit(df)
        model.write().overwrite().save(str(base / "models" / kind))
    spark.stop()
""")

KINDS = ["hive", "hive-serde", "delta-table", "delta-path", "iceberg", "jdbc"]
NO_LINEAGE = ["checkpointed", "in-memory"]


def _run(script: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    job = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=900,
                         env=env, cwd=cwd, check=False)
    assert job.returncode == 0, job.stderr[-4000:]
    return job


@pytest.fixture(scope="module")
def lake(registry: GovernanceRegistry, atlas_settings: AtlasSettings, tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, Any]:
    assert OUR_JAR.is_file(), "build the listener first: make listener"
    base = Path(os.path.realpath(tmp_path_factory.mktemp("lake")))
    raw = base / "raw.csv"
    raw.write_text("id,age,amount,churned\n" + "".join(f"{i},{20 + i},{3 * i},{i % 2}\n" for i in range(40)))
    registry.register_dataset(DatasetSpec(qualified_name=raw.as_uri(), name="crm people", license="CC-BY-NC-4.0"))
    jars = ",".join(str(maven_jar(*c)) for c in [*DELTA, *ICEBERG, *SQLITE])
    jdbc_url = f"jdbc:sqlite:{base / 'crm.db'}"
    password = atlas_settings.password.get_secret_value() if isinstance(atlas_settings.password, SecretStr) else ""
    env = {**os.environ, "ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": password, "ATLAS_ML_SPOOL_DIR": str(base / "autolog-spool"),
           "PYTHONPATH": str(REPO)}

    etl = _run(ETL, [str(base), f"{OUR_JAR},{jars}", str(raw), jdbc_url], env, base)
    report = LineageIngestor(registry).drain(base / "listener-spool")
    assert report.applied and not report.rejected and report.error is None, (report, etl.stderr[-2000:])
    train = _run(TRAIN, [str(base), jars, jdbc_url], env, base)
    return {"base": base, "raw": raw.as_uri(), "train_log": train.stderr, "events": report}


def model_of(lake: dict[str, Any], kind: str) -> str:
    return (lake["base"] / "models" / kind).as_uri()


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_trained_on_a_table_the_listener_saw_carries_the_sources_tags(
        lake: dict[str, Any], client: AtlasClient, kind: str) -> None:
    model = model_of(lake, kind)
    assert client.find_entity("ml_model", model) is not None, f"autolog recorded no model for {kind}"
    tags = tags_of(client, model)
    assert [t.source_qualified_name for t in tags if t.type_name == "NonCommercial"] == [lake["raw"]], tags
    # No placeholder: the table autolog named is the dataset the listener recorded as the job's output.
    assert not [t for t in tags if t.type_name in ("UnknownLicense", "IncompleteLineage")], tags
    report = check_model(client, model, ReleaseContext(audience="public", commercial=True))
    assert report.verdict == "BLOCK"
    assert [f.source_qualified_name for f in report.findings if f.rule_id == "non-commercial-in-commercial-release"
            ] == [lake["raw"]]


@pytest.mark.parametrize("kind", NO_LINEAGE)
def test_a_model_whose_data_cannot_be_named_is_never_a_clean_bill(
        lake: dict[str, Any], client: AtlasClient, atlas_settings: AtlasSettings, kind: str) -> None:
    model = model_of(lake, kind)
    tags = tags_of(client, model)
    incomplete = [t for t in tags if t.type_name == "IncompleteLineage"]
    assert incomplete and "could not be named" in incomplete[0].attributes["reason"], tags
    expected = "LogicalRDD" if kind == "checkpointed" else ("LogicalRDD", "LocalRelation")
    assert any(u.startswith(expected) for u in incomplete[0].attributes["unresolvedInputs"])
    report = check_model(client, model, ReleaseContext(audience="public", commercial=True))
    assert report.verdict == "BLOCK" and "incomplete-lineage-public" in {f.rule_id for f in report.findings}
    internal = check_model(client, model, ReleaseContext(audience="internal"))
    assert internal.verdict == "WARN"
    # autolog said what it could not name, and why
    assert "cannot name" in lake["train_log"] and "IncompleteLineage" in lake["train_log"]
    # and the lineage command shows the run, not "None None"
    password = atlas_settings.password.get_secret_value() if isinstance(atlas_settings.password, SecretStr) else ""
    env = {"ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "", "ATLAS_PASSWORD": password}
    out = CliRunner().invoke(cli, ["lineage", model], env=env)
    assert out.exit_code == 0 and "None" not in out.output and f"ml_model {model}" in out.output, out.output
    tree = json.loads(CliRunner().invoke(cli, ["lineage", model, "--format", "json"], env=env).output)
    assert tree["upstream"] and tree["upstream"][0]["typeName"] == "ml_training_run"
    assert tree["upstream"][0]["contributes"] == ["IncompleteLineage"]


def test_the_listener_captured_every_write(lake: dict[str, Any], client: AtlasClient) -> None:
    warehouse = (lake["base"] / "warehouse").as_uri()
    tables = {"hive": f"{warehouse}/default.hive_people", "hive-serde": f"{warehouse}/default.hive_text_people",
              "delta-table": f"{warehouse}/default.delta_people",
              "delta-path": (lake["base"] / "delta-path").as_uri(),
              "iceberg": f"{(lake['base'] / 'iceberg').as_uri()}/db.ice_people",
              "jdbc": f"jdbc:sqlite:{lake['base'] / 'crm.db'}/people"}
    for kind, qualified_name in tables.items():
        found = client.find_entity("ml_dataset", qualified_name)
        assert found is not None, f"{kind}: no dataset {qualified_name}"
        writers = found["entity"]["relationshipAttributes"]["outputFromProcesses"]
        assert writers and writers[0]["typeName"] == "ml_spark_process", kind
