"""Recording, listing and revoking the RiskAccepted classification of a model, or of one of its release
decisions (an ml_release: the acceptance then holds for that release context only), in Atlas
(`atlas-ml accept`).

Atlas allows one classification of a type per entity, so a model (or release) holds one acceptance decision;
a new one replaces it only when asked to (`replace=True`), since it would silently end the one an officer
recorded. `target` is the entity's qualifiedName, `type_name` its type (ml_model or ml_release).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.errors import AtlasMlError, NotRegisteredError
from atlas_mlplugin.mapping.names import ML_MODEL, ML_RELEASE
from atlas_mlplugin.policy.acceptance import (
    RISK_ACCEPTED,
    AcceptanceRefused,
    acceptance_of_attributes,
    acceptances_on_entity,
    classification_of,
    listed,
    refusals,
)
from atlas_mlplugin.policy.model import Acceptance, IgnoredAcceptance, ReleaseContext
from atlas_mlplugin.policy.rules import Policy


class AcceptanceExists(AtlasMlError):
    """The model already carries an acceptance and the caller did not ask to replace it."""


def model_guid(client: AtlasClient, model: str, type_name: str = ML_MODEL) -> str:
    entity = client.find_entity(type_name, model, min_ext_info=True, ignore_relationships=True)
    if entity is None or (entity.get("entity") or {}).get("status") == "DELETED":
        if type_name == ML_RELEASE:
            model_part, _, context = model.partition("#release/")
            audience, _, terms = context.partition("/")
            raise NotRegisteredError(
                f"no release decision {model!r} in Atlas: a check of that context records it; run `atlas-ml "
                f"check {model_part} --audience {audience} --{terms}` first, then accept on it")
        raise NotRegisteredError(f"no {type_name} with qualifiedName {model!r} in Atlas; give the model's "
                                 "qualifiedName as `atlas-ml check` shows it")
    return str(entity["entity"]["guid"])


def own_acceptance(client: AtlasClient, guid: str) -> dict[str, Any] | None:
    """The RiskAccepted recorded on this entity itself (not one propagated to it), as Atlas returns it."""
    return next((c for c in client.get_classifications(guid)
                 if c.get("typeName") == RISK_ACCEPTED and c.get("entityGuid", guid) == guid), None)


def release_qualified_name(model: str, context: ReleaseContext) -> str:
    """The ml_release entity a recorded check of this context writes (mapping/releases.py names it so)."""
    return f"{model}#release/{context.audience}/{'commercial' if context.commercial else 'non-commercial'}"


def release_acceptances(client: AtlasClient, model: str, context: ReleaseContext
                        ) -> tuple[list[Acceptance], list[IgnoredAcceptance]]:
    """Acceptances an officer attached in the UI to the release decision of this context (one REST call);
    none when no check of this context was recorded yet."""
    qualified_name = release_qualified_name(model, context)
    found = client.find_entity(ML_RELEASE, qualified_name, min_ext_info=True, ignore_relationships=True)
    entity = (found or {}).get("entity") or {}
    if not entity or entity.get("status") == "DELETED":
        return [], []
    return acceptances_on_entity(entity.get("classifications") or [], str(entity["guid"]), qualified_name)


def current_acceptance(client: AtlasClient, model: str, type_name: str = ML_MODEL) -> Acceptance | None:
    """The model's (or release's) acceptance; None when it has none. AcceptanceRefused for an incomplete
    record (e.g. one attached in the UI without an approver), which the check ignores."""
    found = own_acceptance(client, model_guid(client, model, type_name))
    if found is None:
        return None
    try:
        return acceptance_of_attributes(found.get("attributes") or {}, model)
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors()}))
        raise AcceptanceRefused(
            f"{model} has an incomplete RiskAccepted ({fields} missing or empty; attributes: "
            f"{found.get('attributes')}); the check ignores it: complete it in the Atlas UI, or record a new "
            "one with atlas-ml accept --replace") from exc


def record_acceptance(client: AtlasClient, model: str, acceptance: Acceptance, policy: Policy, *,
                      replace: bool = False, now: datetime | None = None, type_name: str = ML_MODEL) -> None:
    """Attach the acceptance to the model (or release) after checking it against the policy
    (AcceptanceRefused lists every problem); AcceptanceExists when it has one and `replace` is False."""
    now = now or datetime.now(timezone.utc)
    if problems := refusals(acceptance, policy, today=now.date()):
        raise AcceptanceRefused("; ".join(problems))
    guid = model_guid(client, model, type_name)
    existing = own_acceptance(client, guid)
    tag = classification_of(acceptance, now=now)
    if existing is None:
        client.add_classifications(guid, [tag])
    elif replace:
        client.update_classifications(guid, [tag])
    else:
        attrs = existing.get("attributes") or {}
        raise AcceptanceExists(
            f"{model} already has an acceptance (rules {', '.join(listed(attrs, 'ruleIds', 'rules')) or 'none'}, by "
            f"{attrs.get('approver') or 'nobody recorded'}); Atlas holds one per model: list every rule in this "
            "one and add --replace, or revoke the old one first (atlas-ml accept --revoke)")


def revoke_acceptance(client: AtlasClient, model: str, rules: tuple[str, ...] = (),
                      type_name: str = ML_MODEL) -> Acceptance | None:
    """Remove the model's (or release's) acceptance, or only `rules` from it (the rest stays); returns what
    remains."""
    guid = model_guid(client, model, type_name)
    existing = own_acceptance(client, guid)
    if existing is None:
        raise NotRegisteredError(f"{model} has no acceptance to revoke")
    attrs = dict(existing.get("attributes") or {})
    kept = [r for r in listed(attrs, "ruleIds", "rules") if r not in rules] if rules else []
    if not kept:
        client.delete_classification(guid, RISK_ACCEPTED)
        return None
    attrs["ruleIds"], attrs["rules"] = kept, None  # the UI's text form folded into the list
    attrs["sourceDatasets"], attrs["datasets"] = list(listed(attrs, "sourceDatasets", "datasets")), None
    client.update_classifications(guid, [{"typeName": RISK_ACCEPTED, "attributes": attrs, "propagate": False}])
    return acceptance_of_attributes(attrs, model)
