"""`atlas-ml sync mlflow` with real MLflow (a sqlite tracking store this test creates, runs logged with
MLflow's fluent API) against the real Atlas."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from atlas_mlplugin import naming
from atlas_mlplugin.catalog.apply import apply_catalog
from atlas_mlplugin.catalog.loader import load_catalog
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.reads import tags_of

mlflow = pytest.importorskip("mlflow")
pd = pytest.importorskip("pandas")

pytestmark = pytest.mark.integration


class Echo(mlflow.pyfunc.PythonModel):  # a flavour that needs no ML library
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh MLflow tracking store (sqlite; artifacts in tmp_path), set for MLflow's fluent API."""
    monkeypatch.setenv("ATLAS_ML_SYNC_LOCK_DIR", str(tmp_path / "locks"))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(previous)


def experiment(tmp_path: Path, name: str) -> str:
    return str(mlflow.create_experiment(name, artifact_location=(tmp_path / "artifacts" / name).as_uri()))


def frame() -> Any:
    return pd.DataFrame({"x": [1, 2, 3]})


def sync(run: Callable[..., Result], uri: str, *args: str) -> dict[str, Any]:
    result = run("sync", "mlflow", "--tracking-uri", uri, "--format", "json", *args)
    report: dict[str, Any] = json.loads(result.stdout)
    report["exit_code"] = result.exit_code
    return report


def by_source(client: Any, qualified_name: str) -> set[tuple[str, str | None, str]]:
    return {(t.type_name, t.source_qualified_name, json.dumps(t.attributes, sort_keys=True))
            for t in tags_of(client, qualified_name)}


def inputs_of(client: Any, run_qualified_name: str) -> set[tuple[str, str]]:
    found = client.find_entity("ml_training_run", run_qualified_name)
    assert found is not None, run_qualified_name
    refs = (found["entity"].get("relationshipAttributes") or {}).get("inputs") or []
    names = {r["guid"]: r for r in refs if r.get("relationshipStatus", "ACTIVE") == "ACTIVE"}
    found = client.get_entities(list(names), min_ext_info=True, ignore_relationships=True).get("entities") or []
    return {(e["typeName"], e["attributes"]["qualifiedName"]) for e in found}


CATALOG = """\
version: 1
datasets:
  - qualified_name: file:///{uid}/data/street-scenes
    name: street-scenes
    license: CC-BY-NC-4.0
    personal_data_categories: [face]
  - qualified_name: file:///{uid}/data/captions
    name: captions
    license: CC-BY-4.0
training_runs:
  - run_id: {uid}-by-hand
    name: scene model, described by hand
    inputs: [file:///{uid}/data/street-scenes, file:///{uid}/data/captions]
    outputs:
      - qualified_name: file:///{uid}/models/scene/1
        name: scene
"""


def test_an_mlflow_run_yields_the_same_lineage_and_tags_as_the_equivalent_catalog_file(
        registry: GovernanceRegistry, run: Callable[..., Result], uid: str, tmp_path: Path, tracking: str) -> None:
    # The datasets and a run as a catalog file describes them...
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG.format(uid=uid))
    apply_catalog(load_catalog(catalog, catalog=registry.catalog), registry)

    # ... and the same training logged in MLflow: two datasets, params, the code version, a logged model that
    # is registered.
    with mlflow.start_run(experiment_id=experiment(tmp_path, f"scenes-{uid}"), run_name="scene") as active:
        mlflow.log_input(mlflow.data.from_pandas(frame(), source=f"/{uid}/data/street-scenes", name="street"),
                         context="training")
        mlflow.log_input(mlflow.data.from_pandas(frame(), source=f"file:///{uid}/data/captions", name="captions"),
                         context="training")
        mlflow.log_param("learning_rate", "0.01")
        mlflow.set_tag("mlflow.source.git.commit", "0123abcd")
        logged = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    mlflow.register_model(logged.model_uri, f"scene-{uid}")
    run_id = active.info.run_id
    version = naming.mlflow_model_version(tracking, f"scene-{uid}", 1)
    logged_name = naming.mlflow_logged_model(tracking, run_id, "model")

    dry = sync(run, tracking, "--experiment", f"scenes-{uid}", "--dry-run")
    assert dry["exit_code"] == 0 and dry["writes"] == 0 and dry["runs"]["created"] == 1
    assert registry.client.find_entity("ml_model", version) is None  # a dry run writes nothing

    first = sync(run, tracking, "--experiment", f"scenes-{uid}")
    assert first["exit_code"] == 0, first
    assert first["runs"] == {"seen": 1, "created": 1, "updated": 0, "unchanged": 0, "failed": 0}
    assert first["model_versions"]["created"] == 1 and first["logged_models"]["created"] == 1

    # Same inputs, and the registered version carries the same tags from the same sources as the model of the
    # catalog file (the logged model too).
    by_hand = by_source(registry.client, f"file:///{uid}/models/scene/1")
    assert {t for t, _, _ in by_hand} >= {"NonCommercial", "PersonalData"}
    assert by_source(registry.client, version) == by_hand
    assert by_source(registry.client, logged_name) == by_hand
    assert inputs_of(registry.client, f"ml-run:mlflow-{run_id}") == inputs_of(registry.client, f"ml-run:{uid}-by-hand")

    found = registry.client.find_entity("ml_training_run", f"ml-run:mlflow-{run_id}")
    assert found is not None
    attributes = found["entity"]["attributes"]
    assert attributes["hyperparameters"] == {"learning_rate": "0.01"} and attributes["codeRevision"] == "0123abcd"
    assert attributes["status"] == "COMPLETED" and attributes["startTime"] and attributes["endTime"]

    second = sync(run, tracking, "--experiment", f"scenes-{uid}")
    assert second["writes"] == 0, second
    assert second["runs"]["unchanged"] == 1 and second["model_versions"]["unchanged"] == 1

    # A change in MLflow is an update of exactly that entity.
    mlflow.MlflowClient().update_model_version(f"scene-{uid}", "1", description="certified for the pilot")
    third = sync(run, tracking, "--experiment", f"scenes-{uid}")
    assert [(e["kind"], e["qualified_name"], e["action"]) for e in third["entries"] if e["action"] != "unchanged"] \
        == [("model version", version, "updated")]


def test_unnameable_inputs_are_incomplete_lineage_and_a_bad_run_does_not_stop_the_others(
        registry: GovernanceRegistry, run: Callable[..., Result], uid: str, tmp_path: Path, tracking: str) -> None:
    exp = experiment(tmp_path, f"messy-{uid}")
    with mlflow.start_run(experiment_id=exp, run_name="built in code") as from_code:
        mlflow.log_input(mlflow.data.from_pandas(frame(), name="in-memory"), context="training")  # no source
        mlflow.pyfunc.log_model(name="model", python_model=Echo())
    with mlflow.start_run(experiment_id=exp, run_name="no inputs") as no_inputs:
        mlflow.pyfunc.log_model(name="model", python_model=Echo())
    with mlflow.start_run(experiment_id=exp, run_name="bad purpose") as bad:
        mlflow.set_tag("processing_purpose", "modle-training")

    report = sync(run, tracking, "--experiment", f"messy-{uid}")
    assert report["exit_code"] == 1  # one run failed
    assert [f["run"] for f in report["failed"]] == [bad.info.run_id]
    assert "modle-training" in report["failed"][0]["error"]
    assert report["runs"]["created"] == 2
    assert {i["run"] for i in report["incomplete"]} == {from_code.info.run_id, no_inputs.info.run_id}
    for active in (from_code, no_inputs):
        model = naming.mlflow_logged_model(tracking, active.info.run_id, "model")
        assert "IncompleteLineage" in {t.type_name for t in tags_of(registry.client, model)}


def test_a_version_certified_on_test_data_is_the_output_of_an_evaluation_run(
        registry: GovernanceRegistry, run: Callable[..., Result], uid: str, tmp_path: Path, tracking: str) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"""version: 1
datasets:
  - {{qualified_name: "file:///{uid}/data/train", name: train, license: CC-BY-NC-4.0}}
  - {{qualified_name: "file:///{uid}/data/faces-benchmark", name: faces-benchmark, license: CC-BY-4.0,
     research_only: true, personal_data_categories: [face]}}
""")
    apply_catalog(load_catalog(catalog, catalog=registry.catalog), registry)
    with mlflow.start_run(experiment_id=experiment(tmp_path, f"certify-{uid}"), run_name="train and test") as active:
        mlflow.log_input(mlflow.data.from_pandas(frame(), source=f"/{uid}/data/train", name="train"),
                         context="training")
        mlflow.log_input(mlflow.data.from_pandas(frame(), source=f"/{uid}/data/faces-benchmark", name="bench"),
                         context="test")
        mlflow.log_metric("accuracy", 0.99)
        logged = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    mlflow.register_model(logged.model_uri, f"faces-{uid}")

    report = sync(run, tracking, "--experiment", f"certify-{uid}")
    assert report["exit_code"] == 0, report
    assert report["evaluations"]["created"] == 1 and report["evaluation_datasets"] == []
    assert report["model_versions"]["created"] == 1 and report["logged_models"]["created"] == 1
    version = naming.mlflow_model_version(tracking, f"faces-{uid}", 1)
    found = registry.client.find_entity("ml_evaluation_run", f"ml-eval:mlflow-{active.info.run_id}")
    assert found is not None
    relations = found["entity"]["relationshipAttributes"]
    assert [r["displayText"] for r in relations["outputs"]] == [f"faces-{uid}"]
    assert float(found["entity"]["attributes"]["metrics"]["accuracy"]) == 0.99
    # The certified version inherits the training data's terms through the logged model; the benchmark's
    # personal data never entered the weights.
    tags = {(t, s) for t, s, _ in by_source(registry.client, version)}
    assert ("NonCommercial", f"file:///{uid}/data/train") in tags
    assert not any(s == f"file:///{uid}/data/faces-benchmark" for _, s in tags)
    assert sync(run, tracking, "--experiment", f"certify-{uid}")["writes"] == 0


def test_a_base_model_recorded_in_mlflow_is_the_fine_tunes_input_and_passes_its_tags_on(
        registry: GovernanceRegistry, run: Callable[..., Result], uid: str, tmp_path: Path, tracking: str) -> None:
    exp = experiment(tmp_path, f"tune-{uid}")
    with mlflow.start_run(experiment_id=exp, run_name="base") as base_run:
        mlflow.log_input(mlflow.data.from_pandas(frame(), source=f"/{uid}/data/nc-corpus", name="nc-corpus"),
                         context="training")
        base_logged = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    mlflow.register_model(base_logged.model_uri, f"base-{uid}")
    with mlflow.start_run(experiment_id=exp, run_name="fine-tune"):
        # One base model of this server, and one nobody registered in Atlas (a placeholder model, not a dataset).
        mlflow.set_tag("base_model", f"models:/base-{uid}/1, hf://acme/encoder-{uid}")
        mlflow.log_input(mlflow.data.from_pandas(frame(), source=f"/{uid}/data/domain", name="domain"),
                         context="training")
        tuned = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    mlflow.register_model(tuned.model_uri, f"tuned-{uid}")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"""version: 1
datasets:
  - {{qualified_name: "file:///{uid}/data/nc-corpus", name: nc-corpus, license: CC-BY-NC-4.0}}
""")
    apply_catalog(load_catalog(catalog, catalog=registry.catalog), registry)

    report = sync(run, tracking, "--experiment", f"tune-{uid}")
    assert report["exit_code"] == 0, report
    base = naming.mlflow_model_version(tracking, f"base-{uid}", 1)
    tuned_run = next(e["qualified_name"] for e in report["entries"]
                     if e["kind"] == "run" and e["qualified_name"] != f"ml-run:mlflow-{base_run.info.run_id}")
    assert {("ml_model", base), ("ml_model", f"hf://acme/encoder-{uid}")} <= inputs_of(registry.client, tuned_run)
    tags = by_source(registry.client, naming.mlflow_model_version(tracking, f"tuned-{uid}", 1))
    assert ("NonCommercial", f"file:///{uid}/data/nc-corpus") in {(t, s) for t, s, _ in tags}
    assert sync(run, tracking, "--experiment", f"tune-{uid}")["writes"] == 0


def test_a_license_tag_in_mlflow_is_the_models_own_license_and_its_terms_flow_on(
        registry: GovernanceRegistry, run: Callable[..., Result], uid: str, tmp_path: Path, tracking: str) -> None:
    with mlflow.start_run(experiment_id=experiment(tmp_path, f"lic-{uid}"), run_name="nc weights"):
        mlflow.log_input(mlflow.data.from_pandas(frame(), source=f"/{uid}/data/open", name="open"), context="training")
        logged = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    registered = mlflow.register_model(logged.model_uri, f"nc-{uid}")
    mlflow.MlflowClient().set_model_version_tag(f"nc-{uid}", registered.version, "license", "CC-BY-NC-4.0")
    # A license id the catalog does not know fails that run's write in Atlas; the batch is retried run by run.
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name(f"lic-{uid}").experiment_id) as typo:
        mlflow.set_tag("license", "CC-BY-NC-4")
        mlflow.pyfunc.log_model(name="model", python_model=Echo())

    report = sync(run, tracking, "--experiment", f"lic-{uid}")
    assert report["exit_code"] == 1 and [f["run"] for f in report["failed"]] == [typo.info.run_id], report
    assert "CC-BY-NC-4" in report["failed"][0]["error"]
    version = naming.mlflow_model_version(tracking, f"nc-{uid}", 1)
    assert ("NonCommercial", version) in {(t, s) for t, s, _ in by_source(registry.client, version)}
    again = sync(run, tracking, "--experiment", f"lic-{uid}")
    assert again["writes"] == 0 and again["runs"]["unchanged"] == 1


def test_a_second_sync_of_the_same_store_waits_for_the_first(run: Callable[..., Result], tracking: str) -> None:
    from atlas_mlplugin.sync.mlflow import sync_lock

    with sync_lock(tracking, timeout=0):  # as a sync started by cron a minute earlier holds it
        result = run("sync", "mlflow", "--tracking-uri", tracking, "--lock-timeout", "0.2")
    assert result.exit_code == 1 and "still running" in result.stderr and "atlas-ml sync mlflow, pid" in result.stderr
    assert result.stdout == ""  # nothing was read or written
