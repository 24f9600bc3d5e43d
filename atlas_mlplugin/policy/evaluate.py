"""Policy x evidence x release context -> CheckReport. Pure: no Atlas, no clock unless `now` is omitted.

Every tag on the model is checked against every rule, so a finding always names the tag and the upstream
dataset it came from; the report is ordered so the same inputs always give the same output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from atlas_mlplugin.licenses.catalog import LicenseCatalog, UnknownLicenseError
from atlas_mlplugin.policy.acceptance import RISK_ACCEPTED, acceptances_from_tags, apply_acceptances
from atlas_mlplugin.policy.model import (
    SEVERITY_ORDER,
    Acceptance,
    CheckReport,
    Evidence,
    Finding,
    IgnoredAcceptance,
    Obligations,
    ReleaseContext,
    UpstreamTag,
    Verdict,
)
from atlas_mlplugin.policy.rules import (
    CONTEXT_REF,
    PLACEHOLDER_RE,
    PURPOSE_ATTRIBUTES,
    Condition,
    Policy,
    Rule,
    SourceTag,
    When,
    resolve_policy,
)
from atlas_mlplugin.purposes import vocabulary

ATTRIBUTION_TAG = "AttributionRequired"
LICENSE_TEXT_TAG = "LicenseTextRequired"
# Atlas `date` attributes arrive as epoch milliseconds; messages show them as dates.
DATE_ATTRIBUTES = frozenset({"withdrawnTime", "retractionDate"})
NOT_RECORDED = "not recorded"
_UNSET = object()  # a $context value the release context leaves empty


def evaluate(evidence: Evidence, context: ReleaseContext, policy: Policy, *,
             now: datetime | None = None, acceptances: Iterable[Acceptance] = (),
             ignored_acceptances: Iterable[IgnoredAcceptance] = ()) -> CheckReport:
    """May this model be released in this context? One finding per (tag, matching rule). Findings covered
    by a valid acceptance (the model's RiskAccepted tag, or `acceptances` from elsewhere, e.g. a catalog
    file, or the release entity's tag) are reported as ACCEPTED and leave the verdict; acceptances not applied
    are listed with why (`ignored_acceptances`: ones the caller already found unusable)."""
    now = now or datetime.now(timezone.utc)
    policy = resolve_policy(policy)
    rules = policy.rules
    from_tags, ignored = acceptances_from_tags(evidence.tags, evidence.model_guid)
    tags = distinct_tags([t for t in evidence.tags if t.type_name != RISK_ACCEPTED])
    # Rules with source_has / source_lacks look at the other tags of the same dataset: grouped once, so a
    # model built on a thousand datasets is not a thousand scans of every tag.
    by_source: dict[str, list[UpstreamTag]] = {}
    for tag in tags:
        by_source.setdefault(tag.source_guid, []).append(tag)
    findings = [_finding(rule, tag, context, evidence) for tag in tags for rule in rules
                if rule.via == "training" and rule_matches(rule, tag, context, by_source[tag.source_guid])]
    # The evaluation data's tags never reach the model; only rules about evaluation data weigh them.
    evaluation = distinct_tags(evidence.evaluation_tags)
    by_benchmark: dict[str, list[UpstreamTag]] = {}
    for tag in evaluation:
        by_benchmark.setdefault(tag.source_guid, []).append(tag)
    findings += [_finding(rule, tag, context, evidence) for tag in evaluation for rule in rules
                 if rule.via == "evaluation" and rule_matches(rule, tag, context, by_benchmark[tag.source_guid])]
    findings.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], f.rule_id, f.source_qualified_name or "",
                                 f.source_guid or "", f.tag, f.path))
    findings, not_applied = apply_acceptances(findings, [*from_tags, *acceptances], policy,
                                              today=now.astimezone(timezone.utc).date())
    return CheckReport(verdict=verdict_of(findings), model=evidence.model_qualified_name,
                       model_guid=evidence.model_guid, context=context, findings=findings,
                       obligations=obligations_of(tags),
                       ignored_acceptances=[*ignored, *ignored_acceptances, *not_applied],
                       policy=policy.name, checked_at=now, rest_calls=evidence.rest_calls)


def distinct_tags(tags: list[UpstreamTag]) -> list[UpstreamTag]:
    """One tag per (type, source entity): Atlas can list a propagated tag twice (e.g. reached over two
    lineage paths). The shortest path is kept, so the explanation is the simplest and always the same."""
    kept: dict[tuple[str, str], UpstreamTag] = {}
    for tag in sorted(tags, key=lambda t: (t.type_name, t.source_guid, len(t.path), t.path)):
        kept.setdefault((tag.type_name, tag.source_guid), tag)
    return list(kept.values())


def verdict_of(findings: list[Finding]) -> Verdict:
    """The worst severity among findings nobody accepted."""
    worst = max((SEVERITY_ORDER[f.severity] for f in findings if f.accepted is None), default=0)
    return "BLOCK" if worst == SEVERITY_ORDER["BLOCK"] else "WARN" if worst == SEVERITY_ORDER["WARN"] else "PASS"


def rule_matches(rule: Rule, tag: UpstreamTag, context: ReleaseContext, others: Sequence[UpstreamTag] = ()) -> bool:
    """Does `rule` fire on `tag`? `others`: the model's other tags, where `source_has` / `source_lacks` look
    for the tags of the same source dataset (a mitigating fact such as consent is a tag of its own)."""
    if not (tag.type_name in rule.tag
            and (rule.when is None or any(_context_matches(w, context) for w in rule.when))
            and _attributes_match(rule.attributes, tag, context)):
        return False
    if rule.source_has is None and rule.source_lacks is None:
        return True
    # Same source entity: the consent recorded on the dataset that holds the personal data, not on another.
    siblings = [o for o in others if o.source_guid == tag.source_guid and o is not tag]
    return ((rule.source_has is None or any(_source_tag_matches(t, o, context)
                                            for t in rule.source_has for o in siblings))
            and (rule.source_lacks is None or not any(_source_tag_matches(t, o, context)
                                                      for t in rule.source_lacks for o in siblings)))


def _source_tag_matches(test: SourceTag, other: UpstreamTag, context: ReleaseContext) -> bool:
    return other.type_name in test.tag and _attributes_match(test.attributes, other, context)


def _attributes_match(attributes: list[dict[str, Condition]] | None, tag: UpstreamTag,
                      context: ReleaseContext) -> bool:
    return attributes is None or any(
        all(condition_holds(c, tag.attributes.get(name), context, purposes=name in PURPOSE_ATTRIBUTES)
            for name, c in alternative.items())
        for alternative in attributes)


def _context_matches(when: When, context: ReleaseContext) -> bool:
    return ((when.audience is None or context.audience in when.audience)
            and (when.commercial is None or context.commercial == when.commercial)
            and (when.ships is None or bool(context.ships & set(when.ships)))
            and (when.purpose is None or (context.purpose is not None
                                          and vocabulary().any_covers(when.purpose, context.purpose))))


def condition_holds(condition: Condition, value: Any, context: ReleaseContext, *, purposes: bool = False) -> bool:
    """Every operator given holds for the attribute value (None: the tag lacks the attribute). `purposes`:
    the attribute holds purposes, so values compare as canonical terms (Atlas may hold ones stored before
    purposes were checked)."""
    if purposes and isinstance(value, (list, tuple)):
        value = [_canonical(v, purposes) for v in value]
    elif purposes:
        value = _canonical(value, purposes)
    for name in condition.model_fields_set:
        if name in ("covers", "not_covers", "overlaps"):
            given = getattr(condition, name)
            wanted = [_resolve(w, context) for w in (given if isinstance(given, list) else [given])]
            if _UNSET in wanted:
                return False  # no release purpose given: a purpose rule cannot apply
            held = [str(v) for v in _as_list(value)]
            if name == "covers" and not all(vocabulary().any_covers(held, w) for w in wanted):
                return False
            if name == "not_covers" and any(vocabulary().any_covers(held, w) for w in wanted):
                return False
            if name == "overlaps" and not any(vocabulary().overlaps(h, w) for h in held for w in wanted):
                return False
            continue
        if name == "exists" and (value is not None) != condition.exists:
            return False
        if name == "missing" and (value is None) != condition.missing:
            return False
        if name == "in_":
            allowed = [_canonical(_resolve(v, context), purposes) for v in condition.in_ or []]
            if value not in [a for a in allowed if a is not _UNSET]:
                return False
        if name in ("equals", "contains", "not_contains"):
            expected = _canonical(_resolve(getattr(condition, name), context), purposes)
            if expected is _UNSET:
                return False  # e.g. no release purpose given: a purpose rule cannot apply
            if name == "equals" and value != expected:
                return False
            if name == "contains" and expected not in _as_list(value):
                return False
            if name == "not_contains" and expected in _as_list(value):
                return False
    return True


def _resolve(value: Any, context: ReleaseContext) -> Any:
    if isinstance(value, str) and value.startswith(CONTEXT_REF):
        found = getattr(context, value.removeprefix(CONTEXT_REF))
        return _UNSET if found is None else found
    return value


def _canonical(value: Any, purposes: bool) -> Any:
    return vocabulary().lenient(value) if purposes and isinstance(value, str) else value


def _as_list(value: Any) -> list[Any]:
    # A missing attribute contains nothing; a single value is a list of one.
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


def _source(tag: UpstreamTag) -> str:
    return tag.source_qualified_name or str(tag.attributes.get("sourceDataset") or "") or tag.source_name \
        or tag.source_guid


def _finding(rule: Rule, tag: UpstreamTag, context: ReleaseContext, evidence: Evidence) -> Finding:
    values = {"source": _source(tag), "license": tag.attributes.get("licenseId"), "tag": tag.type_name,
              "audience": context.audience, "purpose": context.purpose,
              "model": evidence.model_name or evidence.model_qualified_name}
    return Finding(rule_id=rule.id, severity=rule.severity, tag=tag.type_name,
                   message=render_template(rule.message, values, tag.attributes),
                   remedy=render_template(rule.remedy, values, tag.attributes) if rule.remedy else None,
                   source_qualified_name=tag.source_qualified_name or tag.attributes.get("sourceDataset"),
                   source_guid=tag.source_guid, source_deleted=tag.source_status == "DELETED",
                   path=tag.path, attributes=dict(tag.attributes))


def render_template(template: str, values: dict[str, Any], attributes: dict[str, Any]) -> str:
    """Fills {name} and {attr.<name>}. Not str.format: a policy file must not reach Python attributes."""
    def fill(match: Any) -> str:
        name = match.group(1)
        if name.startswith("attr."):
            return _show(attributes.get(name[5:]), date=name[5:] in DATE_ATTRIBUTES)
        return _show(values[name]) if name in values else match.group(0)
    return PLACEHOLDER_RE.sub(fill, template)


def _show(value: Any, *, date: bool = False) -> str:
    if value is None or value == "":
        return NOT_RECORDED
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(sorted(str(v) for v in value)) if value else "none"
    if date and isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc).date().isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def obligations_of(tags: list[UpstreamTag]) -> Obligations:
    """Credits for the NOTICE (one per source dataset) and the license texts that must ship."""
    credits: dict[str, dict[str, Any]] = {}
    for tag in tags:
        if tag.type_name == ATTRIBUTION_TAG:
            source, attrs = _source(tag), tag.attributes
            license_id = attrs.get("licenseId")
            credits.setdefault(source, {
                "source": source, "title": attrs.get("title") or tag.source_name or source,
                "creator": attrs.get("creator"), "license": license_id,
                "license_url": license_url(license_id) if license_id else None,
                "url": attrs.get("url"), "attributionText": attrs.get("attributionText")})
    texts = {str(t.attributes["licenseId"]) for t in tags
             if t.type_name == LICENSE_TEXT_TAG and t.attributes.get("licenseId")}
    return Obligations(attributions=sorted(credits.values(), key=lambda c: (str(c["title"]).casefold(), c["source"])),
                       license_texts=sorted(texts))


@lru_cache(maxsize=1)
def _licenses() -> LicenseCatalog:
    return LicenseCatalog.from_csv()


def license_url(license_id: str) -> str | None:
    """The license's page in the built-in catalog; None for licenses it does not know (e.g. LicenseRef-)."""
    try:
        return _licenses().get(license_id).url
    except UnknownLicenseError:
        return None
