"""Hugging Face cards on the real Atlas: `atlas-ml import card` records models and datasets with their licenses
and lineage, a second import writes nothing, and `check --format model-card` / `--update-card` write the
release's licensing into the card so that it imports again to the same entities."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.model import DatasetSpec, EvaluationRunSpec, ModelSpec
from atlas_mlplugin.reads import tags_of, upstream_tree
from atlas_mlplugin.reads.tree import LineageNode

pytestmark = pytest.mark.integration

Run = Callable[..., Result]


def write_card(folder: Path, front_matter: str, body: str = "# Card\n\nWhat it is.\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "README.md"
    path.write_text(f"---\n{front_matter}---\n{body}")
    return path


def import_json(run: Run, *args: str) -> dict:
    result = run("import", "card", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def upstream_names(node: LineageNode) -> dict[str, str]:
    found = {}
    for child in node.upstream:
        found[str(child.qualifiedName)] = str(child.typeName)
        found.update(upstream_names(child))
    return found


@pytest.fixture
def cards(tmp_path: Path, uid: str) -> dict[str, Path]:
    return {
        "dataset": write_card(tmp_path / "tickets", "license: cc-by-nc-4.0\npretty_name: Support tickets\n"
                                                    "task_categories: [text-classification]\n"),
        "model": write_card(tmp_path / "bot", f"license: apache-2.0\nbase_model: meta-{uid}/Base-8B\n"
                                              "base_model_relation: finetune\n"
                                              f"datasets:\n- {uid}/tickets\n- {uid}/chat-logs\n"
                                              "language: [en]\ntags: [support]\npipeline_tag: text-generation\n"),
    }


def test_model_card_lineage_reaches_its_datasets_and_base_model_with_their_tags(
        run: Run, client: AtlasClient, uid: str, cards: dict[str, Path]) -> None:
    dry = import_json(run, "--dry-run", "--repo-id", f"{uid}/tickets", str(cards["dataset"]))
    assert dry["writes"] == 0 and [e["action"] for e in dry["entries"]] == ["created"]
    first = import_json(run, "--repo-id", f"{uid}/tickets", str(cards["dataset"]))
    assert [e["qualified_name"] for e in first["entries"] if e["action"] == "created"] == [
        f"hf://datasets/{uid}/tickets"]
    report = import_json(run, "--repo-id", f"{uid}/bot", str(cards["model"]))
    assert report["placeholders"] == [f"hf://meta-{uid}/Base-8B"]
    model = f"hf://{uid}/bot"

    lineage = upstream_names(upstream_tree(client, model))
    assert lineage[f"ml-run:hf-{uid}/bot"] == n.ML_TRAINING_RUN
    assert lineage[f"hf://datasets/{uid}/tickets"] == n.ML_DATASET
    assert lineage[f"hf://datasets/{uid}/chat-logs"] == n.ML_DATASET
    assert lineage[f"hf://meta-{uid}/Base-8B"] == n.ML_MODEL  # the base model is a model, not a dataset

    tags = {(t.type_name, t.source_qualified_name) for t in tags_of(client, model)}
    assert ("NonCommercial", f"hf://datasets/{uid}/tickets") in tags  # the dataset card's license
    assert ("UnknownLicense", f"hf://datasets/{uid}/chat-logs") in tags  # named by the card, described nowhere
    assert ("UnknownLicense", f"hf://meta-{uid}/Base-8B") in tags  # a base model no card describes

    again = import_json(run, "--repo-id", f"{uid}/bot", str(cards["model"]))
    assert again["writes"] == 0 and again["placeholders"] == []
    assert {e["action"] for e in again["entries"]} == {"unchanged"}


def test_importing_the_base_models_card_replaces_its_placeholder(run: Run, client: AtlasClient, uid: str,
                                                                 cards: dict[str, Path], tmp_path: Path) -> None:
    import_json(run, "--repo-id", f"{uid}/bot", str(cards["model"]))
    base = write_card(tmp_path / "base", "license: cc-by-nc-4.0\npipeline_tag: text-generation\n")
    import_json(run, "--repo-id", f"meta-{uid}/Base-8B", str(base))
    tags = {(t.type_name, t.source_qualified_name) for t in tags_of(client, f"hf://{uid}/bot")}
    assert ("UnknownLicense", f"hf://meta-{uid}/Base-8B") not in tags
    assert ("NonCommercial", f"hf://meta-{uid}/Base-8B") in tags  # the base model's own license, passed on
    # Its card names no training data: a model with a license, not a run that read nothing (IncompleteLineage).
    assert not {t for t, _ in tags} & {"IncompleteLineage"}


def test_card_round_trips_through_check_and_update_card(run: Run, client: AtlasClient, uid: str,
                                                        cards: dict[str, Path]) -> None:
    import_json(run, "--repo-id", f"{uid}/tickets", str(cards["dataset"]))
    import_json(run, "--repo-id", f"{uid}/bot", str(cards["model"]))
    model = f"hf://{uid}/bot"

    section = run("check", model, "--audience", "public", "--commercial", "--no-record", "--format", "model-card")
    assert section.exit_code == 2, section.output  # non-commercial training data in a commercial release
    text = section.stdout
    assert "released under **Apache-2.0**" in text
    assert f"`hf://datasets/{uid}/tickets` (Support tickets): CC-BY-NC-4.0" in text
    assert f"`hf://meta-{uid}/Base-8B`" in text.split("### Base models")[1].split("###")[0]
    assert "Support tickets" in text.split("### Attribution")[1]  # CC-BY-NC requires the credit
    assert "**BLOCK**" in text

    updated = run("check", model, "--no-record", "--format", "json", "--update-card", str(cards["model"]))
    assert updated.exit_code == 0, updated.output
    card = cards["model"].read_text()
    assert "license: apache-2.0" in card and "What it is." in card and "## License and attribution" in card
    assert f"base_model: meta-{uid}/Base-8B" in card

    # Read back, the card describes the same entities: nothing to write.
    again = import_json(run, "--repo-id", f"{uid}/bot", str(cards["model"]))
    assert again["writes"] == 0, again
    assert {e["action"] for e in again["entries"]} == {"unchanged"}


def test_model_card_of_a_certified_version_lists_its_benchmark_as_evaluation(
        run: Run, registry: GovernanceRegistry, uid: str, cards: dict[str, Path]) -> None:
    import_json(run, "--repo-id", f"{uid}/tickets", str(cards["dataset"]))
    import_json(run, "--repo-id", f"{uid}/bot", str(cards["model"]))
    bench = f"hf://datasets/{uid}/bench"
    registry.register_dataset(DatasetSpec(qualified_name=bench, name="bench", license="LicenseRef-research-only"))
    certified = f"hf://{uid}/bot-certified"
    registry.record_evaluation_run(EvaluationRunSpec(
        run_id=f"{uid}-eval", name="eval", model=f"hf://{uid}/bot", datasets=[bench],
        outputs=[ModelSpec(qualified_name=certified, name="certified")]))
    result = run("check", certified, "--no-record", "--format", "model-card")
    text = result.stdout
    assert bench in text.split("### Evaluation")[1], result.output
    assert bench not in text.split("### Training data")[1].split("###")[0]
    assert f"`hf://{uid}/bot`" in text.split("### Evaluation")[1]  # the version evaluated


def test_two_cards_for_one_repository_are_refused(run: Run, tmp_path: Path, uid: str) -> None:
    first = write_card(tmp_path / "a" / f"bot-{uid}", "license: mit\npipeline_tag: text-generation\n")
    second = write_card(tmp_path / "b" / f"bot-{uid}", "license: apache-2.0\npipeline_tag: text-generation\n")
    result = run("import", "card", str(first), str(second))
    assert result.exit_code == 1
    assert f"both describe the model bot-{uid}" in result.output and "--repo-id" in result.output
    assert run("check", f"hf://bot-{uid}", "--no-record").exit_code == 1  # nothing was written


def test_malformed_card_fails_with_its_line_and_writes_nothing(run: Run, tmp_path: Path, uid: str) -> None:
    path = write_card(tmp_path / "bad", f"license: mit\ndatasets: [{uid}/a\n")
    result = run("import", "card", "--repo-id", f"{uid}/bad", str(path))
    assert result.exit_code == 1
    assert f"{path}:" in result.output and "invalid YAML" in result.output
