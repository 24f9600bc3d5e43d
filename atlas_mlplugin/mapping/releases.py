"""A release decision as Atlas entities and a tag (policy/writeback.py turns a check's report into a
`ReleaseDecision` and writes what this builds).

Three places, each for a reason: an `ml_release` entity per (model, audience, commercial) keeps every
release decision with its findings; the model's `governanceVerdict`/`governanceSummary` attributes show the
latest one among its properties; a `ReleaseVerdict` classification puts it in the model's tag bar and makes
models searchable by verdict (propagate=false: a verdict is about this model, not what is built from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity, object_id
from atlas_mlplugin.mapping.tags import Classification
from atlas_mlplugin.mapping.timestamps import to_millis

MAX_FINDINGS_JSON = 60_000  # Atlas keeps strings in the graph; keep one attribute reasonably small


@dataclass(frozen=True)
class ReleaseDecision:
    """What a release check decided about one model, in the terms Atlas stores."""

    model: str  # the model's qualifiedName
    model_name: str
    audience: str
    commercial: bool
    ships: tuple[str, ...]
    verdict: str
    summary: str
    findings_json: str
    checked_at: datetime
    # The credit the training data's licenses require (the model's attributionNotice); None clears a stale one.
    attribution_notice: str | None = None
    # The release's purpose (a purpose term), kept so that `watch` re-checks with the same one.
    purpose: str | None = None

    @property
    def terms(self) -> str:
        return "commercial" if self.commercial else "non-commercial"

    @property
    def release_qualified_name(self) -> str:
        return f"{self.model}#release/{self.audience}/{self.terms}"


def bounded_findings(findings_json: str) -> str:
    if len(findings_json) <= MAX_FINDINGS_JSON:
        return findings_json
    return findings_json[:MAX_FINDINGS_JSON] + "...(truncated; run `atlas-ml check --format json`)"


def verdict_entities(decision: ReleaseDecision) -> list[Entity]:
    """The model's verdict attributes (a partial upsert) and the release entity linked to it."""
    checked = to_millis(decision.checked_at)
    return [
        {"typeName": n.ML_MODEL, "attributes": {
            n.QUALIFIED_NAME: decision.model, n.NAME: decision.model_name, "governanceVerdict": decision.verdict,
            "governanceSummary": decision.summary, "lastCheckedTime": checked,
            "attributionNotice": decision.attribution_notice}},
        {"typeName": n.ML_RELEASE, "attributes": {
            n.QUALIFIED_NAME: decision.release_qualified_name,
            n.NAME: f"{decision.model_name}: {decision.audience} {decision.terms}",
            n.DESCRIPTION: decision.summary, "audience": decision.audience, "commercial": decision.commercial,
            "ships": sorted(decision.ships), "purpose": decision.purpose, "verdict": decision.verdict,
            "findingsJson": bounded_findings(decision.findings_json), "checkedTime": checked},
         "relationshipAttributes": {n.RELEASE_MODEL: object_id(n.ML_MODEL, decision.model)}},
    ]


def verdict_tag(decision: ReleaseDecision) -> Classification:
    return {"typeName": n.RELEASE_VERDICT, "propagate": False, "attributes": {
        "verdict": decision.verdict, "summary": decision.summary, "checkedTime": to_millis(decision.checked_at),
        "audience": decision.audience, "commercial": decision.commercial}}
