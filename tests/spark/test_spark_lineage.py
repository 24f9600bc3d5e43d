"""The listener in a real local Spark: ETL over files, JDBC with credentials, a JVM Spark ML pipeline."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import pytest
from conftest import names, require_spark_test_deps

require_spark_test_deps()
from openlineage_spec import validate_event  # noqa: E402


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def outputs_named(path: Path):
    return lambda e: e["eventType"] == "COMPLETE" and ("file", str(path)) in names(e["outputs"])


def test_csv_to_parquet_to_join(spark, workdir, events):
    base = workdir / "etl"
    people_csv = write_csv(base / "in" / "people.csv", ["id", "name", "city_id"],
                           [[1, "ada", 10], [2, "bob", 20], [3, "cy", 10]])
    cities_csv = write_csv(base / "in" / "cities.csv", ["city_id", "city"], [[10, "Oslo"], [20, "Lima"]])
    people_pq, cities_pq, joined_pq = base / "people.parquet", base / "cities.parquet", base / "joined.parquet"

    spark.read.option("header", True).option("inferSchema", True).csv(str(people_csv)) \
        .write.mode("overwrite").parquet(str(people_pq))
    spark.read.option("header", True).option("inferSchema", True).csv(str(cities_csv)) \
        .write.mode("overwrite").parquet(str(cities_pq))
    people, cities = spark.read.parquet(str(people_pq)), spark.read.parquet(str(cities_pq))
    people.join(cities, "city_id").write.mode("overwrite").parquet(str(joined_pq))
    assert spark.read.parquet(str(joined_pq)).count() == 3

    first = events.wait_for(outputs_named(people_pq), what="people.parquet write")
    assert names(first["inputs"]) == {("file", str(people_csv))}
    assert first["inputs"][0]["facets"]["storage"]["fileFormat"] == "csv"
    assert [f["name"] for f in first["inputs"][0]["facets"]["schema"]["fields"]] == ["id", "name", "city_id"]
    assert first["inputs"][0]["facets"]["dataSource"]["uri"] == f"file://{people_csv}"
    assert first["outputs"][0]["facets"]["storage"]["fileFormat"] == "parquet"
    spark_facet = first["run"]["facets"]["atlasSpark"]
    assert spark_facet["saveMode"] == "Overwrite"
    assert spark_facet["applicationName"] == "atlas-listener-test"
    assert spark_facet["applicationId"] == spark.sparkContext.applicationId
    assert spark_facet["user"] == spark.sparkContext.sparkUser()
    assert spark_facet["executionId"].isdigit()
    assert spark_facet["startTime"] <= spark_facet["endTime"]

    joined = events.wait_for(outputs_named(joined_pq), what="joined.parquet write")
    assert names(joined["inputs"]) == {("file", str(people_pq)), ("file", str(cities_pq))}
    assert {f["name"] for f in joined["outputs"][0]["facets"]["schema"]["fields"]} == {"city_id", "id", "name",
                                                                                      "city"}
    # one execution, one run: runIds differ between executions and are UUIDs
    run_ids = {e["run"]["runId"] for e in (first, joined)}
    assert len(run_ids) == 2 and all(uuid.UUID(r) for r in run_ids)
    for event in (first, joined):
        validate_event(event)


def test_reads_without_writes_are_not_captured_by_default(spark, workdir, events):
    marker = write_csv(workdir / "reads" / f"only-read-{uuid.uuid4().hex[:6]}.csv", ["a"], [[1], [2]])
    assert spark.read.option("header", True).csv(str(marker)).count() == 2
    # a later write proves the dispatcher has caught up with everything before it
    after = workdir / "reads" / "after.parquet"
    spark.range(1).write.mode("overwrite").parquet(str(after))
    events.wait_for(outputs_named(after), what="the write after the read")
    assert not [e for e in events.events() if ("file", str(marker)) in names(e["inputs"])]


def test_save_as_table_names_the_table(spark, workdir, events):
    src = write_csv(workdir / "tables" / "src.csv", ["k", "v"], [[1, "x"]])
    spark.read.option("header", True).csv(str(src)).write.mode("overwrite").saveAsTable("lineage_t")
    event = events.wait_for(lambda e: any(d["name"] == "default.lineage_t" for d in e["outputs"])
                            and e["eventType"] == "COMPLETE", what="saveAsTable")
    out = next(d for d in event["outputs"] if d["name"] == "default.lineage_t")
    assert out["namespace"] == f"file://{workdir / 'warehouse'}"
    assert out["facets"]["symlinks"]["identifiers"][0]["name"] == str(workdir / "warehouse" / "lineage_t")
    assert ("file", str(src)) in names(event["inputs"])
    validate_event(event)


PASSWORD = "Pw-" + uuid.uuid4().hex  # unique: any occurrence anywhere is a leak
USER = "etl_user_" + uuid.uuid4().hex[:6]


def test_jdbc_write_and_read_never_leak_the_password(spark, workdir, events):
    db = workdir / "jdbc" / "app.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    url = f"jdbc:sqlite:{db}"
    props = {"user": USER, "password": PASSWORD, "driver": "org.sqlite.JDBC"}
    df = spark.createDataFrame([(1, "ada"), (2, "bob")], ["id", "name"])
    df.write.jdbc(url, "people", mode="overwrite", properties=props)
    # the same with the credentials in the URL itself
    df.write.jdbc(f"{url}?user={USER}&password={PASSWORD}", "people_url", mode="overwrite",
                  properties={"driver": "org.sqlite.JDBC"})
    back = spark.read.jdbc(url, "people", properties=props)
    out = workdir / "jdbc" / "people_copy.parquet"
    back.write.mode("overwrite").parquet(str(out))
    # a failing write: the table exists and the mode says error
    with pytest.raises(Exception, match="(?i)already exists"):
        df.write.jdbc(url, "people", mode="error", properties=props)

    def writes(table, event_type="COMPLETE"):  # found by table name only: the namespace is checked below
        return lambda e: e["eventType"] == event_type and [d["name"] for d in e["outputs"]] == [table]

    written = events.wait_for(writes("people"), what="jdbc write")
    in_url = events.wait_for(writes("people_url"), what="jdbc write via URL")
    copied = events.wait_for(outputs_named(out), what="jdbc read -> parquet")
    failed = events.wait_for(writes("people", "FAIL"), what="failed jdbc write")

    # first of all: the credentials are nowhere
    spooled = "".join(p.read_text() for p in sorted(events.directory.glob("*.json")))
    assert PASSWORD not in spooled
    assert USER not in spooled
    log = (workdir / "driver.log").read_text()
    assert "atlas-ml: lineage listener on" in log, "the driver log is not being captured"
    assert PASSWORD not in log

    assert written["outputs"][0]["namespace"] == url
    assert written["run"]["facets"]["atlasSpark"]["saveMode"] == "Overwrite"
    assert written["outputs"][0]["facets"]["dataSource"]["uri"] == url
    assert in_url["outputs"][0]["namespace"] == url
    assert names(copied["inputs"]) == {(url, "people")}
    assert failed["outputs"][0]["namespace"] == url
    assert "already exists" in failed["run"]["facets"]["errorMessage"]["message"].lower()
    assert failed["run"]["facets"]["atlasSpark"]["status"] == "FAILED"
    for event in (written, in_url, copied, failed):
        validate_event(event)


def test_jvm_pipeline_fit_and_save(spark, workdir, events):
    train_csv = write_csv(workdir / "ml" / "train.csv", ["x1", "x2", "label"],
                          [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.1, 0.9, 0.0], [0.9, 0.2, 1.0], [0.2, 0.8, 0.0],
                           [0.8, 0.1, 1.0]])
    model_path = workdir / "ml" / "model"
    df = spark.read.option("header", True).option("inferSchema", True).csv(str(train_csv))
    sc = spark.sparkContext
    jvm, gateway = sc._jvm, sc._gateway
    cols = gateway.new_array(jvm.java.lang.String, 2)
    cols[0], cols[1] = "x1", "x2"
    assembler = jvm.org.apache.spark.ml.feature.VectorAssembler().setInputCols(cols).setOutputCol("features")
    lr = jvm.org.apache.spark.ml.classification.LogisticRegression().setMaxIter(7).setRegParam(0.01)
    stages = gateway.new_array(jvm.org.apache.spark.ml.PipelineStage, 2)
    stages[0], stages[1] = assembler, lr
    pipeline = jvm.org.apache.spark.ml.Pipeline().setStages(stages)
    model = pipeline.fit(df._jdf)
    model.write().overwrite().save(str(model_path))
    assert (model_path / "metadata").exists()

    start = events.wait_for(lambda e: e["eventType"] == "START" and "atlasMl" in e["run"]["facets"]
                            and e["run"]["facets"]["atlasMl"]["estimatorUid"] == pipeline.uid(), what="FitStart")
    saved = events.wait_for(lambda e: e["eventType"] == "COMPLETE" and "atlasMl" in e["run"]["facets"]
                            and ("file", str(model_path)) in names(e["outputs"]), what="model save")
    fit_end = events.wait_for(lambda e: e["eventType"] == "COMPLETE" and e["run"]["runId"] == start["run"]["runId"],
                              what="FitEnd")
    ml = saved["run"]["facets"]["atlasMl"]
    assert ml["estimatorClass"] == "org.apache.spark.ml.Pipeline"
    assert ml["modelUid"] == model.uid() and ml["modelPath"] == f"file://{model_path}"
    assert ml["trainingRunId"] == start["run"]["runId"]
    stage = {s["class"]: s for s in ml["stages"]}
    assert stage["org.apache.spark.ml.classification.LogisticRegression"]["params"]["maxIter"] == "7"
    assert stage["org.apache.spark.ml.classification.LogisticRegression"]["params"]["regParam"] == "0.01"
    assert "parent" not in start["run"]["facets"]
    # the stages fitted inside the Pipeline (if this Spark posts their events) are runs within its run
    nested = [e for e in events.events() if "atlasMl" in e["run"]["facets"]
              and e["run"]["facets"]["atlasMl"]["estimatorUid"] == lr.uid()]
    for event in nested:
        assert event["run"]["facets"]["parent"]["run"]["runId"] == start["run"]["runId"]
        validate_event(event)
    for event in (start, fit_end, saved):
        assert names(event["inputs"]) == {("file", str(train_csv))}
        assert event["job"]["name"] == start["job"]["name"]
        assert event["job"]["facets"]["jobType"]["jobType"] == "ML_TRAINING"
        validate_event(event)


def test_datasource_v2_jdbc_catalog(spark, workdir, events):
    db = workdir / "jdbc" / "v2.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    url = f"jdbc:sqlite:{db}"
    spark.conf.set("spark.sql.catalog.lite", "org.apache.spark.sql.execution.datasources.v2.jdbc.JDBCTableCatalog")
    spark.conf.set("spark.sql.catalog.lite.url", url)
    spark.conf.set("spark.sql.catalog.lite.driver", "org.sqlite.JDBC")
    spark.conf.set("spark.sql.catalog.lite.user", USER)
    spark.conf.set("spark.sql.catalog.lite.password", PASSWORD)
    # numbers only: SQLite reports TEXT columns as VARCHAR(0), which V2 writes refuse
    df = spark.createDataFrame([(1, 0.5)], ["id", "score"])
    df.write.jdbc(url, "people_v2", mode="overwrite", properties={"driver": "org.sqlite.JDBC"})
    df.writeTo("lite.people_v2").append()  # DataSource V2: AppendData over a DataSourceV2Relation
    out = workdir / "jdbc" / "people_v2.parquet"
    spark.table("lite.people_v2").write.mode("overwrite").parquet(str(out))
    assert spark.read.parquet(str(out)).count() == 2

    appended = events.wait_for(lambda e: e["run"]["facets"]["atlasSpark"].get("command") == "AppendData",
                               what="AppendData")
    assert names(appended["outputs"]) == {(url, "people_v2")}
    assert appended["run"]["facets"]["atlasSpark"]["saveMode"] == "Append"
    copied = events.wait_for(outputs_named(out), what="V2 read -> parquet")
    assert names(copied["inputs"]) == {(url, "people_v2")}
    for event in (appended, copied):
        validate_event(event)
    spooled = "".join(p.read_text() for p in sorted(events.directory.glob("*.json")))
    assert PASSWORD not in spooled and USER not in spooled


def test_inputs_no_one_can_name_are_reported_not_dropped(spark, workdir, events):
    base = workdir / "unnamed"
    in_memory, generated = base / "in_memory.parquet", base / "generated.parquet"
    spark.createDataFrame([(1, "ada"), (2, "bob")], ["id", "name"]).write.mode("overwrite").parquet(str(in_memory))
    spark.range(5).write.mode("overwrite").parquet(str(generated))  # generated rows read nothing

    written = events.wait_for(outputs_named(in_memory), what="write of in-memory rows")
    assert written["inputs"] == []
    (unresolved,) = written["run"]["facets"]["atlasSpark"]["unresolvedInputs"]
    assert unresolved.startswith(("LogicalRDD: ", "LocalRelation: ")), unresolved
    plain = events.wait_for(outputs_named(generated), what="write of spark.range")
    assert "unresolvedInputs" not in plain["run"]["facets"]["atlasSpark"]
    log = (workdir / "driver.log").read_text()
    assert "reads data it cannot name" in log and "IncompleteLineage" in log
    for event in (written, plain):
        validate_event(event)
