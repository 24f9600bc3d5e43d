"""Recording a check's verdict in Atlas, where a governance officer sees it on the model's page: the release
entity, the model's verdict attributes and its ReleaseVerdict tag (built in mapping/releases.py)."""

from __future__ import annotations

import json
from collections import Counter

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.releases import ReleaseDecision, verdict_entities, verdict_tag
from atlas_mlplugin.policy.model import CheckReport
from atlas_mlplugin.policy.render import render_notice


def summary(report: CheckReport) -> str:
    counts = Counter(f.severity for f in report.findings)
    parts = [f"{counts[s]} {s}" for s in ("BLOCK", "WARN", "INFO") if counts[s]]
    blockers = sorted({f.rule_id for f in report.findings if f.severity == "BLOCK"})
    terms = "commercial" if report.context.commercial else "non-commercial"
    text = f"{report.verdict} for a {report.context.audience} {terms} release ({', '.join(parts) or 'no findings'})"
    return text + (f"; blocked by: {', '.join(blockers)}" if blockers else "")


def attribution_notice(report: CheckReport) -> str | None:
    """The model's attributionNotice: the NOTICE its upstream AttributionRequired tags call for, as the
    check just read them (so it follows license changes each time the verdict is recorded); None when no
    upstream license requires credit. The same for every release context: credit is owed to any audience."""
    return render_notice(report) if report.obligations.attributions else None


def decision_of(report: CheckReport, model_name: str | None = None) -> ReleaseDecision:
    return ReleaseDecision(
        model=report.model, model_name=model_name or report.model, audience=report.context.audience,
        commercial=report.context.commercial, ships=tuple(sorted(report.context.ships)), verdict=report.verdict,
        summary=summary(report), checked_at=report.checked_at,
        findings_json=json.dumps([f.model_dump(mode="json") for f in report.findings], separators=(",", ":")),
        attribution_notice=attribution_notice(report))


def write_back(client: AtlasClient, report: CheckReport, *, model_name: str | None = None) -> str:
    """Upsert the release entity, update the model's verdict attributes and its ReleaseVerdict tag;
    returns the release entity's guid. Idempotent for the same report."""
    decision = decision_of(report, model_name)
    registry = GovernanceRegistry(client)
    release_guid = registry.upsert(verdict_entities(decision), n.ML_RELEASE, decision.release_qualified_name)
    registry.sync_derived_tags(report.model_guid, [verdict_tag(decision)], frozenset({n.RELEASE_VERDICT}))
    return release_guid
