"""A release decision as Atlas entities and a tag (policy/writeback.py turns a check's report into a
`ReleaseDecision` and writes what this builds).

Four places, each for a reason: an `ml_release` entity per (model, audience, commercial) keeps every
release decision; one `ml_release_finding` per finding makes the why readable in the UI (the release's page
lists them, each links to the dataset it comes from, and that dataset's page lists the findings naming it);
the model's `governanceVerdict` shows the latest verdict and `governanceSummary` every recorded release
context in words (messages and remedies, no rule ids); a `ReleaseVerdict` classification puts the latest one
in the model's tag bar and makes models searchable by verdict (propagate=false: a verdict is about this
model, not what is built from it).

Findings hang off their release by composition: the release lists exactly the findings of the check just
written, and Atlas deletes (soft: DELETED, shown struck through, kept in the audit) the ones a later check
no longer finds, in the same bulk call. Deleting rather than flagging them "not current" keeps Atlas's own
meaning (basic search leaves deleted entities out by default, so a search for BLOCK findings lists open ones
only) and needs no read-before-write; a finding that comes back later is a new entity with a new history.
`findingsJson` keeps the same findings for tools.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity, object_id
from atlas_mlplugin.mapping.tags import Classification
from atlas_mlplugin.mapping.timestamps import to_millis

MAX_FINDINGS_JSON = 60_000  # Atlas keeps strings in the graph; keep one attribute reasonably small
MAX_EXPLANATION = 4_000  # one release context in words on the model's page; past this, see its findings
MAX_NAME_PART = 120  # characters of a source's name in a finding's name (the UI lists findings by name)
AUDIENCE_ORDER = {"internal": 0, "partner": 1, "public": 2}
# How a verdict reads in a sentence, and which findings explain it, worst first.
VERDICT_WORDS = {"PASS": "may go ahead", "WARN": "may go ahead once the points below are dealt with",
                 "BLOCK": "must not go ahead", "UNCHECKED": "has not been checked"}
OUTCOME_LEADS = (("BLOCK", "Blocked because"), ("WARN", "To do or review"), ("ACCEPTED", "Accepted risk"))


@dataclass(frozen=True)
class FindingRecord:
    """One finding as the UI shows it: outcome, what and why in words, how to resolve, where it comes from."""

    rule_id: str
    outcome: str  # BLOCK, WARN, ACCEPTED or INFO
    tag: str
    message: str
    remedy: str | None = None
    acceptance: str | None = None  # who accepted the risk, why, until when (outcome ACCEPTED)
    source_qualified_name: str | None = None
    source_guid: str | None = None  # None when the source is gone: the finding then names it in words only
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContextVerdict:
    """Another release context recorded on the same model (its ml_release), to show beside this one."""

    audience: str
    commercial: bool
    verdict: str
    findings: tuple[FindingRecord, ...] = ()
    checked_at: datetime | None = None
    summary: str | None = None  # used when its findings cannot be read back
    release_qualified_name: str | None = None  # which ml_release it is (one per context); None: by its terms


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
    findings: tuple[FindingRecord, ...] = ()
    # The model's other release contexts as last recorded, so that its page explains all of them, not only
    # the one checked last (the caller reads them; empty: this one only).
    other_contexts: tuple[ContextVerdict, ...] = ()
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


def context_label(audience: str, commercial: bool) -> str:
    return f"{audience.capitalize()} {'commercial' if commercial else 'non-commercial'} release"


def _sentence(text: str) -> str:
    text = " ".join(text.split())  # the UI shows a string as running text: line breaks would be lost anyway
    return text if text.endswith((".", "!", "?")) else text + "."


def explain(audience: str, commercial: bool, verdict: str, findings: tuple[FindingRecord, ...],
            checked_at: datetime | None = None, summary: str | None = None) -> str:
    """One release context in words: the verdict, then each blocking, to-do and accepted finding with its
    remedy (INFO findings, e.g. the credit to ship, are in the attribution notice and the release's findings)."""
    when = f" (checked {checked_at.date().isoformat()})" if checked_at else ""
    parts = [f"{context_label(audience, commercial)}: {verdict}, {VERDICT_WORDS.get(verdict, verdict)}{when}."]
    for outcome, lead in OUTCOME_LEADS:
        chosen = [f for f in findings if f.outcome == outcome]
        for number, f in enumerate(chosen, start=1):
            text = _sentence(f.message)
            if f.acceptance:
                text += f" {_sentence(f.acceptance)}"
            elif f.remedy:
                text += f" To resolve: {_sentence(f.remedy)}"
            prefix = f"{lead}{f' ({number}/{len(chosen)})' if len(chosen) > 1 else ''}"
            parts.append(f"{prefix}: {text}")
    if not findings and summary and verdict != "PASS":
        parts.append(_sentence(summary))
    text = " ".join(parts)
    if len(text) > MAX_EXPLANATION:
        text = text[:MAX_EXPLANATION - 60].rsplit(" ", 1)[0] + " ... (more in the release decision's findings)"
    return text


def model_explanation(decision: ReleaseDecision) -> str:
    """Every release context recorded on the model in words, narrowest audience first: what the model's
    page shows as governanceSummary. The context just checked replaces its older record."""
    current = ContextVerdict(decision.audience, decision.commercial, decision.verdict, decision.findings,
                             decision.checked_at, decision.summary, decision.release_qualified_name)

    def key(c: ContextVerdict) -> str:
        return c.release_qualified_name or f"{decision.model}#release/{c.audience}/" + (
            "commercial" if c.commercial else "non-commercial")

    contexts = {key(c): c for c in decision.other_contexts}
    contexts[key(current)] = current
    ordered = sorted(contexts.values(), key=lambda c: (AUDIENCE_ORDER.get(c.audience, 9), c.audience, c.commercial))
    return " ".join(explain(c.audience, c.commercial, c.verdict, c.findings, c.checked_at, c.summary)
                    for c in ordered)


def finding_qualified_name(release_qualified_name: str, finding: FindingRecord) -> str:
    """Unique per release, rule, tag and source; stable across checks, so an unchanged finding stays the
    same entity. A very long source name is replaced by its digest to keep the name within Atlas's limits."""
    source = finding.source_qualified_name or finding.source_guid or "-"
    if len(source) > 512:
        source = "sha256:" + hashlib.sha256(source.encode()).hexdigest()
    return f"{release_qualified_name}#finding/{finding.rule_id}/{finding.tag}/{source}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_NAME_PART else text[:MAX_NAME_PART - 3] + "..."


def _finding_entity(decision: ReleaseDecision, finding: FindingRecord) -> Entity:
    """One finding, named so that the lists read well (outcome, tag, source, release) and described in
    words (the message and how to resolve it); linked to its release and to the entity it comes from."""
    source = finding.source_qualified_name or "the model itself"
    description = _sentence(finding.message) + (f" {_sentence(finding.acceptance)}" if finding.acceptance else
                                                f" To resolve: {_sentence(finding.remedy)}" if finding.remedy else "")
    relationships: dict[str, Any] = {n.FINDING_RELEASE: object_id(n.ML_RELEASE, decision.release_qualified_name)}
    if finding.source_guid:
        # By guid, typed as the relationship's end (Asset): the source may be a dataset, a model or a step.
        relationships[n.FINDING_SOURCE] = {"guid": finding.source_guid, "typeName": "Asset"}
    return {"typeName": n.ML_RELEASE_FINDING, "attributes": {
        n.QUALIFIED_NAME: finding_qualified_name(decision.release_qualified_name, finding),
        # The dataset's page lists findings of every model built on it: the name says for which release.
        n.NAME: f"{finding.outcome}: {finding.tag} from {_short(source)} for {_short(decision.model_name)} "
                f"({decision.audience} {decision.terms})",
        n.DESCRIPTION: description, "outcome": finding.outcome, "message": finding.message,
        "remedy": finding.remedy, "acceptance": finding.acceptance, "tag": finding.tag,
        n.SOURCE_DATASET: finding.source_qualified_name, "lineagePath": list(finding.path),
        "ruleId": finding.rule_id, "checkedTime": to_millis(decision.checked_at)},
        "relationshipAttributes": relationships}


def _finding_entities(decision: ReleaseDecision) -> list[Entity]:
    """The decision's findings, one entity each (the first of two with one name: evaluate sorts worst first)."""
    built: dict[str, Entity] = {}
    for finding in decision.findings:
        entity = _finding_entity(decision, finding)
        built.setdefault(entity["attributes"][n.QUALIFIED_NAME], entity)
    return list(built.values())


def verdict_entities(decision: ReleaseDecision) -> list[Entity]:
    """The model's verdict attributes (a partial upsert), the release entity linked to it and its findings.
    The release lists exactly these findings: Atlas deletes the ones an earlier check wrote and this one did
    not find (composition), in the same bulk upsert."""
    checked = to_millis(decision.checked_at)
    findings = _finding_entities(decision)
    return [
        {"typeName": n.ML_MODEL, "attributes": {
            n.QUALIFIED_NAME: decision.model, n.NAME: decision.model_name, "governanceVerdict": decision.verdict,
            "governanceSummary": model_explanation(decision), "lastCheckedTime": checked,
            "attributionNotice": decision.attribution_notice}},
        {"typeName": n.ML_RELEASE, "attributes": {
            n.QUALIFIED_NAME: decision.release_qualified_name,
            n.NAME: f"{decision.model_name}: {decision.audience} {decision.terms}",
            n.DESCRIPTION: decision.summary, "audience": decision.audience, "commercial": decision.commercial,
            "ships": sorted(decision.ships), "purpose": decision.purpose, "verdict": decision.verdict,
            "findingsJson": bounded_findings(decision.findings_json), "checkedTime": checked},
         "relationshipAttributes": {
             n.RELEASE_MODEL: object_id(n.ML_MODEL, decision.model),
             n.RELEASE_FINDINGS: [object_id(n.ML_RELEASE_FINDING, f["attributes"][n.QUALIFIED_NAME])
                                  for f in findings]}},
        *findings,
    ]


def verdict_tag(decision: ReleaseDecision) -> Classification:
    """The latest check in the model's tag bar; its summary is that context in words, as on the model's page
    (the rule ids stay in the release's findings)."""
    summary = explain(decision.audience, decision.commercial, decision.verdict, decision.findings,
                      decision.checked_at, decision.summary)
    return {"typeName": n.RELEASE_VERDICT, "propagate": False, "attributes": {
        "verdict": decision.verdict, "summary": summary, "checkedTime": to_millis(decision.checked_at),
        "audience": decision.audience, "commercial": decision.commercial}}
