"""Recording a check's verdict in Atlas, where a governance officer sees it on the model's page.

Three places, each for a reason: an `ml_release` entity per (model, audience, commercial) keeps every
release decision with its findings; the model's `governanceVerdict`/`governanceSummary` attributes show the
latest one among its properties; a `ReleaseVerdict` classification puts it in the model's tag bar and makes
models searchable by verdict. The classification is added with propagate=false: a verdict is about this
model, not about what is built from it.
"""

from __future__ import annotations

import json
from collections import Counter

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping.entities import object_id
from atlas_mlplugin.mapping.timestamps import to_millis
from atlas_mlplugin.policy.model import CheckReport

MAX_FINDINGS_JSON = 60_000  # Atlas keeps strings in the graph; keep one attribute reasonably small


def release_qualified_name(report: CheckReport) -> str:
    terms = "commercial" if report.context.commercial else "non-commercial"
    return f"{report.model}#release/{report.context.audience}/{terms}"


def summary(report: CheckReport) -> str:
    counts = Counter(f.severity for f in report.findings)
    parts = [f"{counts[s]} {s}" for s in ("BLOCK", "WARN", "INFO") if counts[s]]
    terms = "commercial" if report.context.commercial else "non-commercial"
    blockers = sorted({f.rule_id for f in report.findings if f.severity == "BLOCK"})
    text = f"{report.verdict} for a {report.context.audience} {terms} release ({', '.join(parts) or 'no findings'})"
    return text + (f"; blocked by: {', '.join(blockers)}" if blockers else "")


def write_back(client: AtlasClient, report: CheckReport, *, model_name: str | None = None) -> str:
    """Upsert the release entity, update the model's verdict attributes and its ReleaseVerdict tag;
    returns the release entity's guid. Idempotent for the same report."""
    checked = to_millis(report.checked_at)
    findings = json.dumps([f.model_dump(mode="json") for f in report.findings], separators=(",", ":"))
    if len(findings) > MAX_FINDINGS_JSON:
        findings = findings[:MAX_FINDINGS_JSON] + "...(truncated; run `atlas-ml check --format json`)"
    release_qn = release_qualified_name(report)
    name = model_name or report.model
    text = summary(report)
    registry = GovernanceRegistry(client)
    release_guid = registry.upsert([
        {"typeName": "ml_model", "attributes": {
            "qualifiedName": report.model, "name": name, "governanceVerdict": report.verdict,
            "governanceSummary": text, "lastCheckedTime": checked}},
        {"typeName": "ml_release", "attributes": {
            "qualifiedName": release_qn, "name": f"{name}: {report.context.audience} "
                                                  f"{'commercial' if report.context.commercial else 'non-commercial'}",
            "description": text, "audience": report.context.audience, "commercial": report.context.commercial,
            "ships": sorted(report.context.ships), "verdict": report.verdict, "findingsJson": findings,
            "checkedTime": checked},
         "relationshipAttributes": {"model": object_id("ml_model", report.model)}},
    ], "ml_release", release_qn)
    verdict_tag = {"typeName": "ReleaseVerdict", "propagate": False, "attributes": {
        "verdict": report.verdict, "summary": text, "checkedTime": checked,
        "audience": report.context.audience, "commercial": report.context.commercial}}
    registry.sync_derived_tags(report.model_guid, [verdict_tag], frozenset({"ReleaseVerdict"}))
    return release_guid
