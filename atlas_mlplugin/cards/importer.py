"""`atlas-ml import card`: cards -> Atlas, planned and written by catalog apply, so a second import of the same
cards writes nothing.

Base models that no imported card describes and Atlas does not hold are recorded first as placeholder models
with UnknownLicense (licenseId UNREGISTERED), as unregistered datasets are: a fine-tune of a model nobody
described must not look clean. Importing the base model's card later replaces the placeholder's tag with what
its license says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from atlas_mlplugin import naming
from atlas_mlplugin.cards.mapping import cards_document
from atlas_mlplugin.cards.read import CardKind, CardUsageError, read_card
from atlas_mlplugin.catalog.apply import ApplyReport, apply_catalog
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.governance.bulk import count_writes
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.tags import LICENSE_TAG_TYPES, UNREGISTERED, placeholder_tags
from atlas_mlplugin.model import ModelSpec
from atlas_mlplugin.model.assets import NAMES_NORMALIZED


@dataclass
class ImportReport:
    apply: ApplyReport
    placeholders: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return self.apply.writes

    def lines(self) -> list[str]:
        out = [f"warning: {w}" for w in self.warnings]
        out += [f"{'would create' if self.apply.dry_run else 'created'} placeholder model {qn} (no card describes it: "
                "UnknownLicense until its card is imported)" for qn in self.placeholders]
        return out + self.apply.lines()


def import_cards(paths: list[Path], registry: GovernanceRegistry, *, kind: CardKind | None = None,
                 repo_id: str | None = None, license_id: str | None = None, dry_run: bool = False) -> ImportReport:
    """Read every card first (a bad one fails the import before anything is written), then write."""
    if repo_id is not None and len(paths) != 1:
        raise CardUsageError("--repo-id names the repository of one card; import the cards one at a time")
    cards = [read_card(p, kind=kind, repo_id=repo_id) for p in paths]
    plan = cards_document(cards, registry.catalog, license_override=license_id)
    problems = plan.document.reference_problems(catalog=registry.catalog, allow_external_refs=True)
    if problems:
        raise CardUsageError("; ".join(p.message for p in problems))
    client = registry.client
    outputs = [m.qualified_name for r in plan.document.training_runs for m in r.outputs]  # type: ignore[union-attr]
    wanted = sorted(set(plan.external_models) | set(outputs))
    found = client.find_entities(n.ML_MODEL, wanted, min_ext_info=True) if wanted else {}
    missing = [qn for qn in plan.external_models if qn not in found]
    # A model imported now that was a placeholder: its UNREGISTERED UnknownLicense goes once its card is in.
    was_placeholder = [e["guid"] for qn, e in found.items() if qn in outputs and _is_placeholder(e)]
    if dry_run:
        report = apply_catalog(plan.document, registry, dry_run=True)
        return ImportReport(report, missing, plan.warnings)
    with count_writes(client.session) as writes:
        for qn in missing:
            _placeholder_model(registry, qn)
        for guid in was_placeholder:
            registry.drop_placeholder_tag(guid)
    report = apply_catalog(plan.document, registry)
    report.writes += writes[0]
    return ImportReport(report, missing, plan.warnings)


def _is_placeholder(entity: dict[str, object]) -> bool:
    guid = entity.get("guid")
    return any(c.get("typeName") == n.UNKNOWN_LICENSE and c.get("entityGuid", guid) == guid
               and (c.get("attributes") or {}).get(n.LICENSE_ID) == UNREGISTERED
               for c in entity.get("classifications") or [])  # type: ignore[union-attr]


def _placeholder_model(registry: GovernanceRegistry, qualified_name: str) -> None:
    """An ml_model nobody described, with UnknownLicense(UNREGISTERED) propagating to what is built on it."""
    client = registry.client
    with client.writing([qualified_name]):  # neither made twice nor overwriting a model registered meanwhile
        if client.find_entity(n.ML_MODEL, qualified_name) is not None:
            return
        repo_id = naming.hf_repo_id(qualified_name)
        spec = ModelSpec.model_validate({"qualified_name": qualified_name, "name": repo_id,
                                         "download_location": f"https://huggingface.co/{repo_id}",
                                         "description": "A base model named by a Hugging Face card; its own card "
                                                        "was not imported"}, context={NAMES_NORMALIZED: True})
        guid = registry.upsert([em.model_entity(spec)], n.ML_MODEL, qualified_name)
        registry.sync_derived_tags(guid, placeholder_tags(qualified_name), LICENSE_TAG_TYPES)
