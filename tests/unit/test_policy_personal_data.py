"""The default policy's personal-data rules, case by case: what a release gets for personal data nobody
consented to, for data collected under consent that covers model training and the release's purpose (a
privacy review to record as accepted risk), for consent that falls short or was withdrawn, for special
categories, and for data that reached the model only through an attested anonymization (docs/policy.md,
"Personal data"). Evidence is built by hand; the same cases run on the real Atlas in
tests/integration/test_personal_data_policy.py."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.model import Acceptance, CheckReport, Evidence, ReleaseContext, UpstreamTag
from atlas_mlplugin.policy.rules import PolicyError, load_policy, parse_policy

MODEL = "file:///models/support-intent/1"
CHATS = "file:///data/chats"
OTHER = "file:///data/other"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def tag(type_name: str, source: str = CHATS, **attributes: Any) -> UpstreamTag:
    return UpstreamTag(type_name=type_name, attributes={"sourceDataset": source, **attributes},
                       source_guid=f"guid:{source}", source_qualified_name=source, source_status="ACTIVE",
                       path=(source, "train support-intent", MODEL))


def personal(source: str = CHATS) -> UpstreamTag:
    return tag("PersonalData", source, categories=["email", "name"])


def special(source: str = CHATS) -> UpstreamTag:
    return tag("SpecialCategoryData", source, categories=["health"])


def consent(*purposes: str, excluded: tuple[str, ...] = (), source: str = CHATS) -> UpstreamTag:
    return tag("ConsentScope", source, purposes=list(purposes), excludedPurposes=list(excluded),
               consentRecord="consent:chats/v3")


WITHDRAWN = tag("ConsentWithdrawn", consentRecord="consent:chats/v3", withdrawnTime=1735689600000)
PUBLIC = {"audience": "public"}
PARTNER = {"audience": "partner"}
INTERNAL = {"audience": "internal"}
TRAINING_AND_CARE = ("model-training", "customer-care")


def check(*tags: UpstreamTag, acceptances: tuple[Acceptance, ...] = (), **context: Any) -> CheckReport:
    evidence = Evidence(model_guid="guid:model", model_qualified_name=MODEL, model_name="support-intent",
                        tags=list(tags))
    return evaluate(evidence, ReleaseContext(**context), load_policy(), now=NOW, acceptances=acceptances)


def fired(report: CheckReport) -> set[tuple[str, str]]:
    return {(f.rule_id, f.outcome) for f in report.findings}


# case -> (tags on the model, release context, findings expected (rule, outcome), verdict)
CASES: dict[str, tuple[tuple[UpstreamTag, ...], dict[str, Any], set[tuple[str, str]], str]] = {
    # --- nobody consented -------------------------------------------------------------------------------
    "no consent, public weights: blocked": (
        (personal(),), PUBLIC, {("personal-data-public-weights", "BLOCK")}, "BLOCK"),
    "no consent, partner weights: a data processing agreement and a review": (
        (personal(),), PARTNER, {("personal-data-partner-weights", "WARN")}, "WARN"),
    "no consent, internal: within the organisation": (
        (personal(),), INTERNAL, set(), "PASS"),
    "no consent, public outputs only: no weights to memorise": (
        (personal(),), {"audience": "public", "ships": ["outputs"]}, set(), "PASS"),
    "consent recorded on another dataset does not cover this one": (
        (personal(), consent(*TRAINING_AND_CARE, source=OTHER)), {**PUBLIC, "purpose": "customer-care"},
        {("personal-data-public-weights", "BLOCK")}, "BLOCK"),
    # --- consent that covers training and the release purpose ------------------------------------------
    "consent covers training and purpose, public weights: privacy review": (
        (personal(), consent(*TRAINING_AND_CARE)), {**PUBLIC, "purpose": "customer-care"},
        {("personal-data-privacy-review", "WARN")}, "WARN"),
    "consent covers training and purpose, partner weights: privacy review": (
        (personal(), consent(*TRAINING_AND_CARE)), {**PARTNER, "purpose": "customer-care"},
        {("personal-data-privacy-review", "WARN")}, "WARN"),
    "consent covers training and purpose, internal": (
        (personal(), consent(*TRAINING_AND_CARE)), {**INTERNAL, "purpose": "customer-care"}, set(), "PASS"),
    "consent to a broader purpose covers a narrower release purpose": (
        (personal(), consent("model-training", "research-and-development")),
        {**PUBLIC, "purpose": "academic-research"}, {("personal-data-privacy-review", "WARN")}, "WARN"),
    # --- consent that falls short ------------------------------------------------------------------------
    "consent covers training, release purpose not given, public: cannot be shown to cover it": (
        (personal(), consent(*TRAINING_AND_CARE)), PUBLIC, {("personal-data-public-weights", "BLOCK")}, "BLOCK"),
    "consent covers training but not the release purpose, public": (
        (personal(), consent("model-training")), {**PUBLIC, "purpose": "marketing"},
        {("personal-data-beyond-consent", "BLOCK"), ("personal-data-public-weights", "BLOCK")}, "BLOCK"),
    "consent covers training but not the release purpose, internal": (
        (personal(), consent("model-training")), {**INTERNAL, "purpose": "marketing"},
        {("personal-data-beyond-consent", "BLOCK")}, "BLOCK"),
    "consent covers the release purpose but not training": (
        (personal(), consent("customer-care")), {**PUBLIC, "purpose": "customer-care"},
        {("consent-excludes-training", "BLOCK"), ("personal-data-public-weights", "BLOCK")}, "BLOCK"),
    "consent to fine-tuning only does not cover training": (
        (personal(), consent("model-fine-tuning", "customer-care")), {**INTERNAL, "purpose": "customer-care"},
        {("consent-excludes-training", "BLOCK")}, "BLOCK"),
    "consent excludes the release purpose": (
        (personal(), consent("model-training", "research-and-development", excluded=("marketing",))),
        {**PUBLIC, "purpose": "direct-marketing"},
        {("consent-excludes-release-purpose", "BLOCK"), ("personal-data-public-weights", "BLOCK")}, "BLOCK"),
    # --- consent withdrawn (or expired, refused): ConsentWithdrawn instead of ConsentScope ------------------
    "consent withdrawn, public weights": (
        (personal(), WITHDRAWN), PUBLIC,
        {("consent-withdrawn", "BLOCK"), ("personal-data-public-weights", "BLOCK")}, "BLOCK"),
    "consent withdrawn, internal": (
        (personal(), WITHDRAWN), INTERNAL, {("consent-withdrawn", "BLOCK")}, "BLOCK"),
    "one record valid, another withdrawn": (
        (personal(), consent(*TRAINING_AND_CARE), WITHDRAWN), {**PUBLIC, "purpose": "customer-care"},
        {("consent-withdrawn", "BLOCK"), ("personal-data-privacy-review", "WARN")}, "BLOCK"),
    # --- special categories (GDPR Art. 9) ----------------------------------------------------------------
    "special categories, no consent, internal": (
        (special(),), INTERNAL, {("special-category-data-internal", "WARN")}, "WARN"),
    "special categories, consent covers training, internal": (
        (special(), consent(*TRAINING_AND_CARE)), {**INTERNAL, "purpose": "customer-care"}, set(), "PASS"),
    "special categories, no consent, partner weights": (
        (special(),), PARTNER, {("special-category-data-external-weights", "BLOCK")}, "BLOCK"),
    "special categories, consent covers training and purpose, public weights: still blocked": (
        (special(), consent(*TRAINING_AND_CARE)), {**PUBLIC, "purpose": "customer-care"},
        {("special-category-data-consented-external-weights", "BLOCK")}, "BLOCK"),
    "special and ordinary personal data under one consent, partner": (
        (personal(), special(), consent(*TRAINING_AND_CARE)), {**PARTNER, "purpose": "customer-care"},
        {("personal-data-privacy-review", "WARN"), ("special-category-data-consented-external-weights", "BLOCK")},
        "BLOCK"),
    "special categories beyond consent, internal": (
        (special(), consent("model-training")), {**INTERNAL, "purpose": "marketing"},
        {("personal-data-beyond-consent", "BLOCK")}, "BLOCK"),
    # --- attested anonymization: the personal-data tags stopped there, the consent tag flowed on ----------
    "anonymised, public weights": (
        (consent(*TRAINING_AND_CARE),), {**PUBLIC, "purpose": "customer-care"}, set(), "PASS"),
    "anonymised, release purpose beyond the consent: ask the data protection officer": (
        (consent("model-training"),), {**PUBLIC, "purpose": "marketing"},
        {("consent-lacks-release-purpose", "WARN")}, "WARN"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_personal_data_case(case: str) -> None:
    tags, context, expected, verdict = CASES[case]
    report = check(*tags, **context)
    assert fired(report) == expected, [f.message for f in report.findings]
    assert report.verdict == verdict


def test_every_personal_data_rule_has_a_case() -> None:
    # Personal data of evaluation data (via: evaluation) does not reach the weights: test_evaluation_runs.py.
    rules = {r.id for r in load_policy().rules if r.via == "training" and ({"PersonalData", "SpecialCategoryData"}
             & set(r.tag) or r.source_has or r.source_lacks)}
    covered = {rule for _, _, expected, _ in CASES.values() for rule, _ in expected}
    assert rules <= covered, rules - covered


def accept(*rules: str) -> Acceptance:
    return Acceptance(rules=rules, datasets=(CHATS,), approver="dpo@example.org", ticket="PRIV-9",
                      until=date(2025, 6, 30))


def test_a_recorded_privacy_review_turns_the_consented_case_into_accepted() -> None:
    context = {**PUBLIC, "purpose": "customer-care"}
    report = check(personal(), consent(*TRAINING_AND_CARE), acceptances=(accept("personal-data-privacy-review"),),
                   **context)
    assert fired(report) == {("personal-data-privacy-review", "ACCEPTED")}
    assert report.verdict == "PASS"
    finding = report.findings[0]
    assert finding.accepted is not None and finding.accepted.ticket == "PRIV-9"
    assert "privacy review" in (finding.remedy or "") and "customer-care" in finding.message


def test_withdrawn_consent_stays_blocked_whatever_was_accepted() -> None:
    report = check(personal(), WITHDRAWN, acceptances=(
        accept("consent-withdrawn", "personal-data-public-weights"),), **PUBLIC)
    assert fired(report) == {("consent-withdrawn", "BLOCK"), ("personal-data-public-weights", "ACCEPTED")}
    assert report.verdict == "BLOCK"
    assert any("may never be accepted" in i.reason for i in report.ignored_acceptances)


def test_messages_say_what_the_consent_covers_and_what_is_missing() -> None:
    no_purpose = check(personal(), consent(*TRAINING_AND_CARE), **PUBLIC).findings[0]
    assert "this release's purpose (not recorded)" in no_purpose.message
    assert "check --purpose" in (no_purpose.remedy or "")
    beyond = next(f for f in check(personal(), consent("model-training"), **INTERNAL, purpose="marketing").findings
                  if f.rule_id == "personal-data-beyond-consent")
    assert "consent for model-training" in beyond.message and "(marketing)" in beyond.message


# --- the policy format these rules need: tests on the other tags of the same dataset ----------------------


def issues(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return [(issue.line, issue.message) for issue in caught.value.issues]


def test_a_misspelt_purpose_in_a_test_on_another_tag_is_an_error(tmp_path: Path) -> None:
    # `covers: [model-training, modle-training]` would never hold: consent would never count as covering.
    found = issues(tmp_path, """version: 1
rules:
  - id: consented-chats
    tag: PersonalData
    source_has: {tag: ConsentScope, attributes: {purposes: {covers: [model-training, modle-training]}}}
    severity: WARN
    message: m
""")
    assert [line for line, m in found if "unknown purpose 'modle-training'" in m] == [5], found


def test_misspelt_tags_and_attributes_of_another_tag_are_errors(tmp_path: Path) -> None:
    found = issues(tmp_path, """version: 1
rules:
  - id: consented-chats
    tag: PersonalData
    source_has: {tag: ConsentScop}
    source_lacks: {tag: ConsentScope, attributes: {purpose: {exists: true}}}
    severity: WARN
    message: m
""")
    assert any(line == 5 and "did you mean 'ConsentScope'?" in m for line, m in found), found
    assert any(line == 6 and "has no attribute 'purpose'" in m for line, m in found), found


def test_a_policy_of_ones_own_can_require_consent_on_the_same_dataset() -> None:
    policy = parse_policy("""version: 1
rules:
  - id: chats-need-training-consent
    tag: PersonalData
    source_lacks: {tag: ConsentScope, attributes: {purposes: {covers: [model-training, $context.purpose]}}}
    severity: BLOCK
    message: "{source}: no consent for training and {purpose}."
""")
    evidence = Evidence(model_guid="g", model_qualified_name=MODEL, tags=[personal(), consent(*TRAINING_AND_CARE)])
    covered = evaluate(evidence, ReleaseContext(purpose="customer-care"), policy, now=NOW)
    assert covered.verdict == "PASS"
    beyond = evaluate(evidence, ReleaseContext(purpose="marketing"), policy, now=NOW)
    assert [f.message for f in beyond.findings] == [f"{CHATS}: no consent for training and marketing."]
