"""Evaluation is not training, on the real Atlas: a face model certified on a research-only benchmark and on
a benchmark of personal data, from a catalog applied with `atlas-ml apply`, checked with `atlas-ml check`.
The benchmark's use terms limit the claims a release makes (evaluation rules); its personal data and its
attribution terms never reach the certified version (docs/policy.md, "Evaluation data")."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.cli.main import cli
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from tests.integration.stories import CatalogStory

pytestmark = pytest.mark.integration



def catalog(uid: str) -> str:
    """Training data under CC-BY-4.0 (credit owed by the weights), a face model trained on it, and two
    certified versions of it: one on a research-only benchmark, one on a benchmark of faces under CC-BY-4.0."""
    return f"""version: 1
datasets:
  - {{qualified_name: file:///{uid}/train-faces, name: train-faces, license: CC-BY-4.0, creator: Train Lab}}
  - qualified_name: file:///{uid}/lfw-like
    name: lfw-like
    license: CC0-1.0
    research_only: true
    intended_use: face verification research only
  - qualified_name: file:///{uid}/faces-bench
    name: faces-bench
    license: CC-BY-4.0
    creator: Bench Lab
    personal_data_categories: [face]
models:
  - {{qualified_name: models/{uid}/face, name: face}}
training_runs:
  - {{run_id: {uid}-train, name: train face, inputs: [file:///{uid}/train-faces], outputs: [models/{uid}/face]}}
evaluations:
  - run_id: {uid}-eval-lfw
    name: certify face on lfw-like
    model: models/{uid}/face
    datasets: [file:///{uid}/lfw-like]
    metrics: {{accuracy: 0.993}}
    outputs:
      - {{qualified_name: models/{uid}/face-certified-lfw, name: face certified on lfw-like}}
  - run_id: {uid}-eval-bench
    name: certify face on faces-bench
    model: models/{uid}/face
    datasets: [file:///{uid}/faces-bench]
    outputs:
      - {{qualified_name: models/{uid}/face-certified-bench, name: face certified on faces-bench}}
"""


@pytest.fixture(scope="module")
def story(atlas_settings: AtlasSettings, client: AtlasClient, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[CatalogStory]:
    env = {"ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else ""}

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    uid = uuid.uuid4().hex[:8]
    path: Path = tmp_path_factory.mktemp("evaluation") / "catalog.yaml"
    path.write_text(catalog(uid), encoding="utf-8")
    applied = run("apply", str(path))
    assert applied.exit_code == 0, applied.output
    yield CatalogStory(uid, run, path)


def rules(report: dict) -> set[tuple[str, str, str | None]]:
    return {(f["rule_id"], f["outcome"], f["source_qualified_name"]) for f in report["findings"]}


def test_a_commercial_release_may_not_claim_results_on_research_only_data(story: CatalogStory) -> None:
    code, report = story.check("face-certified-lfw", "--audience", "public", "--commercial")
    assert (code, report["verdict"]) == (2, "BLOCK")
    assert rules(report) == {("evaluation-research-only-commercial-claim", "BLOCK", story.data("lfw-like")),
                             ("attribution-required", "INFO", story.data("train-faces"))}
    finding = next(f for f in report["findings"] if f["rule_id"].startswith("evaluation-"))
    assert "certified on research-only data" in finding["message"] and story.data("lfw-like") in finding["message"]
    assert "re-evaluate on data licensed for commercial use" in finding["remedy"].lower()
    # The path shows how the benchmark is connected: through the evaluation, not a training run.
    assert finding["path"] == [story.data("lfw-like"), f"ml-eval:{story.uid}-eval-lfw",
                               story.model("face-certified-lfw")]


def test_an_internal_non_commercial_release_is_within_the_research_only_terms(story: CatalogStory) -> None:
    code, report = story.check("face-certified-lfw", "--audience", "internal")
    assert (code, report["verdict"]) == (0, "PASS")
    assert ("evaluation-research-only-internal", "INFO", story.data("lfw-like")) in rules(report)
    assert not any(f["rule_id"] == "evaluation-research-only-commercial-claim" for f in report["findings"])


def test_personal_data_and_credits_of_a_benchmark_do_not_reach_the_certified_weights(story: CatalogStory,
                                                                                      client: AtlasClient) -> None:
    code, report = story.check("face-certified-bench", "--audience", "public", "--commercial")
    assert (code, report["verdict"]) == (0, "PASS")
    assert rules(report) == {("attribution-required", "INFO", story.data("train-faces"))}
    # The NOTICE credits what the weights were built from, not the benchmark.
    assert [a["source"] for a in report["obligations"]["attributions"]] == [story.data("train-faces")]
    certified = client.find_entity("ml_model", story.model("face-certified-bench"))
    assert certified is not None
    tags = {(c["typeName"], c.get("entityGuid")) for c in client.get_classifications(certified["entity"]["guid"])}
    train = client.find_entity("ml_dataset", story.data("train-faces"))["entity"]["guid"]
    # It inherits the evaluated model's tags (the same weights), nothing of the benchmark.
    assert tags == {("AttributionRequired", train)}


def test_shipping_the_evaluation_data_with_personal_data_blocks_a_public_release(story: CatalogStory) -> None:
    code, report = story.check("face-certified-bench", "--audience", "public", "--ships", "weights",
                               "--ships", "eval-data")
    assert code == 2
    assert ("evaluation-data-shipped-personal-data", "BLOCK", story.data("faces-bench")) in rules(report)


def test_the_evaluation_draws_in_the_lineage_and_a_second_apply_writes_nothing(story: CatalogStory,
                                                                              client: AtlasClient) -> None:
    certified = client.find_entity("ml_model", story.model("face-certified-lfw"))["entity"]
    lineage = client.lineage(certified["guid"], direction="INPUT", depth=4)
    drawn = {(e["typeName"], e["attributes"]["qualifiedName"]) for e in lineage["guidEntityMap"].values()}
    assert {("ml_evaluation_run", f"ml-eval:{story.uid}-eval-lfw"), ("ml_dataset", story.data("lfw-like")),
            ("ml_model", story.model("face")), ("ml_training_run", f"ml-run:{story.uid}-train")} <= drawn
    again = story.run("apply", str(story.path), "--format", "json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["writes"] == 0


def test_tags_the_benchmark_gets_later_stay_off_the_certified_version(story: CatalogStory, registry: GovernanceRegistry,
                                                                      client: AtlasClient) -> None:
    # As if the benchmark's description were corrected after the certification: now also special-category data.
    registry.register_dataset(DatasetSpec(qualified_name=story.data("faces-bench"), name="faces-bench",
                                          license="CC-BY-4.0", creator="Bench Lab",
                                          personal_data_categories=["face"], special_categories=["biometric"]))
    certified = client.find_entity("ml_model", story.model("face-certified-bench"))["entity"]
    assert {c["typeName"] for c in client.get_classifications(certified["guid"])} == {"AttributionRequired"}
    code, report = story.check("face-certified-bench", "--audience", "public", "--commercial")
    assert (code, report["verdict"]) == (0, "PASS")


def test_the_api_records_an_evaluation_and_an_unregistered_benchmark_gets_no_known_license(
        registry: GovernanceRegistry, client: AtlasClient, uid: str, tmp_path: Path) -> None:
    from atlas_mlplugin import api
    from atlas_mlplugin.delivery.deliverer import Deliverer
    from atlas_mlplugin.delivery.handler import registry_handler
    from atlas_mlplugin.delivery.spool import Spool
    from atlas_mlplugin.model import EvaluationRunSpec, ModelSpec, TrainingRunSpec
    from atlas_mlplugin.policy.evaluate import evaluate
    from atlas_mlplugin.policy.gather import collect_evidence
    from atlas_mlplugin.policy.model import ReleaseContext
    from atlas_mlplugin.policy.rules import load_policy

    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/train", name="train",
                                          license="CC-BY-NC-4.0"))
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-t", name="t", inputs=[f"file:///{uid}/train"],
                                                 outputs=[ModelSpec(qualified_name=f"models/{uid}/m", name="m")]))
    deliverer = Deliverer(Spool(tmp_path / "spool"), registry_handler(registry), flush_interval=3600)
    try:
        outcome = api.record_evaluation_run(EvaluationRunSpec(
            run_id=f"{uid}-e", name="e", model=f"models/{uid}/m", datasets=[f"file:///{uid}/private-bench"],
            outputs=[ModelSpec(qualified_name=f"models/{uid}/m-certified", name="m certified")],
            metrics={"f1": 0.9}), deliverer=deliverer)
        # The caller waits at most ATLAS_ML_SUBMIT_WAIT; on a busy shared server the write may finish later.
        drained = deliverer.flush(timeout=120)
    finally:
        deliverer.close()
    assert outcome in ("delivered", "spooled")
    assert (drained.dead, drained.error, drained.remaining) == ([], None, 0)
    certified = client.find_entity("ml_model", f"models/{uid}/m-certified")["entity"]
    # The evaluated model's tags (CC-BY-NC-4.0) reach the certified version; the benchmark's UnknownLicense does not.
    assert {c["typeName"] for c in client.get_classifications(certified["guid"])} == {"NonCommercial",
                                                                                      "AttributionRequired"}
    report = evaluate(collect_evidence(client, f"models/{uid}/m-certified"),
                      ReleaseContext(audience="public", commercial=True), load_policy())
    assert {(f.rule_id, f.source_qualified_name) for f in report.findings} == {
        ("non-commercial-in-commercial-release", f"file:///{uid}/train"), ("attribution-required", f"file:///{uid}/train"),
        ("evaluation-unknown-license-commercial-claim", f"file:///{uid}/private-bench")}


def test_a_recertification_written_before_its_certification_applies_and_both_benchmarks_count(
        run: Callable[..., Result], registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    from atlas_mlplugin.catalog.apply import apply_catalog
    from atlas_mlplugin.catalog.loader import load_catalog

    path = tmp_path / "catalog.yaml"
    path.write_text(f"""version: 1
datasets:
  - {{qualified_name: file:///{uid}/train, name: train, license: CC0-1.0}}
  - {{qualified_name: file:///{uid}/nc-bench, name: nc-bench, license: CC-BY-NC-4.0}}
  - {{qualified_name: file:///{uid}/research-bench, name: research-bench, license: CC0-1.0, research_only: true}}
training_runs:
  - {{run_id: {uid}-t, name: t, inputs: [file:///{uid}/train], outputs: [{{qualified_name: models/{uid}/m, name: m}}]}}
evaluations:
  - {{run_id: {uid}-e2, name: recertify, model: models/{uid}/m-c1, datasets: [file:///{uid}/research-bench],
     outputs: [{{qualified_name: models/{uid}/m-c2, name: m-c2}}]}}
  - {{run_id: {uid}-e1, name: certify, model: models/{uid}/m, datasets: [file:///{uid}/nc-bench],
     outputs: [{{qualified_name: models/{uid}/m-c1, name: m-c1}}]}}
""", encoding="utf-8")
    # Two entities per request, as a big file's writes split: the certified version m-c1 must exist before
    # the evaluation that reads it is sent.
    report = apply_catalog(load_catalog(path), registry, per_request=2)
    assert len(report.of("created")) == 9
    checked = run("check", f"models/{uid}/m-c2", "--audience", "public", "--commercial", "--format", "json",
                  "--no-record")
    assert checked.exit_code == 2, checked.output
    assert rules(json.loads(checked.output)) == {
        ("evaluation-non-commercial-commercial-claim", "BLOCK", f"file:///{uid}/nc-bench"),
        ("evaluation-research-only-commercial-claim", "BLOCK", f"file:///{uid}/research-bench")}


def test_with_the_kafka_transport_an_evaluation_goes_over_rest_after_what_was_published_before_it(
        client: AtlasClient, kafka_settings: object, uid: str) -> None:
    from atlas_mlplugin.delivery.deliverer import fail_fast
    from atlas_mlplugin.delivery.operations import OpKind, op_of
    from atlas_mlplugin.model import EvaluationRunSpec, ModelSpec, TrainingRunSpec
    from atlas_mlplugin.transport.hooks import KafkaOpHandler
    from atlas_mlplugin.transport.kafka import HookPublisher

    registry = GovernanceRegistry(AtlasClient(fail_fast(client.settings)))
    handler = KafkaOpHandler(registry, HookPublisher(kafka_settings), apply_timeout=60)  # type: ignore[arg-type]
    train, bench = f"file:///{uid}/k-train", f"file:///{uid}/k-bench"
    handler(op_of(OpKind.REGISTER_DATASET, DatasetSpec(qualified_name=train, name="train", license="CC-BY-NC-4.0")))
    handler(op_of(OpKind.REGISTER_DATASET, DatasetSpec(qualified_name=bench, name="bench", license="CC0-1.0",
                                                       personal_data_categories=["face"])))
    handler(op_of(OpKind.RECORD_TRAINING_RUN, TrainingRunSpec(
        run_id=f"{uid}-k", name="t", inputs=[train], outputs=[ModelSpec(qualified_name=f"models/{uid}/k", name="k")])))
    # Published to Kafka, not yet applied perhaps: the evaluation (REST) must wait for the model it reads.
    handler(op_of(OpKind.RECORD_EVALUATION_RUN, EvaluationRunSpec(
        run_id=f"{uid}-ke", name="e", model=f"models/{uid}/k", datasets=[bench],
        outputs=[ModelSpec(qualified_name=f"models/{uid}/k-certified", name="k certified")])))
    certified = client.find_entity("ml_model", f"models/{uid}/k-certified")["entity"]
    assert {c["typeName"] for c in client.get_classifications(certified["guid"])} == {"NonCommercial",
                                                                                      "AttributionRequired"}
