"""Recording a check's verdict in Atlas, where a governance officer sees it on the model's page: the release
entity, the model's verdict attributes and its ReleaseVerdict tag (built in mapping/releases.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity
from atlas_mlplugin.mapping.releases import ReleaseDecision, verdict_entities, verdict_tag
from atlas_mlplugin.mapping.tags import Classification
from atlas_mlplugin.policy.model import CheckReport
from atlas_mlplugin.reads.entities import count_requests


def summary(report: CheckReport) -> str:
    counts = Counter(f.outcome for f in report.findings)
    parts = [f"{counts[s]} {s}" for s in ("BLOCK", "WARN", "ACCEPTED", "INFO") if counts[s]]
    blockers = sorted({f.rule_id for f in report.findings if f.outcome == "BLOCK"})
    terms = "commercial" if report.context.commercial else "non-commercial"
    text = f"{report.verdict} for a {report.context.audience} {terms} release ({', '.join(parts) or 'no findings'})"
    return text + (f"; blocked by: {', '.join(blockers)}" if blockers else "")


def attribution_notice(report: CheckReport) -> str | None:
    """The model's attributionNotice: the credit its upstream AttributionRequired tags ask for, as the check
    just read them (so it follows license changes each time a verdict is recorded); None when no upstream
    license requires credit. One credit line per work, without the NOTICE file's rulers: the Atlas UI shows
    a string attribute as running text. The same for every release context: credit is owed to any audience.
    """
    credits = report.obligations.attributions
    if not credits:
        return None
    lines = ["This model was trained on these works, whose licenses require this credit with any release:"]
    lines += [f"- {str(credit.get('attributionText') or _credit_line(credit)).rstrip('.')}." for credit in credits]
    lines.append("Changes: the works were used to train this model.")
    return "\n".join(lines)


def _credit_line(credit: dict[str, Any]) -> str:
    """Title, author, source, license (as CC's attribution guidance asks), for tags without a credit text."""
    parts = [f'"{credit.get("title") or credit["source"]}"']
    if credit.get("creator"):
        parts.append(f"by {credit['creator']}")
    if credit.get("url"):
        parts.append(f"({credit['url']})")
    parts.append(f"is licensed under {credit.get('license') or 'a license not recorded'}")
    if credit.get("license_url"):
        parts.append(f"({credit['license_url']})")
    return " ".join(parts)


def decision_of(report: CheckReport, model_name: str | None = None) -> ReleaseDecision:
    return ReleaseDecision(
        model=report.model, model_name=model_name or report.model, audience=report.context.audience,
        commercial=report.context.commercial, ships=tuple(sorted(report.context.ships)), verdict=report.verdict,
        summary=summary(report), checked_at=report.checked_at,
        findings_json=json.dumps([f.model_dump(mode="json") for f in report.findings], separators=(",", ":")),
        attribution_notice=attribution_notice(report), purpose=report.context.purpose)


def write_back(client: AtlasClient, report: CheckReport, *, model_name: str | None = None) -> str:
    """Upsert the release entity, update the model's verdict attributes and its ReleaseVerdict tag;
    returns the release entity's guid. Idempotent for the same report."""
    decision = decision_of(report, model_name)
    registry = GovernanceRegistry(client)
    release_guid = registry.upsert(verdict_entities(decision), n.ML_RELEASE, decision.release_qualified_name)
    registry.sync_derived_tags(report.model_guid, [verdict_tag(decision)], frozenset({n.RELEASE_VERDICT}))
    return release_guid


# --- many reports at once (watch) -------------------------------------------------------------------------
ENTITIES_PER_WRITE = 100  # entities per POST /v2/entity/bulk, as ingest batches them
TAGS_PER_WRITE = 100  # models per POST /v2/entity/bulk/setClassifications (and per bulk re-read)
SET_CLASSIFICATIONS = "/v2/entity/bulk/setClassifications"
_CLASSIFICATION_FIELDS = ("typeName", "attributes", "propagate", "removePropagationsOnEntityDelete",
                          "validityPeriods")


@dataclass
class WriteBackStats:
    rest_calls: int = 0
    entity_writes: int = 0  # POST /v2/entity/bulk
    tag_writes: int = 0  # POST /v2/entity/bulk/setClassifications
    one_by_one: int = 0  # models whose tag was written on its own (see write_back_many)


def _last_per_key(groups: list[list[Entity]]) -> list[list[Entity]]:
    """Each (type, qualifiedName) once, where it last occurs: a model re-checked in two release contexts
    shows the later one's verdict, as two write_back calls in that order would leave it."""
    seen: set[tuple[str, str]] = set()
    kept: list[list[Entity]] = []
    for group in reversed(groups):
        mine = []
        for entity in reversed(group):
            key = (entity["typeName"], str((entity.get("attributes") or {}).get(n.QUALIFIED_NAME)))
            if key not in seen:
                seen.add(key)
                mine.append(entity)
        kept.append(list(reversed(mine)))
    return list(reversed(kept))


def write_back_many(client: AtlasClient, reports: Sequence[tuple[CheckReport, str | None]]) -> WriteBackStats:
    """write_back for many (report, model name) pairs in a bounded number of requests: the release entities
    and models' verdict attributes (whatever mapping/releases.py `verdict_entities` builds) in bulk POSTs of
    up to ENTITIES_PER_WRITE entities, one report's entities never split across two; then the models'
    ReleaseVerdict tags through Atlas's bulk setClassifications, TAGS_PER_WRITE models a request.

    setClassifications makes an entity's own tags exactly the list it is sent (it deletes the others), so each
    model's own tags are re-read in bulk just before and sent back unchanged beside the new verdict; a model
    owning a tag that propagates is written on its own (sync_known_tags), since re-sending that tag would
    update its copies on everything downstream. Models whose tag already says the verdict are skipped."""
    stats = WriteBackStats()
    with count_requests(client) as calls:
        decisions = [decision_of(report, name) for report, name in reports]
        groups = _last_per_key([verdict_entities(d) for d in decisions])
        batch: list[Entity] = []
        for group in groups:
            if batch and len(batch) + len(group) > ENTITIES_PER_WRITE:
                client.upsert_entities(em.link_within_batch(batch))
                stats.entity_writes += 1
                batch = []
            batch.extend(group)
        if batch:
            client.upsert_entities(em.link_within_batch(batch))
            stats.entity_writes += 1

        wanted: dict[str, Classification] = {}
        for report, decision in zip((r for r, _ in reports), decisions, strict=True):
            wanted[report.model_guid] = verdict_tag(decision)  # the last context written, as above
        registry = GovernanceRegistry(client)
        guids = list(wanted)
        for start in range(0, len(guids), TAGS_PER_WRITE):
            chunk = guids[start:start + TAGS_PER_WRITE]
            found = client.get_entities(chunk, min_ext_info=True, ignore_relationships=True).get("entities") or []
            headers: dict[str, Any] = {}
            for entity in found:
                guid = entity["guid"]
                if entity.get("status") == "DELETED":
                    continue
                classifications = entity.get("classifications") or []
                own = [c for c in classifications if (c.get("entityGuid") or guid) == guid]
                tag = wanted[guid]
                current = next((c for c in own if c["typeName"] == n.RELEASE_VERDICT), None)
                if current is not None and all((current.get("attributes") or {}).get(k) == v
                                               for k, v in tag["attributes"].items()):
                    continue
                if any(c.get("propagate") for c in own if c["typeName"] != n.RELEASE_VERDICT):
                    registry.sync_known_tags(guid, classifications, [tag], frozenset({n.RELEASE_VERDICT}))
                    stats.one_by_one += 1
                    continue
                kept = [{k: c[k] for k in _CLASSIFICATION_FIELDS if k in c} | {"entityGuid": guid}
                        for c in own if c["typeName"] != n.RELEASE_VERDICT]
                # Atlas finds the entity by its type and qualifiedName, not by the map's guid
                qualified_name = (entity.get("attributes") or {}).get(n.QUALIFIED_NAME)
                headers[guid] = {"guid": guid, "typeName": entity["typeName"],
                                 "attributes": {n.QUALIFIED_NAME: qualified_name},
                                 "classifications": [*kept, {**tag, "entityGuid": guid}]}
            if not headers:
                continue
            outcome = client.request("POST", SET_CLASSIFICATIONS, json={"guidHeaderMap": headers}) or []
            stats.tag_writes += 1
            # Atlas answers one line per entity, "<op>:<guid>:...:(Done)"; one it could not change is
            # written on its own, which raises with Atlas's reason if it fails again.
            failed = {str(line).split(":")[1] for line in outcome
                      if "(Done)" not in str(line) and str(line).count(":") > 1} & headers.keys()
            for guid in sorted(failed):
                registry.sync_derived_tags(guid, [wanted[guid]], frozenset({n.RELEASE_VERDICT}))
                stats.one_by_one += 1
    stats.rest_calls = calls[0]
    return stats
