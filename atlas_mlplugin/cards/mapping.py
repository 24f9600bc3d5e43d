"""Cards -> a catalog document: what `atlas-ml apply` would write for the same facts, so an import is planned,
compared with Atlas and written (or left alone) exactly as an apply is.

A dataset card is an ml_dataset (hf://datasets/<repo_id>) with its license. A model card is an ml_model
(hf://<repo_id>) with its license, produced by a training run (ml-run:hf-<repo_id>) whose inputs are the
card's `datasets` (hf://datasets/<id>) and `base_model`s (hf://<id>): tags flow from both into the model.
A card that names neither (a foundation model's card, as most are) is recorded as a model with no run: what
governs its use is its license, and inventing a run that read nothing would mark the lineage of every model
built on it incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atlas_mlplugin import naming
from atlas_mlplugin.cards.licenses import map_license
from atlas_mlplugin.cards.read import CardFacts
from atlas_mlplugin.catalog.document import CatalogDocument
from atlas_mlplugin.licenses.catalog import LicenseCatalog
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.model.assets import NAMES_NORMALIZED

HUB = "https://huggingface.co/"
# The SPDX 3.0 DatasetType a Hub `modality:` tag or task category implies.
_MODALITIES = {"image": "image", "text": "text", "audio": "audio", "video": "video", "tabular": "structured",
               "timeseries": "timeseries", "time-series": "timeseries", "graph": "graph"}


@dataclass
class CardImport:
    """The catalog document for a set of cards, the base models it reads that no card describes, and the
    warnings to show (licenses that could not be mapped)."""

    document: CatalogDocument
    external_models: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def cards_document(cards: list[CardFacts], catalog: LicenseCatalog, *, license_override: str | None = None
                   ) -> CardImport:
    """The catalog document that records `cards` (license_override: a catalog id for every card)."""
    datasets: list[DatasetSpec] = []
    models: list[ModelSpec] = []
    runs: list[TrainingRunSpec] = []
    warnings: list[str] = []
    for card in cards:
        meta = card.metadata
        if license_override is not None:
            license_id = catalog.get(license_override).spdx_id
        else:
            mapped = map_license(meta.license, meta.license_name, meta.license_link, catalog)
            license_id = mapped.license_id
            if mapped.problem:
                warnings.append(f"{card.where('license')}: {mapped.problem}")
        if card.kind == "dataset":
            datasets.append(dataset_spec(card, license_id))
        elif meta.datasets or meta.base_model:
            runs.append(training_run_spec(card, license_id))
        else:
            models.append(model_spec(card, license_id))
    described = {m.qualified_name for r in runs for m in r.outputs} | {m.qualified_name for m in models}
    external = sorted({qn for r in runs for qn in r.model_inputs} - described)
    doc = CatalogDocument.model_validate({"version": 1, "datasets": datasets, "models": models,
                                          "training_runs": runs}, context={NAMES_NORMALIZED: True})
    return CardImport(doc, external, warnings)


def _description(card: CardFacts) -> str | None:
    meta = card.metadata
    parts = [f"language: {', '.join(meta.language)}" if meta.language else "",
             f"tags: {', '.join(meta.tags)}" if meta.tags else ""]
    text = "; ".join(p for p in parts if p)
    return f"From its Hugging Face card ({text})" if text else None


def dataset_spec(card: CardFacts, license_id: str) -> DatasetSpec:
    meta = card.metadata
    repo_id = naming.hf_repo_id(card.repo_id, dataset=True)
    kinds = {_MODALITIES[t.split(":", 1)[1]] for t in meta.tags if t.startswith("modality:")
             and t.split(":", 1)[1] in _MODALITIES}
    kinds |= {_MODALITIES[c.split("-", 1)[0]] for c in meta.task_categories if c.split("-", 1)[0] in _MODALITIES}
    return DatasetSpec.model_validate({
        "qualified_name": naming.hf_dataset(repo_id), "name": meta.pretty_name or repo_id,
        "description": _description(card), "license": license_id, "url": f"{HUB}datasets/{repo_id}",
        "creator": repo_id.split("/")[0] if "/" in repo_id else None, "dataset_types": sorted(kinds),
    }, context={NAMES_NORMALIZED: True})


def model_spec(card: CardFacts, license_id: str) -> ModelSpec:
    meta = card.metadata
    repo_id = naming.hf_repo_id(card.repo_id)
    fields = {"qualified_name": naming.hf_model(repo_id), "name": meta.model_name or repo_id,
              "description": _description(card), "owner": repo_id.split("/")[0] if "/" in repo_id else None,
              "type_of_model": meta.pipeline_tag, "download_location": f"{HUB}{repo_id}"}
    # The model's own license: its terms become the model's tags, passed on to what is built from it.
    fields["license"] = license_id
    return ModelSpec.model_validate(fields, context={NAMES_NORMALIZED: True})


def training_run_spec(card: CardFacts, license_id: str) -> TrainingRunSpec:
    meta = card.metadata
    repo_id = naming.hf_repo_id(card.repo_id)
    base = list(dict.fromkeys(naming.hf_model(b) for b in meta.base_model))
    how = meta.base_model_relation or ("finetune" if meta.base_model else "training")
    return TrainingRunSpec.model_validate({
        "run_id": naming.hf_training_run_id(repo_id), "name": f"{how} of {repo_id} (Hugging Face card)",
        # Base models are named as models: one that Atlas does not hold yet is recorded as a placeholder model.
        "inputs": list(dict.fromkeys(naming.hf_dataset(d) for d in meta.datasets)) + base, "model_inputs": base,
        "outputs": [model_spec(card, license_id)],
        "framework": meta.library_name,
    }, context={NAMES_NORMALIZED: True})
