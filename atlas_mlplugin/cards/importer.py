"""`atlas-ml import card`: cards -> Atlas, planned and written by catalog apply, so a second import of the same
cards writes nothing.

Base models that no imported card describes and Atlas does not hold are recorded by apply as placeholder
models with UnknownLicense (licenseId UNREGISTERED), as unregistered datasets are: a fine-tune of a model
nobody described must not look clean. Importing the base model's card later records its license, whose tags
replace the placeholder's (apply keeps a model's own license tags in line with its license).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from atlas_mlplugin.cards.mapping import cards_document
from atlas_mlplugin.cards.read import CardFacts, CardKind, CardUsageError, read_card
from atlas_mlplugin.catalog.apply import ApplyReport, apply_catalog
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.mapping import names as n


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
    _no_duplicates(cards)
    plan = cards_document(cards, registry.catalog, license_override=license_id)
    # Only to say which base models become placeholders; apply looks them up again as it plans.
    found = registry.client.find_entities(n.ML_MODEL, plan.external_models) if plan.external_models else {}
    missing = [qn for qn in plan.external_models if qn not in found]
    return ImportReport(apply_catalog(plan.document, registry, dry_run=dry_run), missing, plan.warnings)


def _no_duplicates(cards: list[CardFacts]) -> None:
    """Two cards for one repository would be one entity written twice with different facts."""
    first: dict[tuple[str, str], CardFacts] = {}
    for card in cards:
        key = (card.kind, card.repo_id)
        if key in first:
            raise CardUsageError(f"{card.path} and {first[key].path} both describe the {card.kind} {card.repo_id}; "
                                 "import one of them, or give each its own --repo-id")
        first[key] = card
