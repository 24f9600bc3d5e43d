"""Accepted risk in the release check: an officer's RiskAccepted tag (or a catalog entry) turns the findings
it covers into ACCEPTED, and an acceptance that cannot apply is reported with the reason, never dropped."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import pytest

from atlas_mlplugin.policy.acceptance import acceptances_on_entity, epoch_ms_of, recheck_after, refusals
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.model import Acceptance, CheckReport, Evidence, ReleaseContext, UpstreamTag
from atlas_mlplugin.policy.render import render_json, render_markdown, render_text
from atlas_mlplugin.policy.rules import PolicyError, load_policy, parse_policy
from atlas_mlplugin.policy.writeback import summary

MODEL = "file:///models/scene-intent/1.0"
STREET = "file:///data/street"
FACES = "file:///data/faces"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
PUBLIC = ReleaseContext(audience="public", commercial=True)
RULE = "personal-data-public-weights"


def tag(type_name: str, source: str = STREET, **attributes: Any) -> UpstreamTag:
    return UpstreamTag(type_name=type_name, attributes={"sourceDataset": source, **attributes},
                       source_guid=f"guid:{source}", source_qualified_name=source, source_status="ACTIVE",
                       path=(source, "train", MODEL))


def accepted_tag(*, on: str = "guid:model", **attributes: Any) -> UpstreamTag:
    """A RiskAccepted as an officer attaches it in the UI: on the model itself, dates in epoch ms."""
    attrs = {"ruleIds": ["personal-data-public-weights"], "approver": "dpo@example.org",
             "reason": "privacy review PR-7 passed", "expiryDate": epoch_ms_of(date(2024, 6, 30)), **attributes}
    return UpstreamTag(type_name="RiskAccepted", attributes=attrs, direct=on == "guid:model", source_guid=on,
                       source_qualified_name=MODEL if on == "guid:model" else "file:///models/base",
                       path=(MODEL,))


def check(*tags: UpstreamTag, policy: Any = None, acceptances: tuple[Acceptance, ...] = ()) -> CheckReport:
    evidence = Evidence(model_guid="guid:model", model_qualified_name=MODEL, model_name="scene-intent",
                        tags=list(tags))
    return evaluate(evidence, PUBLIC, policy or load_policy(), now=NOW, acceptances=acceptances)


PERSONAL = tag("PersonalData", categories=["faces"])


def outcomes(report: CheckReport) -> list[tuple[str, str, str | None]]:
    return [(f.rule_id, f.outcome, f.source_qualified_name) for f in report.findings]


def test_a_valid_acceptance_turns_the_block_into_accepted_and_the_verdict_passes() -> None:
    assert check(PERSONAL).verdict == "BLOCK"
    report = check(PERSONAL, accepted_tag())
    assert report.verdict == "PASS"
    assert outcomes(report) == [("personal-data-public-weights", "ACCEPTED", STREET)]
    by = report.findings[0].accepted
    assert by is not None and (by.approver, by.reason, by.until) == (
        "dpo@example.org", "privacy review PR-7 passed", date(2024, 6, 30))
    assert report.findings[0].severity == "BLOCK"  # what it would be without the acceptance stays visible
    assert report.ignored_acceptances == []


def test_the_acceptance_holds_through_its_last_day_and_lapses_the_day_after() -> None:
    on_the_day = check(PERSONAL, accepted_tag(expiryDate=epoch_ms_of(date(2024, 5, 1))))
    assert on_the_day.verdict == "PASS"
    lapsed = check(PERSONAL, accepted_tag(expiryDate=epoch_ms_of(date(2024, 4, 30))))
    assert lapsed.verdict == "BLOCK"
    assert outcomes(lapsed) == [("personal-data-public-weights", "BLOCK", STREET)]
    assert [i.reason for i in lapsed.ignored_acceptances] == [
        "expired on 2024-04-30; the findings count again until it is renewed"]


def test_only_the_listed_rules_are_accepted() -> None:
    report = check(PERSONAL, tag("NonCommercial", licenseId="CC-BY-NC-4.0"), accepted_tag())
    assert report.verdict == "BLOCK"
    assert sorted(outcomes(report)) == [("non-commercial-in-commercial-release", "BLOCK", STREET),
                                        ("personal-data-public-weights", "ACCEPTED", STREET)]


def test_a_dataset_scoped_acceptance_leaves_other_datasets_blocked() -> None:
    report = check(PERSONAL, tag("PersonalData", FACES, categories=["faces"]),
                   accepted_tag(sourceDatasets=[STREET]))
    assert report.verdict == "BLOCK"
    assert sorted(outcomes(report)) == [("personal-data-public-weights", "ACCEPTED", STREET),
                                        ("personal-data-public-weights", "BLOCK", FACES)]


def test_an_acceptance_that_matches_no_finding_is_reported() -> None:
    report = check(PERSONAL, accepted_tag(sourceDatasets=[FACES]))
    assert report.verdict == "BLOCK"
    assert [(i.rule_id, i.reason) for i in report.ignored_acceptances] == [
        ("personal-data-public-weights",
         f"no personal-data-public-weights finding from {FACES} to accept in this release context")]


@pytest.mark.parametrize(("tag_", "rule_id"), [
    (tag("Retracted", reason="labels were wrong"), "retracted-data"),
    (tag("ConsentWithdrawn", consentRecord="consent/7"), "consent-withdrawn"),
])
def test_retracted_data_and_withdrawn_consent_can_never_be_accepted(tag_: UpstreamTag, rule_id: str) -> None:
    report = check(tag_, accepted_tag(ruleIds=[rule_id]))
    assert report.verdict == "BLOCK"
    assert outcomes(report) == [(rule_id, "BLOCK", STREET)]
    [ignored] = report.ignored_acceptances
    assert ignored.rule_id == rule_id and "may never be accepted" in ignored.reason


def test_a_policy_file_decides_which_rules_are_never_acceptable() -> None:
    strict = parse_policy("version: 1\nextends: default\nnever_acceptable: [personal-data-public-weights]\n",
                          file="strict.yaml")
    assert strict.unacceptable == {"personal-data-public-weights"}
    assert check(PERSONAL, accepted_tag(), policy=strict).verdict == "BLOCK"
    inherited = parse_policy("version: 1\nextends: default\n", file="p.yaml")
    assert inherited.unacceptable == {"retracted-data", "consent-withdrawn"}


def test_a_misspelt_never_acceptable_rule_is_an_error_with_its_line() -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy("version: 1\nextends: default\nnever_acceptable:\n  - retracted-dta\n", file="p.yaml")
    assert "p.yaml:4" in str(raised.value) and "did you mean 'retracted-data'" in str(raised.value)


def test_an_incomplete_record_from_the_ui_is_reported_not_applied() -> None:
    report = check(PERSONAL, accepted_tag(approver="", expiryDate=0))
    assert report.verdict == "BLOCK"
    [ignored] = report.ignored_acceptances
    assert "approver" in ignored.reason and "expiryDate" in ignored.reason


def test_an_acceptance_propagated_from_another_model_does_not_apply() -> None:
    report = check(PERSONAL, accepted_tag(on="guid:base-model"))
    assert report.verdict == "BLOCK"
    assert "not on this model" in report.ignored_acceptances[0].reason


def test_a_rule_the_policy_lacks_is_reported() -> None:
    report = check(PERSONAL, accepted_tag(ruleIds=["personal-data-public-weight"]))
    assert report.verdict == "BLOCK"
    assert report.ignored_acceptances[0].reason == "policy default has no rule personal-data-public-weight"


def test_acceptances_from_a_catalog_count_like_tags() -> None:
    acc = Acceptance(rules=("personal-data-public-weights",), approver="dpo", ticket="GOV-12",
                     until=date(2024, 5, 2), recorded_on="catalog.yaml")
    assert check(PERSONAL, acceptances=(acc,)).verdict == "PASS"


def test_info_findings_are_not_turned_into_accepted() -> None:
    report = check(tag("AttributionRequired", licenseId="CC-BY-4.0"), accepted_tag(ruleIds=["attribution-required"]))
    assert outcomes(report) == [("attribution-required", "INFO", STREET)]


def test_every_output_shows_who_accepted_why_and_until_when_and_what_lapsed() -> None:
    report = check(PERSONAL, tag("NonCommercial", FACES, licenseId="CC-BY-NC-4.0"),
                   accepted_tag(ticket="GOV-12"), accepted_tag(ruleIds=["share-alike"]))
    text = render_text(report)
    assert text.startswith("Release check: BLOCK (1 finding accepted)\n")
    assert "ACCEPTED  personal-data-public-weights" in text
    assert "accepted (BLOCK otherwise) by dpo@example.org until 2024-06-30: privacy review PR-7 passed; ticket GOV-12" \
        in text
    assert "Acceptances not applied:" in text and "no share-alike finding" in text
    markdown = render_markdown(report)
    assert "**ACCEPTED**" in markdown and "## Acceptances not applied" in markdown
    data = json.loads(render_json(report))
    accepted = [f for f in data["findings"] if f["outcome"] == "ACCEPTED"]
    assert accepted[0]["accepted"] == {"approver": "dpo@example.org", "reason": "privacy review PR-7 passed",
                                       "ticket": "GOV-12", "until": "2024-06-30", "recorded_on": MODEL}
    assert data["ignored_acceptances"][0]["rule_id"] == "share-alike"
    assert summary(report).endswith("(1 BLOCK, 1 ACCEPTED); blocked by: non-commercial-in-commercial-release")


def acceptance(*rules: str, until: date = date(2024, 6, 30), **fields: Any) -> Acceptance:
    return Acceptance(rules=rules, approver="dpo", until=until, **{"ticket": "GOV-12", **fields})


def test_accept_refuses_never_acceptable_rules_with_the_reason() -> None:
    [problem] = refusals(acceptance("consent-withdrawn"), load_policy(), today=NOW.date())
    assert problem.startswith("rule consent-withdrawn may never be accepted (never_acceptable in policy default)")


def test_accept_refuses_a_misspelt_rule_with_a_suggestion_and_a_rule_that_only_informs() -> None:
    problems = refusals(acceptance("personal-data-public-weight", "attribution-required"), load_policy(),
                        today=NOW.date())
    assert problems == ["policy default has no rule 'personal-data-public-weight'; did you mean "
                        "'personal-data-public-weights'?",
                        "rule attribution-required only informs (severity INFO); there is nothing to accept"]


def test_accept_refuses_a_past_date_but_takes_today_and_needs_a_reason_or_ticket() -> None:
    assert refusals(acceptance(RULE, until=NOW.date()), load_policy(), today=NOW.date()) == []
    assert refusals(acceptance(RULE, until=date(2024, 4, 30)), load_policy(), today=NOW.date()) == [
        "expiry date 2024-04-30 is in the past; give a date from 2024-05-01 on"]
    assert refusals(acceptance(RULE, ticket=None), load_policy(), today=NOW.date()) == [
        "say why the risk is acceptable: give a reason or a ticket"]


def test_an_acceptance_on_the_release_entity_is_read_but_not_a_copy_propagated_to_it() -> None:
    attrs = {"ruleIds": [RULE], "approver": "dpo", "reason": "r", "expiryDate": epoch_ms_of(date(2024, 6, 1))}
    own, ignored = acceptances_on_entity([{"typeName": "RiskAccepted", "attributes": attrs, "entityGuid": "rel"},
                                          {"typeName": "RiskAccepted", "attributes": attrs, "entityGuid": "other"},
                                          {"typeName": "ReleaseVerdict", "attributes": {}}], "rel", "m#release/x")
    assert [(a.rules, a.recorded_on) for a in own] == [((RULE,), "m#release/x")] and ignored == []
    assert check(PERSONAL, acceptances=tuple(own)).verdict == "PASS"


def test_the_report_says_when_the_verdict_must_be_checked_again() -> None:
    report = check(PERSONAL, tag("ShareAlike", FACES, licenseId="CC-BY-SA-4.0"),
                   accepted_tag(ruleIds=[RULE, "share-alike"], expiryDate=epoch_ms_of(date(2024, 5, 20))))
    assert recheck_after(report) == date(2024, 5, 20)
    assert recheck_after(check(PERSONAL)) is None


def test_an_acceptance_typed_in_the_atlas_ui_with_text_rules_covers_its_findings():
    # Atlas 2.1's classification dialog cannot fill list attributes: an officer types the rule ids (and
    # datasets) into the text twins. Read alone, ruleIds is empty and the acceptance was ignored as incomplete.
    report = check(PERSONAL, accepted_tag(ruleIds=None, rules=f" {RULE}, share-alike ", datasets=STREET))
    [finding] = [f for f in report.findings if f.rule_id == RULE]
    assert finding.outcome == "ACCEPTED"
    assert [i.rule_id for i in report.ignored_acceptances] == ["share-alike"]  # no such finding, nothing else

    elsewhere = check(PERSONAL, accepted_tag(ruleIds=None, rules=RULE, datasets=f"{FACES} other"))
    assert [f.outcome for f in elsewhere.findings if f.rule_id == RULE] == ["BLOCK"]


def test_the_summary_officers_read_says_an_internal_release():
    internal = check(tag("AttributionRequired", licenseId="CC-BY-4.0")).model_copy(
        update={"context": ReleaseContext(audience="internal", commercial=False)})
    assert summary(internal).split(" (")[0] == f"{internal.verdict} for an internal non-commercial release"
