"""Model -> model lineage on the real Atlas: a fine-tune chain base -> instruct -> domain -> distilled, declared
in a catalog file or recorded from Python, carries every upstream tag with its source to the leaf; the release
check names the dataset a restriction comes from; impact and lineage walk through the models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_mlplugin import api
from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.catalog.apply import apply_catalog
from atlas_mlplugin.catalog.loader import load_catalog
from atlas_mlplugin.delivery.deliverer import Deliverer, fail_fast
from atlas_mlplugin.delivery.handler import registry_handler
from atlas_mlplugin.delivery.operations import OpKind, op_of
from atlas_mlplugin.delivery.spool import Spool
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.hooks import track_training
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.reads import tags_of
from atlas_mlplugin.transport.hooks import KafkaOpHandler
from atlas_mlplugin.transport.kafka import HookPublisher
from atlas_mlplugin.transport.settings import KafkaSettings
from tests.integration.snapshots import wait_for

pytestmark = pytest.mark.integration


def chain_file(uid: str, tmp_path: Path) -> Path:
    """web corpus -> pretrain -> base -> instruct (reads a CC-BY-NC set) -> domain -> distilled."""
    text = f"""
version: 1
datasets:
  - {{qualified_name: "file:///{uid}/web-corpus", name: web-corpus, license: CC0-1.0}}
  - {{qualified_name: "file:///{uid}/instruct-nc", name: instruct-nc, license: CC-BY-NC-4.0}}
  - {{qualified_name: "file:///{uid}/clinic-notes", name: clinic-notes, license: CC0-1.0}}
models:
  - {{qualified_name: "hf://{uid}/base", name: base}}
training_runs:
  - run_id: {uid}-pretrain
    name: pretrain
    inputs: ["file:///{uid}/web-corpus"]
    outputs: ["hf://{uid}/base"]
  - run_id: {uid}-instruct
    name: instruction tuning
    inputs: ["hf://{uid}/base", "file:///{uid}/instruct-nc"]
    outputs: [{{qualified_name: "hf://{uid}/instruct", name: instruct}}]
  - run_id: {uid}-domain
    name: domain fine-tune
    inputs: ["hf://{uid}/instruct", "file:///{uid}/clinic-notes"]
    outputs: [{{qualified_name: "hf://{uid}/domain", name: domain}}]
  - run_id: {uid}-distil
    name: distillation
    inputs: ["hf://{uid}/domain"]
    outputs: [{{qualified_name: "hf://{uid}/distilled", name: distilled}}]
"""
    path = tmp_path / "chain.yaml"
    path.write_text(text)
    return path


def input_types(client: AtlasClient, run_id: str) -> dict[str, str]:
    run = client.find_entity("ml_training_run", f"ml-run:{run_id}")
    assert run is not None, f"run {run_id} not in Atlas"
    refs = run["entity"]["relationshipAttributes"]["inputs"]
    return {r["displayText"]: r["typeName"] for r in refs if r.get("relationshipStatus", "ACTIVE") == "ACTIVE"}


def test_a_fine_tune_chain_in_a_catalog_carries_every_upstream_tag_to_the_leaf(
        registry: GovernanceRegistry, run, uid: str, tmp_path: Path) -> None:  # noqa: ANN001
    path = chain_file(uid, tmp_path)
    first = apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    assert not first.of("updated"), first.lines()
    assert apply_catalog(load_catalog(path, catalog=registry.catalog), registry).writes == 0

    # The base model is read as a model, not recorded as a placeholder dataset of the same name.
    assert input_types(registry.client, f"{uid}-instruct") == {"base": "ml_model", "instruct-nc": "ml_dataset"}
    assert registry.client.find_entity("ml_dataset", f"hf://{uid}/base") is None

    leaf = f"hf://{uid}/distilled"
    tags = tags_of(registry.client, leaf)
    nc = [t for t in tags if t.type_name == "NonCommercial"]
    assert [t.source_qualified_name for t in nc] == [f"file:///{uid}/instruct-nc"]
    assert nc[0].path == (f"file:///{uid}/instruct-nc", f"ml-run:{uid}-instruct", f"hf://{uid}/instruct",
                          f"ml-run:{uid}-domain", f"hf://{uid}/domain", f"ml-run:{uid}-distil", leaf)

    result = run("check", leaf, "--audience", "public", "--commercial", "--no-record", "--format", "json")
    assert result.exit_code == 2, result.output
    report = json.loads(result.output)
    assert report["verdict"] == "BLOCK"
    blocking = [f for f in report["findings"] if f["severity"] == "BLOCK"]
    assert any(f"file:///{uid}/instruct-nc" in json.dumps(f) for f in blocking), blocking

    impact = run("impact", f"file:///{uid}/web-corpus")
    assert impact.exit_code == 0, impact.output
    assert f"model    {leaf}" in impact.output
    assert "4 model(s)" in impact.output

    lineage = run("lineage", leaf)
    assert lineage.exit_code == 0, lineage.output
    for upstream in ("web-corpus", "instruct-nc", "clinic-notes", f"hf://{uid}/base"):
        assert upstream in lineage.output


def test_a_run_may_start_from_a_model_already_in_atlas(registry: GovernanceRegistry, uid: str,
                                                       tmp_path: Path) -> None:
    apply_catalog(load_catalog(chain_file(uid, tmp_path), catalog=registry.catalog), registry)
    later = tmp_path / "later.yaml"
    later.write_text(f"""
version: 1
training_runs:
  - run_id: {uid}-second-distil
    name: another distillation
    inputs: ["hf://{uid}/instruct"]
    outputs: [{{qualified_name: "hf://{uid}/small", name: small}}]
""")
    apply_catalog(load_catalog(later, catalog=registry.catalog, allow_external_refs=True), registry)
    assert input_types(registry.client, f"{uid}-second-distil") == {"instruct": "ml_model"}
    assert [t.source_qualified_name for t in tags_of(registry.client, f"hf://{uid}/small")
            if t.type_name == "NonCommercial"] == [f"file:///{uid}/instruct-nc"]


@pytest.fixture
def deliverer(client: AtlasClient, tmp_path: Path) -> Iterator[Deliverer]:
    registry = GovernanceRegistry(AtlasClient(fail_fast(client.settings)))
    with Deliverer(Spool(tmp_path / "spool"), registry_handler(registry), flush_interval=0.2) as d:
        yield d


def test_the_same_chain_from_python_api_and_track_training(registry: GovernanceRegistry, deliverer: Deliverer,
                                                           run, uid: str) -> None:  # noqa: ANN001
    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/web-corpus", name="web", license="CC0-1.0"))
    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/instruct-nc", name="nc",
                                          license="CC-BY-NC-4.0"))
    base = api.record_training_run(TrainingRunSpec(
        run_id=f"{uid}-pretrain", name="pretrain", inputs=[f"file:///{uid}/web-corpus"],
        outputs=[ModelSpec(qualified_name=f"hf://{uid}/base", name="base")]), deliverer=deliverer)
    assert base in ("delivered", "spooled")
    # The API names the base model as an input like any dataset: Atlas has it as a model.
    instruct = api.record_training_run(TrainingRunSpec(
        run_id=f"{uid}-instruct", name="instruct", inputs=[f"hf://{uid}/base", f"file:///{uid}/instruct-nc"],
        outputs=[ModelSpec(qualified_name=f"hf://{uid}/instruct", name="instruct")]), deliverer=deliverer)
    assert instruct in ("delivered", "spooled")
    with track_training("domain fine-tune", base_model=f"hf://{uid}/instruct", run_id=f"{uid}-domain",
                        deliverer=deliverer) as tracked:
        tracked.set_model(qualified_name=f"hf://{uid}/domain", name="domain")
    with track_training("distil", run_id=f"{uid}-distil", deliverer=deliverer) as tracked:
        tracked.add_input(f"hf://{uid}/domain", model=True)  # the teacher
        tracked.set_model(qualified_name=f"hf://{uid}/distilled", name="distilled")
    deliverer.flush(timeout=60)  # a call that found Atlas slow was spooled: delivered by now

    assert input_types(registry.client, f"{uid}-instruct") == {"base": "ml_model", "nc": "ml_dataset"}
    assert input_types(registry.client, f"{uid}-domain") == {"instruct": "ml_model"}
    leaf = f"hf://{uid}/distilled"
    assert [t.source_qualified_name for t in tags_of(registry.client, leaf)
            if t.type_name == "NonCommercial"] == [f"file:///{uid}/instruct-nc"]
    result = run("check", leaf, "--audience", "public", "--commercial", "--no-record")
    assert result.exit_code == 2 and f"file:///{uid}/instruct-nc" in result.output, result.output
    assert f"model    {leaf}" in run("impact", f"file:///{uid}/web-corpus").output


def test_a_base_model_nobody_registered_is_a_model_with_no_known_license(
        registry: GovernanceRegistry, deliverer: Deliverer, uid: str) -> None:
    with track_training("fine-tune", base_model=f"hf://{uid}/unknown-base", run_id=f"{uid}-ft",
                        deliverer=deliverer) as tracked:
        tracked.set_model(qualified_name=f"hf://{uid}/ft", name="ft")
    deliverer.flush(timeout=60)
    assert input_types(registry.client, f"{uid}-ft") == {"unknown-base": "ml_model"}
    assert registry.client.find_entity("ml_dataset", f"hf://{uid}/unknown-base") is None
    unknown = [t.source_qualified_name for t in tags_of(registry.client, f"hf://{uid}/ft")
               if t.type_name == "UnknownLicense"]
    assert unknown == [f"hf://{uid}/unknown-base"]
    # Its own training run is recorded later: the origin is known, the placeholder's UnknownLicense goes.
    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/corpus", name="corpus", license="CC0-1.0"))
    registry.record_training_run(TrainingRunSpec(
        run_id=f"{uid}-base", name="base", inputs=[f"file:///{uid}/corpus"],
        outputs=[ModelSpec(qualified_name=f"hf://{uid}/unknown-base", name="base")]))
    assert [t for t in tags_of(registry.client, f"hf://{uid}/ft") if t.type_name == "UnknownLicense"] == []


def test_through_kafka_a_run_reads_a_base_model_as_a_model(registry: GovernanceRegistry, client: AtlasClient,
                                                           kafka_settings: KafkaSettings, uid: str) -> None:
    handler = KafkaOpHandler(GovernanceRegistry(AtlasClient(fail_fast(client.settings))), HookPublisher(kafka_settings))
    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/nc", name="nc", license="CC-BY-NC-4.0"))
    registry.record_training_run(TrainingRunSpec(
        run_id=f"{uid}-base", name="base", inputs=[f"file:///{uid}/nc"],
        outputs=[ModelSpec(qualified_name=f"hf://{uid}/base", name="base")]))
    handler(op_of(OpKind.RECORD_TRAINING_RUN, TrainingRunSpec(
        run_id=f"{uid}-ft", name="ft", inputs=[f"hf://{uid}/base"],
        outputs=[ModelSpec(qualified_name=f"hf://{uid}/ft", name="ft")])))
    handler.settle()
    assert wait_for(lambda: client.find_entity("ml_training_run", f"ml-run:{uid}-ft") is not None)
    assert input_types(client, f"{uid}-ft") == {"base": "ml_model"}
    assert client.find_entity("ml_dataset", f"hf://{uid}/base") is None
    assert [t.source_qualified_name for t in tags_of(client, f"hf://{uid}/ft")
            if t.type_name == "NonCommercial"] == [f"file:///{uid}/nc"]


def test_pyspark_autolog_a_fit_that_starts_from_a_loaded_model_reads_that_model(
        registry: GovernanceRegistry, client: AtlasClient, uid: str, tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="install the 'spark' extra (make installs it)")
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    from pyspark.sql import SparkSession

    from atlas_mlplugin.spark import autolog, disable_autolog

    spark = (SparkSession.builder.master("local[1]").appName("model-lineage-test")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    rows = "age,income,label\n" + "".join(f"{20 + i},{1000 * i},{i % 2}\n" for i in range(40))
    nc, clean = tmp_path / "nc.csv", tmp_path / "clean.csv"
    nc.write_text(rows)
    clean.write_text(rows)
    registry.register_dataset(DatasetSpec(qualified_name=nc.resolve().as_uri(), name="nc", license="CC-BY-NC-4.0"))
    registry.register_dataset(DatasetSpec(qualified_name=clean.resolve().as_uri(), name="clean", license="CC0-1.0"))
    deliverer = Deliverer(Spool(tmp_path / "spool"), registry_handler(GovernanceRegistry(
        AtlasClient(fail_fast(client.settings)))), flush_interval=0.5)
    autolog(deliverer=deliverer)
    try:
        def frame(path: Path) -> object:
            return spark.read.option("header", True).option("inferSchema", True).csv(str(path))

        features = Pipeline(stages=[VectorAssembler(inputCols=["age", "income"], outputCol="raw"),
                                    StandardScaler(inputCol="raw", outputCol="features")]).fit(frame(nc))
        features.save(str(tmp_path / "features"))
        base = PipelineModel.load(str(tmp_path / "features"))  # a later job starts from the saved model
        tuned = Pipeline(stages=[base, LogisticRegression(maxIter=5, labelCol="label")]).fit(frame(clean))
        tuned.save(str(tmp_path / "tuned"))
    finally:
        disable_autolog()
        deliverer.flush(timeout=60)
        deliverer.close()
        spark.stop()

    tuned_qn, base_qn = (tmp_path / "tuned").resolve().as_uri(), (tmp_path / "features").resolve().as_uri()
    found = client.find_entity("ml_model", tuned_qn)
    assert found is not None, "the fine-tuned PipelineModel is in Atlas"
    run_guid = found["entity"]["relationshipAttributes"]["outputFromProcesses"][0]["guid"]
    refs = client.get_entity(run_guid)["entity"]["relationshipAttributes"]["inputs"]
    assert sorted((r["typeName"], r["displayText"]) for r in refs) == [("ml_dataset", "clean"),
                                                                      ("ml_model", "features")]
    assert client.find_entity("ml_dataset", base_qn) is None
    assert [t.source_qualified_name for t in tags_of(client, tuned_qn)
            if t.type_name == "NonCommercial"] == [nc.resolve().as_uri()]


def test_the_demo_story_fine_tune_inherits_noncommercial_through_its_base_model(
        registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    story = Path(__file__).resolve().parents[2] / "atlas_mlplugin" / "demo" / "story.yaml"
    path = tmp_path / "story.yaml"
    path.write_text(story.read_text().replace("file:///data/", f"file:///{uid}/data/")
                    .replace("file:///models/", f"file:///{uid}/models/").replace("consent:acme/", f"consent:{uid}/")
                    .replace("derive:", f"derive:{uid}:").replace("run_id: ", f"run_id: {uid}-"))
    apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    nc = [t for t in tags_of(registry.client, f"file:///{uid}/models/scene-captioner/1.0")
          if t.type_name == "NonCommercial"]
    assert [(t.source_qualified_name, t.path[2]) for t in nc] == [
        (f"file:///{uid}/data/street-scenes/v2", f"file:///{uid}/models/scene-base/1.0")]


def test_impact_of_a_base_model_lists_its_fine_tunes(registry: GovernanceRegistry, run, uid: str,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    apply_catalog(load_catalog(chain_file(uid, tmp_path), catalog=registry.catalog), registry)
    result = run("impact", f"hf://{uid}/base")
    assert result.exit_code == 0, result.output
    assert f"hf://{uid}/base: 0 downstream dataset(s), 3 model(s)" in result.output
    assert f"model    hf://{uid}/distilled" in result.output


def test_a_base_model_read_before_it_was_described_loses_its_placeholder_tag_when_a_catalog_declares_it(
        registry: GovernanceRegistry, deliverer: Deliverer, uid: str, tmp_path: Path) -> None:
    with track_training("fine-tune", base_model=f"hf://{uid}/llm", run_id=f"{uid}-ft", deliverer=deliverer) as t:
        t.set_model(qualified_name=f"hf://{uid}/ft", name="ft")
    deliverer.flush(timeout=60)
    assert [t.type_name for t in tags_of(registry.client, f"hf://{uid}/ft")] == ["UnknownLicense"]
    catalog = tmp_path / "base.yaml"
    catalog.write_text(f"""
version: 1
models:
  - {{qualified_name: "hf://{uid}/llm", name: llm}}
training_runs:
  - run_id: {uid}-ft
    name: fine-tune
    inputs: ["hf://{uid}/llm"]
    outputs: [{{qualified_name: "hf://{uid}/ft", name: ft}}]
""")
    report = apply_catalog(load_catalog(catalog, catalog=registry.catalog), registry)
    assert f"updated model hf://{uid}/llm (placeholder)" in report.lines(), report.lines()
    assert tags_of(registry.client, f"hf://{uid}/ft") == []


@pytest.mark.parametrize("transport", ["rest", "kafka"])
def test_openlineage_events_whose_input_is_a_model_chain_the_models(registry: GovernanceRegistry, uid: str,
                                                                   tmp_path: Path, transport: str,
                                                                   request: pytest.FixtureRequest) -> None:
    from atlas_mlplugin.openlineage.ingest import LineageIngestor
    from atlas_mlplugin.transport.lineage import KafkaLineageWriter

    def ingestor() -> LineageIngestor:
        if transport == "rest":
            return LineageIngestor(registry)
        publisher = HookPublisher(request.getfixturevalue("kafka_settings"))
        return LineageIngestor(registry, writer=KafkaLineageWriter(registry, publisher))

    registry.register_dataset(DatasetSpec(qualified_name=f"s3://{uid}/data/nc", name="nc", license="CC-BY-NC-4.0"))

    def fit(job: str, inputs: list[str], output: str) -> dict:
        return {"eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "test",
                "run": {"runId": f"{uid}-{job}", "facets": {"atlasMl": {"params": {}}}},
                "job": {"namespace": "spark", "name": f"{uid}.{job}"},
                "inputs": [{"namespace": f"s3://{uid}", "name": name} for name in inputs],
                "outputs": [{"namespace": f"s3://{uid}", "name": output}]}

    events = tmp_path / "events"
    events.mkdir()
    # The base model is trained in one drain; the fine-tune, reading the saved base, arrives in a later one.
    (events / "001.json").write_text(json.dumps(fit("pretrain", ["/data/nc"], "/models/base")))
    assert ingestor().drain(events).applied == 1
    assert wait_for(lambda: registry.client.find_entity("ml_model", f"s3://{uid}/models/base") is not None)
    (events / "002.json").write_text(json.dumps(fit("finetune", ["/models/base"], "/models/ft")))
    report = ingestor().drain(events)
    assert report.applied == 1 and report.unregistered == 0
    assert wait_for(lambda: registry.client.find_entity("ml_model", f"s3://{uid}/models/ft") is not None)
    assert registry.client.find_entity("ml_dataset", f"s3://{uid}/models/base") is None
    assert [t.source_qualified_name for t in tags_of(registry.client, f"s3://{uid}/models/ft")
            if t.type_name == "NonCommercial"] == [f"s3://{uid}/data/nc"]
