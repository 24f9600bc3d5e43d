"""The catalog's `accepted_risks:` applied to Atlas: each entry becomes its model's RiskAccepted tag, written
only when it differs from the one there (so a second apply writes nothing)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol

from atlas_mlplugin.catalog.document import CatalogAcceptedRisk
from atlas_mlplugin.errors import NotRegisteredError
from atlas_mlplugin.mapping.names import ML_MODEL
from atlas_mlplugin.policy.acceptance import classification_of
from atlas_mlplugin.policy.accepting import own_acceptance
from atlas_mlplugin.policy.model import Acceptance

# What the check reads; acceptedTime records when it was first written and is not compared.
COMPARED = ("ruleIds", "sourceDatasets", "rules", "datasets", "approver", "reason", "ticket", "expiryDate")


class TagClient(Protocol):
    def find_entities(self, type_name: str, qualified_names: list[str], /) -> dict[str, dict[str, Any]]: ...
    def get_classifications(self, guid: str, /) -> list[dict[str, Any]]: ...
    def add_classifications(self, guid: str, classifications: list[dict[str, Any]], /) -> None: ...
    def update_classifications(self, guid: str, classifications: list[dict[str, Any]], /) -> None: ...


def acceptance_of(risk: CatalogAcceptedRisk) -> Acceptance:
    return Acceptance(rules=tuple(risk.rules), datasets=tuple(risk.datasets), approver=risk.approver,
                      reason=risk.reason, ticket=risk.ticket, until=risk.until, recorded_on=risk.model)


def apply_accepted_risks(risks: list[CatalogAcceptedRisk], client: TagClient, *, dry_run: bool,
                         pending: frozenset[str] = frozenset(), now: datetime | None = None
                         ) -> list[tuple[str, str, tuple[str, ...]]]:
    """(model, action, changed attributes) per entry; action is created, updated or unchanged. Raises
    NotRegisteredError naming every model that is neither in Atlas nor written by this apply (`pending`: the
    models a dry run would create)."""
    if not risks:
        return []
    now = now or datetime.now(timezone.utc)
    models = client.find_entities(ML_MODEL, [r.model for r in risks])
    if missing := [r.model for r in risks if r.model not in models and not (dry_run and r.model in pending)]:
        raise NotRegisteredError(f"accepted_risks: no ml_model {', '.join(map(repr, missing))} in Atlas; record "
                                 "the model first (a training run in this file, or track_training)")
    results = []
    for risk in risks:
        if risk.model not in models:  # a dry run, and this apply would create the model
            results.append((risk.model, "created", ()))
            continue
        guid = str(models[risk.model]["guid"])
        wanted = classification_of(acceptance_of(risk), now=now)
        existing = own_acceptance(client, guid)  # type: ignore[arg-type]
        if existing is None:
            action, changes = "created", ()
        else:
            have = existing.get("attributes") or {}
            changes = tuple(k for k in COMPARED if _norm(have.get(k)) != _norm(wanted["attributes"].get(k)))
            action = "updated" if changes else "unchanged"
        if not dry_run and action == "created":
            client.add_classifications(guid, [wanted])
        elif not dry_run and action == "updated":
            client.update_classifications(guid, [wanted])
        results.append((risk.model, action, changes))
    return results


def _norm(value: Any) -> Any:
    # Atlas returns an unset attribute as null or leaves it out, and a list attribute possibly reordered.
    if value in (None, "", []):
        return None
    return sorted(value) if isinstance(value, list) else value
