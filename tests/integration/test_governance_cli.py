"""The governance commands as users type them, against the real Atlas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_register_show_retract_and_lineage(run, uid: str) -> None:  # noqa: ANN001
    consent = run("consent", "add", "-q", f"consent:{uid}", "--name", "panel", "--purpose", "model-training",
                  "--format", "json")
    assert consent.exit_code == 0, consent.output
    reg = run("dataset", "register", "-q", f"file:///{uid}/faces", "--name", "faces", "--license", "CC-BY-NC-4.0",
              "--personal-data", "face", "--consent", f"consent:{uid}", "--format", "json")
    assert reg.exit_code == 0, reg.output
    assert json.loads(reg.output)["tags"] == ["AttributionRequired", "ConsentScope", "NonCommercial", "PersonalData"]

    assert run("dataset", "retract", f"file:///{uid}/faces", "--reason", "subjects objected").exit_code == 0
    assert run("consent", "withdraw", f"consent:{uid}").exit_code == 0

    shown = json.loads(run("dataset", "show", f"file:///{uid}/faces", "--format", "json").output)
    assert shown["attributes"]["retractionStatus"] == "retracted"
    assert {t["type_name"] for t in shown["tags"]} >= {"Retracted", "ConsentWithdrawn", "NonCommercial"}


def test_lineage_tree_names_each_upstream_dataset_and_its_tags(run, registry, uid: str) -> None:  # noqa: ANN001
    from atlas_mlplugin.model import DatasetSpec, DerivationSpec, ModelSpec, TrainingRunSpec

    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/raw", name="raw", license="CC-BY-NC-4.0"))
    registry.record_derivation(DerivationSpec(
        qualified_name=f"derive:{uid}", name="filter", derivation_type="filter", inputs=[f"file:///{uid}/raw"],
        outputs=[DatasetSpec(qualified_name=f"file:///{uid}/clean", name="clean", license="CC0-1.0")]))
    registry.record_training_run(TrainingRunSpec(run_id=uid, name="t", inputs=[f"file:///{uid}/clean"],
                                                 outputs=[ModelSpec(qualified_name=f"models/{uid}", name="m")]))
    result = run("lineage", f"models/{uid}")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"ml_model models/{uid}"
    assert any(line.strip() == f"ml_training_run ml-run:{uid}" for line in lines)
    raw = next(line for line in lines if f"file:///{uid}/raw" in line)
    assert "NonCommercial" in raw and raw.startswith("      ")  # three hops up: model <- run <- clean <- ...
    tree = json.loads(run("lineage", f"models/{uid}", "--format", "json").output)
    assert tree["upstream"][0]["typeName"] == "ml_training_run"


def test_errors_are_messages_with_exit_code_1(run, uid: str, tmp_path: Path) -> None:  # noqa: ANN001
    unknown = run("dataset", "register", "-q", f"file:///{uid}/x", "--name", "x", "--license", "CC-BY-NC-4")
    assert unknown.exit_code == 1 and "Did you mean: CC-BY-NC-4.0" in unknown.output
    missing = run("dataset", "retract", f"file:///{uid}/never-registered", "--reason", "r")
    assert missing.exit_code == 1 and "register it first" in missing.output
    usage = run("dataset", "register", "--name", "no-qualified-name")
    assert usage.exit_code == 2
