"""Recording a check's verdict in Atlas, where a governance officer sees it on the model's page: the release
entity with one finding entity per finding, the model's verdict attributes (every release context in words)
and its ReleaseVerdict tag (built in mapping/releases.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.errors import AtlasNotFoundError
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity
from atlas_mlplugin.mapping.releases import (
    ContextVerdict,
    FindingRecord,
    ReleaseDecision,
    verdict_entities,
    verdict_tag,
)
from atlas_mlplugin.mapping.tags import Classification
from atlas_mlplugin.mapping.timestamps import from_millis
from atlas_mlplugin.policy.model import CheckReport, Finding
from atlas_mlplugin.reads.entities import count_requests, entities_by_guid
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)


def summary(report: CheckReport) -> str:
    counts = Counter(f.outcome for f in report.findings)
    parts = [f"{counts[s]} {s}" for s in ("BLOCK", "WARN", "ACCEPTED", "INFO") if counts[s]]
    blockers = sorted({f.rule_id for f in report.findings if f.outcome == "BLOCK"})
    terms = "commercial" if report.context.commercial else "non-commercial"
    article = "an" if report.context.audience[:1] in "aeiou" else "a"  # "an internal release"
    text = (f"{report.verdict} for {article} {report.context.audience} {terms} release "
            f"({', '.join(parts) or 'no findings'})")
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


def finding_record(finding: Finding) -> FindingRecord:
    """A finding as the UI shows it. A source deleted from the catalog is named, not linked."""
    accepted = finding.accepted
    acceptance = None
    if accepted is not None:
        why = "; ".join(x for x in (accepted.reason, f"ticket {accepted.ticket}" if accepted.ticket else None) if x)
        acceptance = (f"Risk accepted by {accepted.approver} until {accepted.until.isoformat()}"
                      + (f": {why}" if why else ""))
    return FindingRecord(
        rule_id=finding.rule_id, outcome=finding.outcome, tag=finding.tag, message=finding.message,
        remedy=finding.remedy, acceptance=acceptance, source_qualified_name=finding.source_qualified_name,
        source_guid=None if finding.source_deleted else finding.source_guid, path=tuple(finding.path))


def decision_of(report: CheckReport, model_name: str | None = None,
                other_contexts: tuple[ContextVerdict, ...] = ()) -> ReleaseDecision:
    return ReleaseDecision(
        model=report.model, model_name=model_name or report.model, audience=report.context.audience,
        commercial=report.context.commercial, ships=tuple(sorted(report.context.ships)), verdict=report.verdict,
        summary=summary(report), checked_at=report.checked_at,
        findings_json=json.dumps([f.model_dump(mode="json") for f in report.findings], separators=(",", ":")),
        attribution_notice=attribution_notice(report), purpose=report.context.purpose,
        findings=tuple(finding_record(f) for f in report.findings), other_contexts=other_contexts)


def recorded_context(attributes: dict[str, Any]) -> ContextVerdict | None:
    """A release context as an earlier check recorded it on an ml_release; None for one it did not write."""
    audience = attributes.get("audience")
    if not audience or not attributes.get("verdict"):
        return None
    findings: tuple[FindingRecord, ...] = ()
    try:
        findings = tuple(finding_record(Finding.model_validate(f))
                         for f in json.loads(attributes.get("findingsJson") or "[]"))
    except (ValueError, TypeError):  # truncated or edited by hand: its one-line summary stands in
        findings = ()
    return ContextVerdict(audience=str(audience), commercial=bool(attributes.get("commercial")),
                          verdict=str(attributes["verdict"]), findings=findings,
                          checked_at=from_millis(attributes.get("checkedTime")),
                          summary=attributes.get(n.DESCRIPTION),
                          release_qualified_name=attributes.get(n.QUALIFIED_NAME))


def other_contexts(client: AtlasClient, model_guid: str, release_qualified_name: str) -> tuple[ContextVerdict, ...]:
    """The model's other release contexts as last recorded (two reads), for its page to explain them all."""
    model = client.get_entity(model_guid, min_ext_info=True)["entity"]
    guids = [r["guid"] for r in (model.get("relationshipAttributes") or {}).get(n.MODEL_RELEASES) or []
             if r.get("guid") and r.get("relationshipStatus", "ACTIVE") == "ACTIVE"]
    found = client.get_entities(guids, min_ext_info=True, ignore_relationships=True).get("entities") or []
    contexts = [recorded_context(e.get("attributes") or {}) for e in found
                if e.get("status", "ACTIVE") == "ACTIVE"
                and (e.get("attributes") or {}).get(n.QUALIFIED_NAME) != release_qualified_name]
    return tuple(c for c in contexts if c is not None)


def write_back(client: AtlasClient, report: CheckReport, *, model_name: str | None = None) -> str:
    """Upsert the release entity with its findings (Atlas deletes the findings this check no longer makes),
    update the model's verdict attributes and its ReleaseVerdict tag; returns the release entity's guid.
    Idempotent for the same report."""
    registry = GovernanceRegistry(client)
    first = decision_of(report, model_name)
    decision = decision_of(report, model_name, other_contexts(client, report.model_guid,
                                                              first.release_qualified_name))
    try:
        release_guid = registry.upsert(verdict_entities(decision), n.ML_RELEASE, decision.release_qualified_name)
    except AtlasNotFoundError:
        # A source purged from Atlas since its tag was read makes Atlas refuse the whole batch: record the
        # findings naming their sources in words, without the links, rather than no verdict at all.
        log.warning("a finding's source of %s is no longer in Atlas; its findings are recorded without links",
                    report.model)
        unlinked = tuple(replace(f, source_guid=None) for f in decision.findings)
        release_guid = registry.upsert(verdict_entities(replace(decision, findings=unlinked)), n.ML_RELEASE,
                                       decision.release_qualified_name)
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


def _context_of(decision: ReleaseDecision) -> ContextVerdict:
    return ContextVerdict(audience=decision.audience, commercial=decision.commercial, verdict=decision.verdict,
                          findings=decision.findings, checked_at=decision.checked_at, summary=decision.summary,
                          release_qualified_name=decision.release_qualified_name)


def _with_other_contexts(client: AtlasClient, decisions: list[ReleaseDecision], model_guids: list[str]
                         ) -> list[ReleaseDecision]:
    """Each decision with its model's other release contexts (as write_back's other_contexts gives them), read
    in bulk: the models' releases as recorded, overridden by the contexts this batch decides, so a model's page
    keeps explaining every context after a bulk re-check. Two bulk reads per ENTITIES_PER_WRITE models."""
    guids = list(dict.fromkeys(model_guids))
    models = entities_by_guid(client, guids, relationships=True)
    release_guids = [r["guid"] for m in models.values()
                     for r in (m.get("relationshipAttributes") or {}).get(n.MODEL_RELEASES) or []
                     if r.get("guid") and r.get("relationshipStatus", "ACTIVE") == "ACTIVE"]
    releases = entities_by_guid(client, release_guids)
    recorded: dict[str, dict[str, ContextVerdict]] = {}
    for guid, model in models.items():
        mine: dict[str, ContextVerdict] = {}
        for ref in (model.get("relationshipAttributes") or {}).get(n.MODEL_RELEASES) or []:
            release = releases.get(ref.get("guid") or "")
            if release is None or release.get("status", "ACTIVE") != "ACTIVE":
                continue
            context = recorded_context(release.get("attributes") or {})
            if context is not None and context.release_qualified_name:
                mine[context.release_qualified_name] = context
        recorded[guid] = mine
    for decision, guid in zip(decisions, model_guids, strict=True):
        recorded.setdefault(guid, {})[decision.release_qualified_name] = _context_of(decision)
    return [replace(decision, other_contexts=tuple(c for qn, c in recorded[guid].items()
                                                   if qn != decision.release_qualified_name))
            for decision, guid in zip(decisions, model_guids, strict=True)]


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
        decisions = _with_other_contexts(client, [decision_of(report, name) for report, name in reports],
                                         [report.model_guid for report, _ in reports])
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
