"""Accepted risk: an officer's RiskAccepted classification (or a catalog entry) turns matching findings
into ACCEPTED. Pure: no Atlas, no clock (the caller gives today's date).

Atlas allows one classification of a type per entity, so one RiskAccepted holds one decision: a list of
rule ids, optionally a list of source datasets (none: any dataset), one approver, reason or ticket, and
expiry date. An acceptance that cannot apply is never dropped silently: it comes back as an
IgnoredAcceptance saying why (expired, a never-acceptable rule, a rule the policy lacks, no finding
matched, or an incomplete record), since an officer wants to know an acceptance lapsed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

from pydantic import ValidationError

from atlas_mlplugin.errors import AtlasMlError
from atlas_mlplugin.mapping import names
from atlas_mlplugin.model.tags import UpstreamTag
from atlas_mlplugin.policy.model import Acceptance, AcceptedBy, CheckReport, Finding, IgnoredAcceptance
from atlas_mlplugin.policy.rules import Policy

RISK_ACCEPTED = names.RISK_ACCEPTED
# Only findings that count against the verdict need accepting; INFO never does.
ACCEPTABLE_SEVERITIES = frozenset({"WARN", "BLOCK"})


def date_of_epoch_ms(value: Any) -> date | None:
    """An Atlas `date` attribute (epoch milliseconds) as a UTC date; None when unset (Atlas may store 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc).date()


def epoch_ms_of(day: date) -> int:
    """Midnight UTC of `day` in epoch milliseconds, as Atlas stores a `date` attribute."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def classification_of(acceptance: Acceptance, *, now: datetime) -> dict[str, Any]:
    """The RiskAccepted classification for Atlas; `propagate: false` because an acceptance is about this
    model only (Atlas's default would copy it onto every model built from this one)."""
    # Every attribute, unset ones as null: Atlas's update keeps attributes it is not sent, so a replaced
    # acceptance would otherwise keep the old decision's reason or ticket.
    # The UI's text forms (rules, datasets) are cleared: the lists now hold the whole decision.
    attributes: dict[str, Any] = {"ruleIds": list(acceptance.rules), "sourceDatasets": list(acceptance.datasets),
                                  "rules": None, "datasets": None,
                                  "approver": acceptance.approver, "reason": acceptance.reason,
                                  "ticket": acceptance.ticket, "expiryDate": epoch_ms_of(acceptance.until),
                                  "acceptedTime": int(now.timestamp() * 1000)}
    return {"typeName": RISK_ACCEPTED, "attributes": attributes, "propagate": False}


def listed(attributes: dict[str, Any], list_attribute: str, text_attribute: str) -> tuple[str, ...]:
    """The values of a list attribute (as `atlas-ml accept` writes it) and of its text twin (as an officer
    types it in the Atlas UI, whose classification dialog cannot fill lists), in order, without repeats.
    Text is split on commas and white space, which rule ids never contain; a dataset name with a space can
    only be given through the list (`atlas-ml accept --dataset`)."""
    values = [str(v).strip() for v in attributes.get(list_attribute) or ()]
    values += re.split(r"[,\s]+", str(attributes.get(text_attribute) or ""))
    return tuple(dict.fromkeys(v for v in values if v))


def acceptance_of_attributes(attributes: dict[str, Any], recorded_on: str | None) -> Acceptance:
    """A RiskAccepted classification's attributes as an Acceptance; pydantic's ValidationError when the
    record lacks what an acceptance needs (rule ids, approver, expiry date)."""
    return Acceptance(rules=listed(attributes, "ruleIds", "rules"),
                      datasets=listed(attributes, "sourceDatasets", "datasets"),
                      approver=str(attributes.get("approver") or "").strip(),
                      reason=attributes.get("reason") or None, ticket=attributes.get("ticket") or None,
                      until=date_of_epoch_ms(attributes.get("expiryDate")),  # type: ignore[arg-type]
                      recorded_on=recorded_on)


def acceptances_from_tags(tags: Iterable[UpstreamTag], model_guid: str
                          ) -> tuple[list[Acceptance], list[IgnoredAcceptance]]:
    """The model's own RiskAccepted tags as acceptances. One propagated from another model (an officer
    left `propagate` ticked in the UI) is ignored: an acceptance is about the model it was recorded on."""
    accepted: list[Acceptance] = []
    ignored: list[IgnoredAcceptance] = []
    for tag in tags:
        if tag.type_name != RISK_ACCEPTED:
            continue
        where = tag.source_qualified_name or tag.source_guid
        if tag.source_guid != model_guid:
            ignored.append(IgnoredAcceptance(
                approver=tag.attributes.get("approver"), until=date_of_epoch_ms(tag.attributes.get("expiryDate")),
                recorded_on=where, reason=f"recorded on {where}, not on this model; an acceptance applies only to "
                                          "the model it is attached to (attach it without propagation)"))
            continue
        try:
            accepted.append(acceptance_of_attributes(tag.attributes, where))
        except ValidationError as exc:
            missing = sorted({str(e["loc"][0]) for e in exc.errors()})
            ignored.append(IgnoredAcceptance(
                approver=tag.attributes.get("approver") or None, recorded_on=where,
                reason=f"incomplete RiskAccepted record ({', '.join(_attribute_name(m) for m in missing)} "
                       "missing or empty); fill in rule ids, approver and expiry date"))
    return accepted, ignored


def acceptances_on_entity(classifications: Iterable[dict[str, Any]], guid: str, qualified_name: str
                          ) -> tuple[list[Acceptance], list[IgnoredAcceptance]]:
    """The RiskAccepted an officer attached to this entity itself (e.g. an ml_release), as Atlas lists its
    classifications; copies propagated from elsewhere are left out (a release passes on nothing)."""
    tags = [UpstreamTag(type_name=RISK_ACCEPTED, attributes=c.get("attributes") or {}, direct=True,
                        source_guid=guid, source_qualified_name=qualified_name)
            for c in classifications
            if c.get("typeName") == RISK_ACCEPTED and c.get("entityGuid", guid) == guid]
    return acceptances_from_tags(tags, guid)


def _attribute_name(field: str) -> str:
    return {"rules": "ruleIds (or rules)", "until": "expiryDate", "datasets": "sourceDatasets"}.get(field, field)


def apply_acceptances(findings: list[Finding], acceptances: Iterable[Acceptance], policy: Policy, *,
                      today: date) -> tuple[list[Finding], list[IgnoredAcceptance]]:
    """Findings with `accepted` set where a valid acceptance covers them, and the acceptances (or rules of
    them) not applied, with the reason. An acceptance holds through its `until` day (UTC)."""
    rule_ids = {rule.id for rule in policy.rules}
    never = policy.unacceptable
    ignored: list[IgnoredAcceptance] = []
    valid: list[Acceptance] = []
    for acc in acceptances:
        def note(reason: str, rule_id: str | None = None, acc: Acceptance = acc) -> None:
            ignored.append(IgnoredAcceptance(rule_id=rule_id, approver=acc.approver, until=acc.until,
                                             recorded_on=acc.recorded_on, reason=reason))
        if acc.until < today:
            note(f"expired on {acc.until.isoformat()}; the findings count again until it is renewed")
            continue
        usable = []
        for rule_id in acc.rules:
            if rule_id in never:
                note(f"rule {rule_id} may never be accepted (never_acceptable in policy {policy.name}): "
                     "retrain without the data instead", rule_id)
            elif rule_id not in rule_ids:
                note(f"policy {policy.name} has no rule {rule_id}", rule_id)
            else:
                usable.append(rule_id)
        if usable:
            valid.append(acc.model_copy(update={"rules": tuple(usable)}))
    used: set[tuple[int, str]] = set()
    result: list[Finding] = []
    for finding in findings:
        match = None
        if finding.severity in ACCEPTABLE_SEVERITIES:
            match = next(((i, acc) for i, acc in enumerate(valid)
                          if acc.covers(finding.rule_id, finding.source_qualified_name)), None)
        if match is None:
            result.append(finding)
            continue
        i, acc = match
        used.add((i, finding.rule_id))
        result.append(finding.model_copy(update={"accepted": AcceptedBy(
            approver=acc.approver, reason=acc.reason, ticket=acc.ticket, until=acc.until,
            recorded_on=acc.recorded_on)}))
    for i, acc in enumerate(valid):
        for rule_id in acc.rules:
            if (i, rule_id) not in used:
                scope = f" from {', '.join(acc.datasets)}" if acc.datasets else ""
                ignored.append(IgnoredAcceptance(
                    rule_id=rule_id, approver=acc.approver, until=acc.until, recorded_on=acc.recorded_on,
                    reason=f"no {rule_id} finding{scope} to accept in this release context"))
    return result, ignored


class AcceptanceRefused(AtlasMlError, ValueError):
    """`atlas-ml accept` (or a catalog entry) asked for an acceptance the policy does not allow."""


def refusals(acceptance: Acceptance, policy: Policy, *, today: date) -> list[str]:
    """Why this acceptance must not be recorded, one sentence per problem (empty: it may be). Checked where an
    acceptance is entered, so a typo or a never-acceptable rule is refused then, not ignored at check time."""
    problems: list[str] = []
    rules = {rule.id: rule for rule in policy.rules}
    for rule_id in acceptance.rules:
        if rule_id in policy.unacceptable:
            problems.append(f"rule {rule_id} may never be accepted (never_acceptable in policy {policy.name}): "
                            "retracted data and withdrawn consent are decisions of others about the data; "
                            "retrain without it instead")
        elif rule_id not in rules:
            close = difflib.get_close_matches(rule_id, sorted(rules), n=1, cutoff=0.6)
            problems.append(f"policy {policy.name} has no rule {rule_id!r}" + (
                f"; did you mean {close[0]!r}?" if close else "; see the rule ids in `atlas-ml check` output"))
        elif rules[rule_id].severity not in ACCEPTABLE_SEVERITIES:
            problems.append(f"rule {rule_id} only informs (severity {rules[rule_id].severity}); there is nothing "
                            "to accept")
    if acceptance.until < today:
        problems.append(f"expiry date {acceptance.until.isoformat()} is in the past; give a date from "
                        f"{today.isoformat()} on")
    if not (acceptance.reason or acceptance.ticket):
        problems.append("say why the risk is acceptable: give a reason or a ticket")
    return problems


def recheck_after(report: CheckReport) -> date | None:
    """The last day of the earliest acceptance the verdict relies on: from the day after, the same facts give
    another verdict, so a re-check is due (what `watch` schedules). None: no finding is accepted."""
    return min((f.accepted.until for f in report.findings if f.accepted is not None), default=None)
