"""PySpark ML autolog with real PySpark (local mode) and the real Atlas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.delivery.deliverer import Deliverer, fail_fast
from atlas_mlplugin.delivery.handler import registry_handler
from atlas_mlplugin.delivery.spool import Spool
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.reads import tags_of

pyspark = pytest.importorskip("pyspark", reason="install the 'spark' extra (make installs it)")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("autolog-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    yield session
    session.stop()


def test_pipeline_fit_and_save_become_a_training_run_with_the_csv_as_input(
        spark, registry: GovernanceRegistry, client: AtlasClient, uid: str, tmp_path: Path) -> None:  # noqa: ANN001
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    from atlas_mlplugin.spark import autolog, disable_autolog, plan_sources

    csv = tmp_path / "people.csv"
    csv.write_text("age,income,label\n" + "".join(f"{20 + i},{1000 * i},{i % 2}\n" for i in range(40)))
    csv_qn = csv.resolve().as_uri()
    registry.register_dataset(DatasetSpec(qualified_name=csv_qn, name="people", license="CC-BY-NC-4.0"))

    df = spark.read.option("header", True).option("inferSchema", True).csv(str(csv))  # type: ignore[attr-defined]
    assert plan_sources(df) == [csv_qn]

    deliverer = Deliverer(Spool(tmp_path / "spool"), registry_handler(GovernanceRegistry(
        AtlasClient(fail_fast(client.settings)))), flush_interval=0.5)
    autolog(deliverer=deliverer)
    try:
        pipeline = Pipeline(stages=[VectorAssembler(inputCols=["age", "income"], outputCol="features"),
                                    LogisticRegression(maxIter=5, labelCol="label")])
        model = pipeline.fit(df)
        model.write().overwrite().save(str(tmp_path / "model"))
        model.save(str(tmp_path / "model2"))  # both save forms are recorded
    finally:
        disable_autolog()
        deliverer.flush(timeout=60)
        deliverer.close()

    assert client.find_entity("ml_model", (tmp_path / "model").resolve().as_uri()) is not None, \
        "model.write().overwrite().save(path) is recorded"
    model_qn = (tmp_path / "model2").resolve().as_uri()
    found = client.find_entity("ml_model", model_qn)
    assert found is not None, "the saved PipelineModel is in Atlas"
    runs = found["entity"]["relationshipAttributes"]["outputFromProcesses"]
    run = client.get_entity(runs[0]["guid"])["entity"]["attributes"]
    assert run["status"] == "COMPLETED" and run["framework"] == "pyspark.ml"
    assert "Pipeline.fit" in run["name"]
    tags = tags_of(registry.client, model_qn)
    assert [t.source_qualified_name for t in tags if t.type_name == "NonCommercial"] == [csv_qn]
