"""Purposes as a controlled vocabulary, end to end on the real Atlas: what users type is stored as the
canonical DPV term, and the release check matches purposes through the taxonomy."""

from __future__ import annotations

import json

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.policy.check import check_model
from atlas_mlplugin.policy.model import ReleaseContext

pytestmark = pytest.mark.integration


def trained_on_consented_data(registry: GovernanceRegistry, uid: str) -> str:
    ds = f"file:///{uid}/chats"
    registry.register_dataset(DatasetSpec(qualified_name=ds, name="chats", license="CC0-1.0",
                                          consent_records=[f"consent:{uid}"]))
    model = ModelSpec(qualified_name=f"models/{uid}/bot", name="bot")
    registry.record_training_run(TrainingRunSpec(run_id=uid, name="t", inputs=[ds], outputs=[model],
                                                 processing_purpose="Model_Training"))
    return model.qualified_name


def test_consent_typed_loosely_passes_and_covers_narrower_release_purposes(
        run, registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:  # noqa: ANN001
    """`--purpose model_training --purpose Research` used to be stored as typed: the model-training rule
    then found no `model-training` and BLOCKed, and an academic-research release was 'not consented'."""
    added = run("consent", "add", "-q", f"consent:{uid}", "--name", "panel", "--purpose", "model_training",
                "--purpose", "Research", "--excluded-purpose", "Marketing", "--format", "json")
    assert added.exit_code == 0, added.output
    stored = client.find_entity("ml_consent_record", f"consent:{uid}")["entity"]["attributes"]
    assert stored["purposes"] == ["model-training", "research-and-development"]
    assert stored["excludedPurposes"] == ["marketing"]
    model = trained_on_consented_data(registry, uid)
    run_attrs = client.find_entity("ml_training_run", f"ml-run:{uid}")["entity"]["attributes"]
    assert run_attrs["processingPurpose"] == "model-training"

    checked = run("check", model, "--purpose", "academic-research", "--no-record", "--format", "json")
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.output)
    assert report["verdict"] == "PASS" and report["findings"] == []
    assert report["context"]["purpose"] == "academic-research"


def test_an_excluded_broader_purpose_blocks_a_narrower_release_purpose(
        registry: GovernanceRegistry, client: AtlasClient, run, uid: str) -> None:  # noqa: ANN001
    """Excluding marketing excludes direct marketing: the release used to get only a WARN ('not among the
    consented purposes'), which passes a CI gate that fails on BLOCK."""
    assert run("consent", "add", "-q", f"consent:{uid}", "--name", "panel", "--purpose", "model-training",
               "--excluded-purpose", "marketing").exit_code == 0
    model = trained_on_consented_data(registry, uid)
    report = check_model(client, model, ReleaseContext(purpose="direct-marketing"), record=False)
    assert report.verdict == "BLOCK"
    assert [(f.rule_id, f.source_qualified_name) for f in report.findings] == [
        ("consent-excludes-release-purpose", f"file:///{uid}/chats")]

    blocked = run("check", model, "--purpose", "Direct Marketing", "--no-record")
    assert blocked.exit_code == 2 and "consent-excludes-release-purpose" in blocked.output


def test_a_consent_record_stored_before_purposes_were_checked_still_works(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    """Records written by earlier versions hold free text; linking a dataset to one must not fail, and their
    known spellings count as the canonical terms."""
    client.upsert_entities([{"typeName": "ml_consent_record", "attributes": {
        "qualifiedName": f"consent:{uid}", "name": "old", "consentStatus": "given",
        "purposes": ["model-training", "research", "our-own-thing"], "excludedPurposes": []}}])
    model = trained_on_consented_data(registry, uid)
    report = check_model(client, model, ReleaseContext(purpose="academic-research"), record=False)
    assert report.verdict == "PASS", report.findings
