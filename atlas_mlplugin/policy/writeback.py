"""Recording a check's verdict in Atlas, where a governance officer sees it on the model's page: the release
entity, the model's verdict attributes and its ReleaseVerdict tag (built in mapping/releases.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.releases import ReleaseDecision, verdict_entities, verdict_tag
from atlas_mlplugin.policy.model import CheckReport


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
