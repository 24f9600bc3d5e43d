"""Recording a check's verdict in Atlas, where a governance officer sees it on the model's page: the release
entity with one finding entity per finding, the model's verdict attributes (every release context in words)
and its ReleaseVerdict tag (built in mapping/releases.py)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.errors import AtlasNotFoundError
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.releases import (
    ContextVerdict,
    FindingRecord,
    ReleaseDecision,
    verdict_entities,
    verdict_tag,
)
from atlas_mlplugin.mapping.timestamps import from_millis
from atlas_mlplugin.policy.model import CheckReport, Finding
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
        attribution_notice=attribution_notice(report),
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
