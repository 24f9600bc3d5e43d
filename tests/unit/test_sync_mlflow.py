"""`atlas-ml sync mlflow`'s mapping: MLflow's own entity classes in, training run specs out (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow.entities import (  # noqa: E402
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModel,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from mlflow.entities.model_registry import ModelVersion  # noqa: E402
from mlflow.entities.model_registry.model_version_tag import ModelVersionTag  # noqa: E402

from atlas_mlplugin import naming  # noqa: E402
from atlas_mlplugin.catalog.apply import ApplyEntry  # noqa: E402
from atlas_mlplugin.sync.mlflow import (  # noqa: E402
    SyncBusyError,
    SyncReport,
    TrackingSnapshot,
    map_runs,
    sync_lock,
)
from atlas_mlplugin.sync.mlflow_mapping import dataset_ref, run_mapping  # noqa: E402

URI = "http://mlflow.example:5000"


def dataset(source_type: str, source: dict[str, str], *, name: str = "d", context: str | None = "training"
            ) -> DatasetInput:
    tags = [InputTag("mlflow.data.context", context)] if context else []
    return DatasetInput(Dataset(name=name, digest="abc", source_type=source_type, source=json.dumps(source)), tags)


def mlflow_run(run_id: str = "r1", *, inputs: list[DatasetInput] = (), params: dict[str, str] | None = None,
               tags: dict[str, str] | None = None, status: str = "FINISHED", start: int = 1_700_000_000_000,
               metrics: dict[str, float] | None = None) -> Run:
    info = RunInfo(run_id=run_id, experiment_id="1", user_id="u", status=status, start_time=start,
                   end_time=start + 60_000 if status != "RUNNING" else None, lifecycle_stage="active",
                   run_name=f"name-{run_id}")
    data = RunData(metrics=[Metric(k, v, start, 0) for k, v in (metrics or {}).items()],
                   params=[Param(k, v) for k, v in (params or {}).items()],
                   tags=[RunTag(k, v) for k, v in (tags or {}).items()])
    return Run(info, data, RunInputs(list(inputs)))


def logged(run_id: str = "r1", name: str = "model", model_id: str = "m-1", tags: dict[str, str] | None = None
           ) -> LoggedModel:
    return LoggedModel(experiment_id="1", model_id=model_id, name=name, artifact_location="/tmp/a",
                       creation_timestamp=1, last_updated_timestamp=1, source_run_id=run_id, tags=tags or {})


def version(name: str = "scene", number: str = "3", *, run_id: str = "r1", source: str = "models:/m-1",
            tags: dict[str, str] | None = None) -> ModelVersion:
    return ModelVersion(name=name, version=number, creation_timestamp=1, source=source, run_id=run_id,
                        tags=[ModelVersionTag(k, v) for k, v in (tags or {}).items()])


# --- datasets ---------------------------------------------------------------------------------------------
def test_a_local_dataset_is_named_as_the_catalog_and_spark_name_the_same_path(tmp_path: Path) -> None:
    for given in ("/data/train.csv", "file:///data/train.csv", "file:/data/train.csv"):
        ref = dataset_ref(dataset("local", {"uri": given}))
        assert ref.qualified_name == "file:///data/train.csv" == naming.from_path("/data/train.csv").qualified_name


def test_object_store_http_and_hugging_face_sources_get_their_usual_names() -> None:
    assert dataset_ref(dataset("s3", {"uri": "s3a://bucket/faces/"})).qualified_name == "s3://bucket/faces"
    http = dataset_ref(dataset("http", {"url": "https://alice:s3cret@data.example/x.csv?token=abc"}))
    assert http.qualified_name is not None and "s3cret" not in http.qualified_name and "abc" not in \
        http.qualified_name and http.qualified_name.startswith("https://")
    assert dataset_ref(dataset("hugging_face", {"path": "stanfordnlp/imdb", "split": "train"})).qualified_name \
        == "hf://datasets/stanfordnlp/imdb"
    assert dataset_ref(dataset("delta_table", {"path": "s3://lake/events"})).qualified_name == "s3://lake/events"


@pytest.mark.parametrize(("source_type", "source", "why"), [
    ("spark", {"sql": "SELECT * FROM t"}, "SQL query"),
    ("spark", {"table": "db.events"}, "table"),
    ("code", {"tags": "{}"}, "no path"),
])
def test_a_source_that_names_no_dataset_is_an_unresolved_input(source_type: str, source: dict[str, str],
                                                              why: str) -> None:
    ref = dataset_ref(dataset(source_type, source))
    assert ref.qualified_name is None and ref.unresolved is not None and why in ref.unresolved


def test_a_run_that_read_unnameable_data_or_nothing_has_incomplete_lineage() -> None:
    spec = run_mapping(mlflow_run(inputs=[dataset("local", {"uri": "/data/a"}), dataset("spark", {"sql": "SELECT 1"})]),
                       tracking_uri=URI).spec
    assert spec.inputs == ["file:///data/a"] and len(spec.unresolved_inputs) == 1
    assert "SQL query" in spec.unresolved_inputs[0]
    # A run with no logged input at all: the spec has no inputs, which marks its lineage incomplete (IncompleteLineage).
    from atlas_mlplugin.mapping.tags import incomplete_lineage_tags

    empty = run_mapping(mlflow_run(), tracking_uri=URI).spec
    assert incomplete_lineage_tags(empty.qualified_name, empty.inputs, empty.unresolved_inputs)


# --- runs -------------------------------------------------------------------------------------------------
def test_a_run_becomes_a_training_run_with_its_facts() -> None:
    run = mlflow_run(params={"lr": "0.1", "db_password": "hunter2"},
                     tags={"mlflow.source.git.commit": "abc123", "processing_purpose": "model-training"},
                     inputs=[dataset("local", {"uri": "/data/a.csv"}), dataset("s3", {"uri": "s3://b/k"})])
    spec = run_mapping(run, tracking_uri=URI).spec
    assert spec.run_id == "mlflow-r1" and spec.qualified_name == "ml-run:mlflow-r1" and spec.name == "name-r1"
    assert spec.inputs == ["file:///data/a.csv", "s3://b/k"] and spec.unresolved_inputs == []
    assert spec.status == "COMPLETED" and spec.code_revision == "abc123"
    assert spec.start_time is not None and spec.end_time is not None and spec.start_time.year == 2023
    assert spec.processing_purpose == "model-training"
    assert spec.hyperparameters["lr"] == "0.1" and "hunter2" not in json.dumps(spec.hyperparameters)


@pytest.mark.parametrize(("mlflow_status", "ours"), [("RUNNING", "RUNNING"), ("FAILED", "FAILED"),
                                                     ("KILLED", "ABORTED"), ("FINISHED", "COMPLETED")])
def test_run_status(mlflow_status: str, ours: str) -> None:
    assert run_mapping(mlflow_run(status=mlflow_status), tracking_uri=URI).spec.status == ours


def test_evaluation_data_is_not_a_training_input_and_is_listed() -> None:
    run = mlflow_run(inputs=[dataset("local", {"uri": "/data/train"}),
                             dataset("local", {"uri": "/data/bench"}, context="eval")])
    mapped = run_mapping(run, tracking_uri=URI)
    assert mapped.spec.inputs == ["file:///data/train"] and mapped.evaluation_datasets == ["file:///data/bench"]


def test_a_version_of_a_model_evaluated_on_test_data_is_certified_by_an_evaluation_run() -> None:
    run = mlflow_run(inputs=[dataset("local", {"uri": "/data/train"}),
                             dataset("local", {"uri": "/data/lfw"}, context="test")], metrics={"accuracy": 0.99})
    mapped = run_mapping(run, tracking_uri=URI, logged_models=[logged()], model_versions=[version()])
    assert [m.qualified_name for m in mapped.spec.outputs] == [f"mlflow:{URI}/runs/r1/artifacts/model"]
    assert mapped.spec.inputs == ["file:///data/train"] and mapped.evaluation_datasets == []
    (evaluation,) = mapped.evaluations
    assert evaluation.model == f"mlflow:{URI}/runs/r1/artifacts/model" and evaluation.datasets == ["file:///data/lfw"]
    assert [m.qualified_name for m in evaluation.outputs] == [f"mlflow:{URI}/models/scene/3"]
    assert evaluation.metrics == {"accuracy": 0.99}


def test_an_unknown_purpose_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="modle-training"):
        run_mapping(mlflow_run(tags={"processing_purpose": "modle-training"}), tracking_uri=URI)


# --- models -----------------------------------------------------------------------------------------------
def test_logged_models_and_registered_versions_are_the_runs_outputs_with_their_licenses() -> None:
    run = mlflow_run(tags={"license": "Apache-2.0"})
    spec = run_mapping(run, tracking_uri=URI, logged_models=[logged(tags={"license": "MIT"})],
                       model_versions=[version(tags={"license": "CC-BY-NC-4.0"}),
                                       version(number="4")]).spec
    names = [m.qualified_name for m in spec.outputs]
    assert names == [f"mlflow:{URI}/runs/r1/artifacts/model", f"mlflow:{URI}/models/scene/3",
                     f"mlflow:{URI}/models/scene/4"]
    assert [m.version for m in spec.outputs] == [None, "3", "4"]
    # The version's own tag first, then the logged model it was registered from, then the run.
    assert [m.license for m in spec.outputs] == ["MIT", "CC-BY-NC-4.0", "MIT"]
    assert spec.inputs == []  # its own logged model is no base model of the versions


def test_mlflow_2_runs_name_their_models_in_the_history_tag() -> None:
    history = [{"artifact_path": "clf", "flavors": {"python_function": {}, "sklearn": {}}, "run_id": "r1"}]
    spec = run_mapping(mlflow_run(tags={"mlflow.log-model.history": json.dumps(history)}), tracking_uri=URI,
                       model_versions=[version(source="runs:/r1/clf")]).spec
    assert [m.qualified_name for m in spec.outputs] == [f"mlflow:{URI}/runs/r1/artifacts/clf",
                                                       f"mlflow:{URI}/models/scene/3"]
    assert spec.outputs[0].type_of_model == "sklearn" and spec.inputs == []


def test_base_models_become_inputs_wherever_mlflow_records_them() -> None:
    run = mlflow_run(tags={"base_model": "models:/llama-base/2, https://huggingface.co/meta-llama/Llama-3.1-8B"},
                     params={"base_model": "runs:/r0/model"})
    spec = run_mapping(run, tracking_uri=URI, logged_models=[logged(tags={"base_model": "models:/m-0"})],
                       model_versions=[version(source="models:/teacher/7")],
                       model_ids={"m-0": naming.mlflow_logged_model(URI, "r0", "distilled")}).spec
    assert spec.inputs == [f"mlflow:{URI}/models/llama-base/2", "hf://meta-llama/Llama-3.1-8B",
                           f"mlflow:{URI}/runs/r0/artifacts/model", f"mlflow:{URI}/runs/r0/artifacts/distilled",
                           f"mlflow:{URI}/models/teacher/7"]
    assert spec.model_inputs == spec.inputs  # recorded as models, also before Atlas has them


def test_a_base_model_that_cannot_be_resolved_marks_the_lineage_incomplete() -> None:
    spec = run_mapping(mlflow_run(tags={"base_model": "models:/llama@champion"}), tracking_uri=URI,
                       resolve=lambda uri: None).spec
    assert spec.inputs == [] and any("models:/llama@champion" in u for u in spec.unresolved_inputs)


# --- names ------------------------------------------------------------------------------------------------
def test_names_carry_no_tracking_credentials_and_local_stores_are_absolute(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    secret = "https://bob:pa55word@mlflow.example?token=t0ken"
    name = naming.mlflow_model_version(secret, "scene", 1)
    assert "pa55word" not in name and "t0ken" not in name and name.startswith("mlflow:https://")
    monkeypatch.chdir(tmp_path)
    assert naming.mlflow_tracking_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path}/mlflow.db"
    assert naming.mlflow_tracking_uri("mlruns") == f"file://{tmp_path}/mlruns"
    assert naming.mlflow_tracking_uri(f"sqlite:///{tmp_path}/x.db") == f"sqlite:///{tmp_path}/x.db"


# --- the run list, the summary, the lock --------------------------------------------------------------------
def test_one_bad_run_is_reported_and_the_others_are_mapped_oldest_first() -> None:
    runs = [mlflow_run("late", start=3), mlflow_run("bad", tags={"processing_purpose": "nonsense"}, start=2),
            mlflow_run("early", start=1)]
    mapped, failed = map_runs(TrackingSnapshot(runs, [], [], []), URI)
    assert [m.spec.run_id for m in mapped] == ["mlflow-early", "mlflow-late"]
    assert [r for r, _ in failed] == ["bad"] and "nonsense" in failed[0][1]


def test_versions_and_logged_models_go_to_the_run_that_produced_them() -> None:
    snapshot = TrackingSnapshot([mlflow_run("a"), mlflow_run("b")], [logged("b", model_id="m-b")],
                                [version(run_id="b", source="models:/m-b")], [])
    mapped, _ = map_runs(snapshot, URI)
    assert [len(m.spec.outputs) for m in mapped] == [0, 2]


def test_summary_counts_runs_logged_models_and_versions_apart() -> None:
    report = SyncReport(URI, runs_seen=2, version_names={"v"})
    report.entries = [ApplyEntry("training run", "ml-run:x", "created"), ApplyEntry("training run", "ml-run:y",
                                                                                    "unchanged"),
                      ApplyEntry("model", "v", "updated", ("description",)), ApplyEntry("model", "l", "unchanged")]
    report.failed = [("z", "boom")]
    assert report.summary().startswith("runs seen 2: 1 created, 0 updated, 1 unchanged, 1 failed; "
                                       "logged models 0 created, 0 updated, 1 unchanged; "
                                       "model versions 0 created, 1 updated, 0 unchanged")
    as_json = report.as_json()
    assert as_json["runs"] == {"seen": 2, "created": 1, "updated": 0, "unchanged": 1, "failed": 1}
    assert as_json["model_versions"]["updated"] == 1


def test_two_syncs_of_one_tracking_uri_do_not_interleave(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATLAS_ML_SYNC_LOCK_DIR", str(tmp_path))
    with sync_lock("sqlite:////x/mlflow.db", timeout=0):
        with pytest.raises(SyncBusyError, match="still running"), sync_lock("sqlite:////x/mlflow.db", timeout=0):
            pass
        # Credentials do not make it another server; another store is not held up.
        with pytest.raises(SyncBusyError), sync_lock("sqlite:////x/mlflow.db?password=p", timeout=0):
            pass
        with sync_lock("sqlite:////y/mlflow.db", timeout=0):
            pass
