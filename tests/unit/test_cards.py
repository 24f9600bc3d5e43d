"""Hugging Face cards: parsing local cards (written here, no Hub), their mapping to catalog entries, licenses in
both directions, and writing a release's licensing back into a card."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from atlas_mlplugin import naming
from atlas_mlplugin.cards.licenses import hf_license_fields, map_license
from atlas_mlplugin.cards.licensing import ReleaseLicensing, UpstreamWork, use_restrictions
from atlas_mlplugin.cards.mapping import cards_document
from atlas_mlplugin.cards.read import CardError, CardUsageError, read_card
from atlas_mlplugin.cards.write import update_card
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.policy.model import CheckReport, Finding, Obligations, ReleaseContext
from atlas_mlplugin.policy.render import MODEL_CARD_END, MODEL_CARD_START, render_model_card

FINE_TUNE = """---
license: llama3.1
base_model: meta-llama/Llama-3.1-8B-Instruct
base_model_relation: finetune
datasets:
- acme/support-tickets
- https://huggingface.co/datasets/HuggingFaceH4/ultrachat_200k
language: [en, de]
tags: [chat, support]
pipeline_tag: text-generation
library_name: transformers
---
# Acme support bot

Answers support tickets.
"""

NC_DATASET = """---
license: cc-by-nc-4.0
pretty_name: Support tickets
task_categories: [text-classification]
tags: [modality:text]
---
# Support tickets
"""


@pytest.fixture(scope="module")
def catalog() -> LicenseCatalog:
    return LicenseCatalog.from_csv()


def card(tmp_path: Path, folder: str, text: str) -> Path:
    path = tmp_path / folder / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_fine_tune_card_becomes_a_run_from_its_datasets_and_base_model(tmp_path: Path,
                                                                       catalog: LicenseCatalog) -> None:
    facts = read_card(card(tmp_path, "support-bot", FINE_TUNE), repo_id="acme/support-bot")
    assert facts.kind == "model"
    plan = cards_document([facts], catalog)
    (run,) = plan.document.resolved_training_runs()
    assert run.qualified_name == "ml-run:hf-acme/support-bot"
    assert run.inputs == ["hf://datasets/acme/support-tickets", "hf://datasets/HuggingFaceH4/ultrachat_200k",
                          "hf://meta-llama/Llama-3.1-8B-Instruct"]
    assert run.model_inputs == ["hf://meta-llama/Llama-3.1-8B-Instruct"]  # a model input, not a dataset
    (model,) = run.outputs
    assert model.qualified_name == "hf://acme/support-bot"
    assert model.type_of_model == "text-generation"
    assert model.license == "LicenseRef-llama-3.1-community"
    assert plan.external_models == ["hf://meta-llama/Llama-3.1-8B-Instruct"]  # recorded as a placeholder model
    assert plan.warnings == []


def test_base_model_described_by_another_card_needs_no_placeholder(tmp_path: Path, catalog: LicenseCatalog) -> None:
    base = card(tmp_path, "Llama-3.1-8B-Instruct", "---\nlicense: llama3.1\npipeline_tag: text-generation\n---\n")
    cards = [read_card(base, repo_id="meta-llama/Llama-3.1-8B-Instruct"),
             read_card(card(tmp_path, "support-bot", FINE_TUNE), repo_id="acme/support-bot")]
    plan = cards_document(cards, catalog)
    assert plan.external_models == []
    # The base card names no training data nor base model: a model without a run (its license governs it), not a
    # run that read nothing, which would mark every model built on it as of incomplete lineage.
    assert [(m.qualified_name, m.license) for m in plan.document.models] == [
        ("hf://meta-llama/Llama-3.1-8B-Instruct", "LicenseRef-llama-3.1-community")]
    assert [r.run_id for r in plan.document.resolved_training_runs()] == ["hf-acme/support-bot"]


def test_dataset_card_with_a_non_commercial_license(tmp_path: Path, catalog: LicenseCatalog) -> None:
    facts = read_card(card(tmp_path, "support-tickets", NC_DATASET).parent)  # the folder, repo id from its name
    assert (facts.kind, facts.repo_id) == ("dataset", "support-tickets")
    (ds,) = cards_document([facts], catalog).document.datasets
    assert ds.qualified_name == "hf://datasets/support-tickets"
    assert ds.license == "CC-BY-NC-4.0"
    assert ds.name == "Support tickets"
    assert ds.dataset_types == ["text"]


def test_license_other_with_a_catalog_license_name(tmp_path: Path, catalog: LicenseCatalog) -> None:
    text = "---\nlicense: other\nlicense_name: cdla-permissive-2.0\nlicense_link: LICENSE\npipeline_tag: x\n---\n"
    facts = read_card(card(tmp_path, "m", text))
    (model,) = cards_document([facts], catalog).document.models
    assert model.license == "CDLA-Permissive-2.0"


def test_license_other_that_the_catalog_lacks_is_unknown_with_a_message(tmp_path: Path,
                                                                         catalog: LicenseCatalog) -> None:
    text = "---\npipeline_tag: x\nlicense: other\nlicense_name: acme-weights-1.0\nlicense_link: https://acme.test/l\n---\n"
    path = card(tmp_path, "m", text)
    plan = cards_document([read_card(path)], catalog)
    assert plan.document.models[0].license == "NOASSERTION"
    (warning,) = plan.warnings
    assert warning.startswith(f"{path}:3: ")  # the line of `license:`
    assert "acme-weights-1.0" in warning and "https://acme.test/l" in warning and "--license" in warning


def test_license_option_overrides_what_the_card_says(tmp_path: Path, catalog: LicenseCatalog) -> None:
    text = "---\nlicense: other\nlicense_name: acme-weights-1.0\npipeline_tag: x\n---\n"
    plan = cards_document([read_card(card(tmp_path, "m", text))], catalog, license_override="cc-by-nc-4.0")
    assert plan.document.models[0].license == "CC-BY-NC-4.0" and plan.warnings == []


def test_several_licenses_or_none_are_unknown(catalog: LicenseCatalog) -> None:
    assert map_license(["mit", "cc-by-nc-4.0"], None, None, catalog).license_id == "NOASSERTION"
    assert "several licenses" in str(map_license(["mit", "cc-by-nc-4.0"], None, None, catalog).problem)
    assert map_license([], None, None, catalog).license_id == "NOASSERTION"
    assert map_license(["mit", "MIT"], None, None, catalog).license_id == "MIT"


@pytest.mark.parametrize(("hub", "ours"), [
    ("apache-2.0", "Apache-2.0"), ("mit", "MIT"), ("cc-by-nc-4.0", "CC-BY-NC-4.0"), ("odc-by", "ODC-By-1.0"),
    ("openrail", "LicenseRef-openrail-m"), ("creativeml-openrail-m", "LicenseRef-creativeml-openrail-m"),
    ("bigscience-openrail-m", "LicenseRef-bigscience-openrail-m"), ("llama2", "LicenseRef-llama-2-community"),
    ("llama3", "LicenseRef-llama-3-community"), ("llama3.1", "LicenseRef-llama-3.1-community"),
    ("llama3.2", "LicenseRef-llama-3.2-community"), ("llama3.3", "LicenseRef-llama-3.3-community"),
    ("gemma", "LicenseRef-gemma-terms"), ("unknown", "NOASSERTION")])
def test_hub_license_ids_map_to_the_catalog(hub: str, ours: str, catalog: LicenseCatalog) -> None:
    mapped = map_license([hub], None, None, catalog)
    assert (mapped.license_id, mapped.problem) == (ours, None)  # `unknown` is what the card means, no warning


def test_every_catalog_license_written_to_a_card_reads_back_the_same(catalog: LicenseCatalog) -> None:
    for lic in catalog.all():
        fields = hf_license_fields(lic.spdx_id, catalog)
        back = map_license([fields["license"]], fields.get("license_name"), fields.get("license_link"), catalog)
        assert back.license_id == lic.spdx_id, fields


def test_malformed_front_matter_names_the_file_and_line(tmp_path: Path) -> None:
    path = card(tmp_path, "m", "---\nlicense: mit\ndatasets: [a, b\npipeline_tag: x\n---\n# body\n")
    with pytest.raises(CardError) as caught:
        read_card(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4:")  # the flow list opened on line 3 is still open on line 4
    assert "invalid YAML" in message


def test_a_value_of_the_wrong_shape_names_its_line_and_key(tmp_path: Path) -> None:
    path = card(tmp_path, "m", "\n---\nlicense: mit\nbase_model:\n  name: x\npipeline_tag: x\n---\n")
    with pytest.raises(CardError) as caught:
        read_card(path)
    assert str(caught.value).startswith(f"{path}:4:")
    assert "base_model" in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("# just a title\n", "no YAML front matter"),
    ("---\n\n---\n# body\n", "front matter is empty"),
    ("---\n- a\n- b\n---\n", "must be key: value lines"),
])
def test_cards_without_usable_front_matter_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    path = card(tmp_path, "m", text)
    with pytest.raises(CardError, match=expected) as caught:
        read_card(path)
    assert str(caught.value).startswith(str(path))


def test_missing_card_is_an_error_not_a_hub_lookup(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="no such card file"):
        read_card(tmp_path / "org" / "model")


def test_kind_from_keys_or_asked_for(tmp_path: Path) -> None:
    path = card(tmp_path, "m", "---\nlicense: mit\ntags: [x]\n---\n")
    with pytest.raises(CardUsageError, match="--kind"):
        read_card(path)
    assert read_card(path, kind="dataset").kind == "dataset"


def test_repo_id_from_the_hub_cache_layout(tmp_path: Path) -> None:
    path = card(tmp_path, "datasets--acme--tickets/snapshots/0123abc", "---\nlicense: mit\n---\n")
    facts = read_card(path)
    assert (facts.kind, facts.repo_id) == ("dataset", "acme/tickets")


@pytest.mark.parametrize(("given", "model", "dataset"), [
    ("org/x", "hf://org/x", "hf://datasets/org/x"),
    ("https://huggingface.co/org/x/tree/main", "hf://org/x", None),
    ("https://huggingface.co/datasets/org/x", None, "hf://datasets/org/x"),
    ("hf://datasets/org/x", None, "hf://datasets/org/x"),
])
def test_hub_names(given: str, model: str | None, dataset: str | None) -> None:
    if model:
        assert naming.hf_model(given) == model
    if dataset:
        assert naming.hf_dataset(given) == dataset
    assert naming.from_user("hf://datasets/org/x") == "hf://datasets/org/x"


# --- the other direction: the release's licensing into a card ---------------------------------------------------
def report(verdict: str = "BLOCK") -> CheckReport:
    return CheckReport(
        verdict=verdict, model="hf://acme/support-bot", model_guid="g", policy="default",  # type: ignore[arg-type]
        context=ReleaseContext(audience="public", commercial=True), checked_at=datetime.now(timezone.utc),
        findings=[Finding(rule_id="non-commercial-data", severity="BLOCK", tag="NonCommercial",
                          message="trained on non-commercial data", source_qualified_name="hf://datasets/acme/t")],
        obligations=Obligations(attributions=[{"source": "hf://datasets/acme/t", "title": "Tickets",
                                               "license": "CC-BY-NC-4.0",
                                               "attributionText": '"Tickets" is licensed under CC-BY-NC-4.0'},
                                              {"source": "hf://acme/support-bot", "title": "acme/support-bot",
                                               "license": "LicenseRef-llama-3.1-community",
                                               "attributionText": '"acme/support-bot" credits itself'}]))


def licensing(catalog: LicenseCatalog) -> ReleaseLicensing:
    upstream = [UpstreamWork(qualified_name="hf://meta-llama/Llama-3.1-8B-Instruct", kind="model",
                             license="LicenseRef-llama-3.1-community", direct=True),
                UpstreamWork(qualified_name="hf://datasets/acme/t", kind="dataset", license="CC-BY-NC-4.0",
                             direct=True),
                UpstreamWork(qualified_name="s3://acme/raw", kind="dataset", license="CC0-1.0")]
    licenses = ["LicenseRef-llama-3.1-community", "CC-BY-NC-4.0"]
    return ReleaseLicensing(model="hf://acme/support-bot", license=licenses[0], upstream=upstream,
                            use_restrictions=use_restrictions(licenses, catalog))


def test_model_card_section_states_license_sources_credits_restrictions_and_findings(
        catalog: LicenseCatalog) -> None:
    section = render_model_card(report(), licensing(catalog))
    assert section.startswith(MODEL_CARD_START) and section.rstrip().endswith(MODEL_CARD_END)
    assert "released under **LicenseRef-llama-3.1-community**" in section
    assert "`hf://meta-llama/Llama-3.1-8B-Instruct`: LicenseRef-llama-3.1-community" in section
    assert "`s3://acme/raw`: CC0-1.0 (further upstream)" in section
    assert '"Tickets" is licensed under CC-BY-NC-4.0' in section
    assert "credits itself" not in section  # the card is the release's own credit
    assert "LicenseRef-llama-3.1-community: Acceptable Use Policy" in section  # the use restriction to pass on
    assert "**BLOCK** `non-commercial-data`" in section


def test_benchmarks_are_listed_as_evaluation_not_training_data(catalog: LicenseCatalog) -> None:
    facts = licensing(catalog)
    facts.upstream.append(UpstreamWork(qualified_name="hf://datasets/bench/lfw", kind="dataset", direct=True,
                                       license="LicenseRef-research-only", role="evaluation"))
    section = render_model_card(report(), facts)
    training = section.split("### Training data")[1].split("###")[0]
    evaluation = section.split("### Evaluation")[1].split("###")[0]
    assert "hf://datasets/bench/lfw" in evaluation and "hf://datasets/bench/lfw" not in training
    assert [w.qualified_name for w in facts.direct("dataset")] == ["hf://datasets/acme/t"]  # the card's `datasets`


def test_update_card_writes_front_matter_and_section_and_keeps_the_rest(tmp_path: Path,
                                                                        catalog: LicenseCatalog) -> None:
    # A card that states neither its base model nor its data, with another license: filled in from Atlas.
    text = FINE_TUNE.replace("license: llama3.1\n", "license: mit\n").replace(
        "base_model: meta-llama/Llama-3.1-8B-Instruct\n", "").replace(
        "datasets:\n- acme/support-tickets\n- https://huggingface.co/datasets/HuggingFaceH4/ultrachat_200k\n", "")
    path = card(tmp_path, "support-bot", text)
    before = read_card(path, repo_id="acme/support-bot")
    facts = licensing(catalog)
    update_card(path, facts, render_model_card(report(), facts), catalog)
    text = path.read_text()
    after = read_card(path, repo_id="acme/support-bot")
    assert after.metadata.license == ["llama3.1"]
    assert after.metadata.base_model == ["meta-llama/Llama-3.1-8B-Instruct"]
    assert after.metadata.datasets == ["acme/t"]
    assert (after.metadata.tags, after.metadata.language, after.metadata.pipeline_tag) == (
        before.metadata.tags, before.metadata.language, before.metadata.pipeline_tag)
    assert "# Acme support bot\n\nAnswers support tickets.\n" in text  # the body is kept
    # Writing again replaces the section instead of adding a second one.
    update_card(path, facts, render_model_card(report("WARN"), facts), catalog)
    again = path.read_text()
    assert again.count(MODEL_CARD_START) == 1 and "Verdict **WARN**" in again and "Verdict **BLOCK**" not in again


def test_update_card_refuses_a_broken_card_without_touching_it(tmp_path: Path, catalog: LicenseCatalog) -> None:
    path = card(tmp_path, "m", "---\nlicense: [mit\n---\n# body\n")
    original = path.read_text()
    with pytest.raises(CardError):
        update_card(path, licensing(catalog), "section", catalog)
    assert path.read_text() == original
