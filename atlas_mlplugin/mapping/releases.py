"""A release check's verdict as Atlas entities and a tag (policy/writeback.py writes them).

Three places, each for a reason: an `ml_release` entity per (model, audience, commercial) keeps every
release decision with its findings; the model's `governanceVerdict`/`governanceSummary` attributes show the
latest one among its properties; a `ReleaseVerdict` classification puts it in the model's tag bar and makes
models searchable by verdict (propagate=false: a verdict is about this model, not what is built from it).
"""

from __future__ import annotations

import json
from collections import Counter

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity, object_id
from atlas_mlplugin.mapping.tags import Classification
from atlas_mlplugin.mapping.timestamps import to_millis
from atlas_mlplugin.policy.model import CheckReport

MAX_FINDINGS_JSON = 60_000  # Atlas keeps strings in the graph; keep one attribute reasonably small


def terms(report: CheckReport) -> str:
    return "commercial" if report.context.commercial else "non-commercial"


def release_qualified_name(report: CheckReport) -> str:
    return f"{report.model}#release/{report.context.audience}/{terms(report)}"


def summary(report: CheckReport) -> str:
    counts = Counter(f.severity for f in report.findings)
    parts = [f"{counts[s]} {s}" for s in ("BLOCK", "WARN", "INFO") if counts[s]]
    blockers = sorted({f.rule_id for f in report.findings if f.severity == "BLOCK"})
    counted = ", ".join(parts) or "no findings"
    text = f"{report.verdict} for a {report.context.audience} {terms(report)} release ({counted})"
    return text + (f"; blocked by: {', '.join(blockers)}" if blockers else "")


def _findings_json(report: CheckReport) -> str:
    findings = json.dumps([f.model_dump(mode="json") for f in report.findings], separators=(",", ":"))
    if len(findings) > MAX_FINDINGS_JSON:
        findings = findings[:MAX_FINDINGS_JSON] + "...(truncated; run `atlas-ml check --format json`)"
    return findings


def verdict_entities(report: CheckReport, model_name: str | None = None) -> list[Entity]:
    """The model's verdict attributes (a partial upsert) and the release entity linked to it."""
    checked = to_millis(report.checked_at)
    name = model_name or report.model
    text = summary(report)
    return [
        {"typeName": n.ML_MODEL, "attributes": {
            n.QUALIFIED_NAME: report.model, n.NAME: name, "governanceVerdict": report.verdict,
            "governanceSummary": text, "lastCheckedTime": checked}},
        {"typeName": n.ML_RELEASE, "attributes": {
            n.QUALIFIED_NAME: release_qualified_name(report),
            n.NAME: f"{name}: {report.context.audience} {terms(report)}",
            n.DESCRIPTION: text, "audience": report.context.audience, "commercial": report.context.commercial,
            "ships": sorted(report.context.ships), "verdict": report.verdict, "findingsJson": _findings_json(report),
            "checkedTime": checked},
         "relationshipAttributes": {n.RELEASE_MODEL: object_id(n.ML_MODEL, report.model)}},
    ]


def verdict_tag(report: CheckReport) -> Classification:
    return {"typeName": n.RELEASE_VERDICT, "propagate": False, "attributes": {
        "verdict": report.verdict, "summary": summary(report), "checkedTime": to_millis(report.checked_at),
        "audience": report.context.audience, "commercial": report.context.commercial}}
