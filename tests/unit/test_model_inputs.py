"""Runs that start from models (fine-tunes, distillations): how inputs resolve, what the catalog accepts and
refuses, and what track_training records. No Atlas here: the look-up's answer is given."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin.catalog import CatalogError, load_catalog
from atlas_mlplugin.delivery.spool import SpoolOp
from atlas_mlplugin.governance.inputs import input_types
from atlas_mlplugin.hooks import track_training
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping.openlineage import EventStep, event_step, plan_batch
from atlas_mlplugin.model import TrainingRunSpec
from atlas_mlplugin.model.openlineage import parse_run_event


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def issues_of(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    return [(issue.field, issue.message) for issue in caught.value.issues]


# --- resolution ---------------------------------------------------------------------------------------
def test_inputs_resolve_to_the_type_atlas_holds_and_missing_ones_to_what_the_run_says() -> None:
    found = {"hf://org/base": {"typeName": "ml_model", "guid": "g1"},
             "s3://b/train": {"typeName": "ml_dataset", "guid": "g2"}}
    resolved = input_types(["hf://org/base", "s3://b/train", "hf://org/teacher", "s3://b/new"], found,
                           models={"hf://org/teacher"})
    assert resolved.types == {"hf://org/base": "ml_model", "s3://b/train": "ml_dataset",
                              "hf://org/teacher": "ml_model", "s3://b/new": "ml_dataset"}
    assert resolved.missing_models == ["hf://org/teacher"] and resolved.missing_datasets == ["s3://b/new"]


def test_a_model_input_is_a_model_reference_of_the_run() -> None:
    run = TrainingRunSpec(run_id="r", name="r", inputs=["s3://b/train"], model_inputs=["hf://org/base"])
    assert run.inputs == ["s3://b/train", "hf://org/base"]  # a model input is an input
    refs = em.training_run_entity(run, {"hf://org/base": "ml_model"})["attributes"]["inputs"]
    assert [(r["typeName"], r["uniqueAttributes"]["qualifiedName"]) for r in refs] == [
        ("ml_dataset", "s3://b/train"), ("ml_model", "hf://org/base")]
    placeholder = em.placeholder_input_entity("ml_model", "hf://org/base", "base", "training run r")
    assert placeholder["typeName"] == "ml_model"


# --- catalog ------------------------------------------------------------------------------------------
CHAIN = """
version: 1
datasets:
  - {qualified_name: "s3://b/nc", name: nc, license: CC-BY-NC-4.0}
models:
  - {qualified_name: "hf://org/base", name: base}
training_runs:
  - run_id: distil
    name: distil
    inputs: ["hf://org/instruct"]
    outputs: [{qualified_name: "hf://org/small", name: small}]
  - run_id: instruct
    name: instruct
    inputs: ["hf://org/base", "s3://b/nc"]
    outputs: [{qualified_name: "hf://org/instruct", name: instruct}]
"""


def test_a_run_may_read_a_base_model_and_another_runs_model_and_runs_are_ordered_producer_first(
        tmp_path: Path) -> None:
    doc = load_catalog(write(tmp_path, CHAIN))
    # The base model is declared only as an input; the distillation, first in the file, is written second.
    assert [r.run_id for r in doc.resolved_training_runs()] == ["instruct", "distil"]


def test_an_input_that_is_neither_dataset_nor_model_names_it_and_says_what_to_do(tmp_path: Path) -> None:
    issues = issues_of(write(tmp_path, CHAIN.replace('inputs: ["hf://org/base"', 'inputs: ["hf://org/bsae"')))
    inputs = [issue for issue in issues if ".inputs[" in issue[0]]
    assert len(inputs) == 1
    field, message = inputs[0]
    assert field == "training_runs[1].inputs[0]"
    assert "'hf://org/bsae' is neither a dataset nor a model of this file" in message
    assert "Did you mean: hf://org/base" in message and "declare it under models:" in message
    assert "--allow-external-refs" in message


def test_a_declared_model_no_run_produces_or_reads_is_an_error(tmp_path: Path) -> None:
    text = CHAIN.replace('inputs: ["hf://org/base", "s3://b/nc"]', 'inputs: ["s3://b/nc"]')
    assert issues_of(write(tmp_path, text)) == [("models[0]", (
        "model 'hf://org/base' is neither the output nor an input of any training run or evaluation in this file; "
        "list it in the outputs of the run that produced it, or in the inputs of a run that starts from it (a base "
        "model)"))]


def test_a_fine_tune_cycle_is_an_error(tmp_path: Path) -> None:
    text = CHAIN.replace('inputs: ["hf://org/base", "s3://b/nc"]', 'inputs: ["hf://org/small", "s3://b/nc"]') \
        .replace('models:\n  - {qualified_name: "hf://org/base", name: base}\n', "")
    fields = [f for f, m in issues_of(write(tmp_path, text)) if "a cycle" in m]
    assert fields == ["training_runs[0].inputs[0]", "training_runs[1].inputs[0]"]


# --- track_training -----------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.ops: list[SpoolOp] = []

    def submit(self, op: SpoolOp) -> str:
        self.ops.append(op)
        return "delivered"


def test_track_training_records_the_base_model_and_a_teacher_as_model_inputs() -> None:
    recorder = Recorder()
    with track_training("ft", inputs=["s3://b/train"], base_model="hf://org/base", run_id="r",
                        deliverer=recorder) as run:  # type: ignore[arg-type]
        run.add_input("hf://org/teacher", model=True)
    spec = TrainingRunSpec.model_validate(recorder.ops[-1].payload)
    assert spec.inputs == ["s3://b/train", "hf://org/base", "hf://org/teacher"]
    assert spec.model_inputs == ["hf://org/base", "hf://org/teacher"]


# --- OpenLineage ----------------------------------------------------------------------------------------
def ol_step(job: str, inputs: list[str], outputs: list[str], *, training: bool = False) -> EventStep:
    facets: dict[str, Any] = {"atlasMl": {"params": {}}} if training else {}
    return event_step(parse_run_event(json.dumps({
        "eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:10Z", "producer": "t",
        "run": {"runId": job, "facets": facets}, "job": {"namespace": "spark", "name": job},
        "inputs": [{"namespace": "s3://lab", "name": i} for i in inputs],
        "outputs": [{"namespace": "s3://lab", "name": o} for o in outputs]})))


def process_inputs(plan_entities: list[dict[str, Any]], job: str) -> list[tuple[str, str]]:
    process = next(e for e in plan_entities if e["attributes"].get("name") == job)
    return [(r["typeName"], r["uniqueAttributes"]["qualifiedName"]) for r in process["attributes"]["inputs"]]


def test_an_openlineage_input_named_as_a_known_model_is_that_model_not_a_placeholder_dataset() -> None:
    existing = {("ml_model", "s3://lab/models/base"): {"guid": "g-base", "typeName": "ml_model"}}
    plan = plan_batch([ol_step("fine-tune", ["/models/base", "/data/chat"], ["/models/ft"], training=True)], existing)
    assert process_inputs(plan.entities, "fine-tune") == [("ml_model", "s3://lab/models/base"),
                                                          ("ml_dataset", "s3://lab/data/chat")]
    assert plan.unregistered == ["s3://lab/data/chat"]  # the model is no unregistered dataset


def test_a_model_written_by_an_earlier_event_of_the_batch_is_read_as_a_model() -> None:
    plan = plan_batch([ol_step("pretrain", ["/data/web"], ["/models/base"], training=True),
                       ol_step("fine-tune", ["/models/base"], ["/models/ft"], training=True)], {})
    assert process_inputs(plan.entities, "fine-tune") == [("ml_model", "s3://lab/models/base")]
    assert not [e for e in plan.entities if e["typeName"] == "ml_dataset"
                and e["attributes"]["qualifiedName"] == "s3://lab/models/base"]
