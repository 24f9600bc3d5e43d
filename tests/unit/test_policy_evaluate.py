"""The release check's pure core: evidence (built by hand, as Atlas would report it) x release context x
policy -> findings, verdict, obligations; and the renderings of the report."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import pytest

from atlas_mlplugin.policy.evaluate import condition_holds, evaluate
from atlas_mlplugin.policy.model import CheckReport, Evidence, ReleaseContext, UpstreamTag
from atlas_mlplugin.policy.render import render_json, render_markdown, render_notice, render_text
from atlas_mlplugin.policy.rules import Condition, load_policy

MODEL = "file:///models/scene-intent/1.0"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def tag(type_name: str, source: str = "file:///data/street", **attributes: Any) -> UpstreamTag:
    return UpstreamTag(type_name=type_name, attributes={"sourceDataset": source, **attributes},
                       source_guid=f"guid:{source}", source_qualified_name=source, source_status="ACTIVE",
                       path=(source, "train scene-intent", MODEL))


def evidence(*tags: UpstreamTag) -> Evidence:
    return Evidence(model_guid="guid:model", model_qualified_name=MODEL, model_name="scene-intent", tags=list(tags),
                    rest_calls=3)


def check(*tags: UpstreamTag, **context: Any) -> CheckReport:
    return evaluate(evidence(*tags), ReleaseContext(**context), load_policy(), now=NOW)


def fired(report: CheckReport) -> list[tuple[str, str]]:
    return [(f.rule_id, f.severity) for f in report.findings]


INTERNAL: dict[str, Any] = {"audience": "internal", "commercial": False}
PUBLIC_COMMERCIAL: dict[str, Any] = {"audience": "public", "commercial": True}

# rule id -> (tag, attributes, a context where it fires, a context where it must not)
DEFAULT_RULE_CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], dict[str, Any] | None]] = {
    "non-commercial-in-commercial-release": ("NonCommercial", {"licenseId": "CC-BY-NC-4.0"},
                                             {"audience": "internal", "commercial": True}, {"audience": "public"}),
    "research-only-in-production": ("ResearchOnly", {"licenseId": "LicenseRef-academic"},
                                    {"audience": "partner"}, INTERNAL),
    "research-only-internal": ("ResearchOnly", {"licenseId": "LicenseRef-academic"}, INTERNAL,
                               {"audience": "internal", "commercial": True}),
    "unknown-license": ("UnknownLicense", {"licenseId": "NOASSERTION"}, INTERNAL, {"audience": "public"}),
    "unknown-license-public": ("UnknownLicense", {"licenseId": "NOASSERTION"}, {"audience": "public"}, INTERNAL),
    "share-alike": ("ShareAlike", {"licenseId": "CC-BY-SA-4.0"}, {"audience": "public"}, INTERNAL),
    "no-derivatives": ("NoDerivatives", {"licenseId": "CC-BY-ND-4.0"}, {"audience": "partner"},
                       {"audience": "public", "ships": ["outputs"]}),
    "attribution-required": ("AttributionRequired", {"licenseId": "CC-BY-4.0", "title": "Street"}, INTERNAL, None),
    "license-text-required": ("LicenseTextRequired", {"licenseId": "CDLA-Permissive-2.0"}, INTERNAL, None),
    "incomplete-lineage-public": ("IncompleteLineage", {"reason": "read data that could not be named"},
                                  {"audience": "public"}, INTERNAL),
    "incomplete-lineage": ("IncompleteLineage", {"reason": "recorded no input dataset"}, INTERNAL,
                           {"audience": "public"}),
    "retracted-data": ("Retracted", {"reason": "legal"}, INTERNAL, None),
    "consent-withdrawn": ("ConsentWithdrawn", {"consentRecord": "consent:panel/v1"}, INTERNAL, None),
    "consent-excludes-training": ("ConsentScope", {"purposes": ["research"], "excludedPurposes": []}, INTERNAL,
                                  None),
    "consent-excludes-release-purpose": ("ConsentScope", {"purposes": ["model-training"],
                                                          "excludedPurposes": ["marketing"]},
                                         {"purpose": "marketing"}, {"purpose": "model-training"}),
    "consent-exclusion-within-release-purpose": ("ConsentScope", {"purposes": ["model-training", "research"],
                                                                  "excludedPurposes": ["commercial-research"]},
                                                 {"purpose": "research"}, {"purpose": "academic-research"}),
    "consent-lacks-release-purpose": ("ConsentScope", {"purposes": ["model-training"], "excludedPurposes": []},
                                      {"purpose": "commercial-product"}, INTERNAL),
    "personal-data-public-weights": ("PersonalData", {"categories": ["pd:Name"]}, {"audience": "public"},
                                     {"audience": "public", "ships": ["outputs"]}),
    "personal-data-partner-weights": ("PersonalData", {"categories": ["pd:Name"]}, {"audience": "partner"},
                                      {"audience": "internal"}),
    "special-category-data-external-weights": ("SpecialCategoryData", {"categories": ["health"]},
                                               {"audience": "partner"}, {"audience": "internal"}),
    "special-category-data-internal": ("SpecialCategoryData", {"categories": ["health"]}, {"audience": "internal"},
                                       {"audience": "partner", "ships": ["outputs"]}),
    "use-restrictions-pass-on": ("UseRestrictions", {"licenseId": "LicenseRef-gemma-terms",
                                                     "usePolicyUrl": "https://ai.google.dev/gemma/prohibited_use_policy"},
                                 {"audience": "partner"}, INTERNAL),
    "naming-requirement": ("NamingRequirement", {"licenseId": "LicenseRef-llama-3.1-community",
                                                 "requirement": "Built with Llama"}, {"audience": "public"}, INTERNAL),
    "user-threshold": ("UserThreshold", {"licenseId": "LicenseRef-llama-3.1-community",
                                         "monthlyActiveUsers": 700000000}, PUBLIC_COMMERCIAL, {"audience": "public"}),
}
# Rules that fire only when another tag of the same dataset is present (the consent personal data was
# collected under): one tag cannot show them, so tests/unit/test_policy_personal_data.py has their cases.
WITH_COMPANION_TAGS = {"personal-data-beyond-consent", "personal-data-privacy-review",
                       "special-category-data-consented-external-weights"}


def test_every_default_rule_has_a_case() -> None:
    # Rules about evaluation data: tests/unit/test_evaluation_runs.py.
    assert set(DEFAULT_RULE_CASES) | WITH_COMPANION_TAGS == {r.id for r in load_policy().rules if r.via == "training"}


@pytest.mark.parametrize("rule_id", sorted(DEFAULT_RULE_CASES))
def test_default_rule_fires_on_its_evidence(rule_id: str) -> None:
    type_name, attributes, context, _ = DEFAULT_RULE_CASES[rule_id]
    severity = next(r.severity for r in load_policy().rules if r.id == rule_id)
    report = check(tag(type_name, **attributes), **context)
    assert (rule_id, severity) in fired(report)
    finding = next(f for f in report.findings if f.rule_id == rule_id)
    assert finding.tag == type_name and finding.source_qualified_name == "file:///data/street"
    assert finding.source_guid == "guid:file:///data/street" and not finding.source_deleted
    assert finding.path == ("file:///data/street", "train scene-intent", MODEL)
    assert finding.attributes["sourceDataset"] == "file:///data/street"
    assert "{" not in finding.message and finding.remedy and "{" not in finding.remedy
    worst = max((f.severity for f in report.findings), key=["INFO", "WARN", "BLOCK"].index)
    assert report.verdict == {"INFO": "PASS", "WARN": "WARN", "BLOCK": "BLOCK"}[worst]


@pytest.mark.parametrize("rule_id", sorted(k for k, v in DEFAULT_RULE_CASES.items() if v[3] is not None))
def test_default_rule_is_silent_where_it_does_not_apply(rule_id: str) -> None:
    type_name, attributes, _, context = DEFAULT_RULE_CASES[rule_id]
    assert context is not None
    assert rule_id not in [f.rule_id for f in check(tag(type_name, **attributes), **context).findings]


@pytest.mark.parametrize("context", [INTERNAL, PUBLIC_COMMERCIAL,
                                     {"audience": "partner", "ships": ["eval-data"], "purpose": "research"}])
def test_a_clean_model_passes(context: dict[str, Any]) -> None:
    report = check(**context)
    assert report.verdict == "PASS" and report.findings == []
    assert report.obligations.attributions == [] and report.obligations.license_texts == []
    # tags no rule is about (the verdict tag itself, your own classifications) change nothing
    assert check(tag("ReleaseVerdict", verdict="BLOCK"), tag("AcmeReviewed"), **context).findings == []


def test_non_commercial_data_in_an_internal_non_commercial_release_is_not_blocked() -> None:
    report = check(tag("NonCommercial", licenseId="CC-BY-NC-4.0"), **INTERNAL)
    assert report.verdict == "PASS" and report.findings == []
    blocked = check(tag("NonCommercial", licenseId="CC-BY-NC-4.0"), audience="internal", commercial=True)
    assert blocked.verdict == "BLOCK"
    assert blocked.findings[0].message == ("file:///data/street is licensed CC-BY-NC-4.0, which forbids commercial "
                                           "use; this release is commercial.")


def test_research_only_blocks_commercial_internal_use_too() -> None:
    report = check(tag("ResearchOnly", licenseId="LicenseRef-academic"), audience="internal", commercial=True)
    assert fired(report) == [("research-only-in-production", "BLOCK")]


def test_unknown_license_warns_internally_and_blocks_publicly() -> None:
    unknown = tag("UnknownLicense", licenseId="NOASSERTION")
    assert check(unknown, **INTERNAL).verdict == "WARN"
    assert check(unknown, audience="partner").verdict == "WARN"
    assert fired(check(unknown, audience="public")) == [("unknown-license-public", "BLOCK")]


def test_share_alike_carries_the_same_license_obligation() -> None:
    [finding] = check(tag("ShareAlike", licenseId="CC-BY-SA-4.0"), audience="partner").findings
    assert finding.severity == "WARN" and "under CC-BY-SA-4.0" in (finding.remedy or "")


# --------------------------------------------------------------------------------------------------
# consent purposes


def consent(purposes: list[str], excluded: list[str] | None = None) -> UpstreamTag:
    return tag("ConsentScope", purposes=purposes, excludedPurposes=excluded or [], consentRecord="consent:panel/v1")


@pytest.mark.parametrize(("scope", "purpose", "expected"), [
    (consent(["model-training", "research"]), None, []),
    (consent(["model-training", "research"]), "research", []),
    (consent(["model-training"], ["model-training"]), None, [("consent-excludes-training", "BLOCK")]),
    (consent(["research"]), None, [("consent-excludes-training", "BLOCK")]),
    (consent([]), None, [("consent-excludes-training", "BLOCK")]),
    (consent(["model-training"], ["marketing"]), "marketing", [("consent-excludes-release-purpose", "BLOCK")]),
    (consent(["model-training"]), "marketing", [("consent-lacks-release-purpose", "WARN")]),
    (consent(["research"], ["marketing"]), "marketing", [("consent-excludes-release-purpose", "BLOCK"),
                                                         ("consent-excludes-training", "BLOCK")]),
])
def test_consent_purposes(scope: UpstreamTag, purpose: str | None, expected: list[tuple[str, str]]) -> None:
    assert fired(check(scope, purpose=purpose)) == expected


def test_consent_messages_name_the_purposes() -> None:
    report = check(consent(["model-training", "research"]), purpose="marketing")
    assert report.findings[0].message == ("This release's purpose (marketing) is not among those consented to for "
                                          "file:///data/street (model-training, research).")


def test_a_consent_scope_without_purposes_does_not_cover_training() -> None:
    scope = UpstreamTag(type_name="ConsentScope", attributes={}, source_guid="g", source_qualified_name="ds")
    assert fired(check(scope)) == [("consent-excludes-training", "BLOCK")]


@pytest.mark.parametrize(("condition", "value", "context", "holds"), [
    ({"equals": "CC-BY-4.0"}, "CC-BY-4.0", {}, True),
    ({"equals": "CC-BY-4.0"}, "CC0-1.0", {}, False),
    ({"in": ["CC0-1.0", "CC-BY-4.0"]}, "CC-BY-4.0", {}, True),
    ({"in": ["CC0-1.0"]}, None, {}, False),
    ({"contains": "x"}, ["x", "y"], {}, True),
    ({"contains": "x"}, None, {}, False),
    ({"contains": "x"}, "x", {}, True),  # a single value is a list of one
    ({"not_contains": "x"}, None, {}, True),
    ({"exists": True}, "v", {}, True),
    ({"exists": True}, None, {}, False),
    ({"exists": False}, None, {}, True),
    ({"missing": True}, None, {}, True),
    ({"missing": True}, "v", {}, False),
    ({"exists": True, "equals": "v"}, "v", {}, True),
    ({"equals": "$context.audience"}, "public", {"audience": "public"}, True),
    ({"contains": "$context.purpose"}, ["advertising"], {"purpose": "ads"}, True),  # the context's is canonical
    ({"contains": "$context.purpose"}, ["ads"], {}, False),
    ({"not_contains": "$context.purpose"}, ["ads"], {}, False),  # no purpose given: the test cannot hold
    ({"in": ["$context.purpose", "x"]}, "x", {}, True),
])
def test_condition_operators(condition: dict[str, Any], value: Any, context: dict[str, Any], holds: bool) -> None:
    assert condition_holds(Condition.model_validate(condition), value, ReleaseContext(**context)) is holds


# --------------------------------------------------------------------------------------------------
# many tags, deleted sources, duplicates, order


def test_fan_in_of_200_tags_with_one_retracted_source() -> None:
    tags = [tag("AttributionRequired", f"file:///data/part-{i:03}", licenseId="CC-BY-4.0", title=f"Part {i:03}")
            for i in range(200) if i != 137]
    tags.insert(50, tag("Retracted", "file:///data/part-137", reason="subjects objected"))
    report = check(*tags, **INTERNAL)
    blocks = [f for f in report.findings if f.severity == "BLOCK"]
    assert report.verdict == "BLOCK" and len(blocks) == 1
    assert blocks[0].rule_id == "retracted-data" and blocks[0].source_qualified_name == "file:///data/part-137"
    assert "subjects objected" in blocks[0].message
    assert report.findings[0] is blocks[0] and len(report.findings) == 200
    assert len(report.obligations.attributions) == 199


def test_a_deleted_source_is_flagged() -> None:
    gone = tag("Retracted", "file:///data/faces").model_copy(update={"source_status": "DELETED"})
    report = check(gone, **INTERNAL)
    assert report.findings[0].source_deleted
    assert "file:///data/faces (deleted from the catalog)" in render_text(report)
    assert "(deleted from the catalog)" in render_markdown(report)


def test_the_same_tag_listed_twice_gives_one_finding_with_the_shortest_path() -> None:
    short = tag("Retracted", "file:///data/faces")
    long = short.model_copy(update={"path": ("file:///data/faces", "filter", "file:///data/faces-small",
                                             "train scene-intent", MODEL)})
    report = check(long, short, long, **INTERNAL)
    assert fired(report) == [("retracted-data", "BLOCK")]
    assert report.findings[0].path == short.path


def test_findings_are_ordered_and_the_report_is_deterministic() -> None:
    tags = [tag("AttributionRequired", "file:///data/b", licenseId="CC-BY-4.0"),
            tag("UnknownLicense", "file:///data/c", licenseId="NOASSERTION"),
            tag("Retracted", "file:///data/z"), tag("ConsentWithdrawn", "file:///data/a"),
            tag("Retracted", "file:///data/a"), tag("LicenseTextRequired", "file:///data/a", licenseId="O-UDA-1.0")]
    report = check(*tags, **INTERNAL)
    assert [(f.severity, f.rule_id, f.source_qualified_name) for f in report.findings] == [
        ("BLOCK", "consent-withdrawn", "file:///data/a"),
        ("BLOCK", "retracted-data", "file:///data/a"),
        ("BLOCK", "retracted-data", "file:///data/z"),
        ("WARN", "unknown-license", "file:///data/c"),
        ("INFO", "attribution-required", "file:///data/b"),
        ("INFO", "license-text-required", "file:///data/a")]
    shuffled = tags[:]
    random.Random(7).shuffle(shuffled)
    assert render_json(check(*shuffled, **INTERNAL)) == render_json(report)


@pytest.mark.parametrize(("tags", "verdict"), [
    ([tag("AttributionRequired", licenseId="CC-BY-4.0")], "PASS"),
    ([tag("AttributionRequired", licenseId="CC-BY-4.0"), tag("UnknownLicense", "file:///data/u")], "WARN"),
    ([tag("UnknownLicense", "file:///data/u"), tag("Retracted", "file:///data/r")], "BLOCK"),
])
def test_verdict_is_the_worst_severity_with_info_as_pass(tags: list[UpstreamTag], verdict: str) -> None:
    assert check(*tags, **INTERNAL).verdict == verdict


# --------------------------------------------------------------------------------------------------
# obligations and the NOTICE


def attribution(source: str, title: str, creator: str, license_id: str = "CC-BY-4.0") -> UpstreamTag:
    return tag("AttributionRequired", source, licenseId=license_id, title=title, creator=creator,
               url=f"https://example.org/{title.lower()}", attributionText=f'"{title}" by {creator}')


def test_three_attributions_make_one_notice_with_three_blocks() -> None:
    report = check(attribution("file:///data/voices", "Voices", "Lab C", "CC-BY-SA-4.0"),
                   attribution("file:///data/street", "Street", "Jane Doe"),
                   attribution("file:///data/chats", "Chats", "ACME"),
                   attribution("file:///data/street", "Street", "Jane Doe"),  # listed twice by Atlas
                   tag("LicenseTextRequired", "file:///data/p", licenseId="O-UDA-1.0"),
                   tag("LicenseTextRequired", "file:///data/q", licenseId="CDLA-Permissive-2.0"),
                   tag("LicenseTextRequired", "file:///data/r", licenseId="O-UDA-1.0"), **INTERNAL)
    credits = report.obligations.attributions
    assert [c["title"] for c in credits] == ["Chats", "Street", "Voices"]
    assert credits[1] == {"source": "file:///data/street", "title": "Street", "creator": "Jane Doe",
                          "license": "CC-BY-4.0", "license_url": "https://spdx.org/licenses/CC-BY-4.0.html",
                          "url": "https://example.org/street", "attributionText": '"Street" by Jane Doe'}
    assert report.obligations.license_texts == ["CDLA-Permissive-2.0", "O-UDA-1.0"]
    notice = render_notice(report)
    assert notice.startswith(f"NOTICE\n\nModel: {MODEL}\n")
    assert notice.count("Changes: the data was used to train this model.") == 3
    assert notice.index("Chats") < notice.index("Street") < notice.index("Voices")
    assert "License: CC-BY-SA-4.0 (https://spdx.org/licenses/CC-BY-SA-4.0.html)" in notice
    assert "Creator: Jane Doe" in notice and 'Attribution: "Street" by Jane Doe' in notice
    assert "Source: https://example.org/street" in notice
    assert notice.rstrip().endswith(
        "License texts that must accompany this release: CDLA-Permissive-2.0, O-UDA-1.0")


def test_notice_without_attributions() -> None:
    notice = render_notice(check(**INTERNAL))
    assert "requires attribution" in notice and notice.rstrip().endswith("accompany this release: none")


# --------------------------------------------------------------------------------------------------
# renderings


def sample() -> CheckReport:
    return check(tag("NonCommercial", licenseId="CC-BY-NC-4.0"), attribution("file:///data/chats", "Chats", "ACME"),
                 tag("PersonalData", "file:///data/chats", categories=["pd:EmailAddress"]),
                 audience="partner", commercial=True, ships=["outputs", "weights"], purpose="customer-care")


def test_render_json_is_the_check_report() -> None:
    text = render_json(sample())
    data = json.loads(text)
    assert list(data)[:2] == ["verdict", "findings"]
    assert data["verdict"] == "BLOCK" and isinstance(data["findings"], list)
    assert {"rule_id", "severity", "tag", "message", "remedy", "source_qualified_name", "source_guid",
            "source_deleted", "path", "attributes"} <= set(data["findings"][0])
    assert data["context"]["ships"] == ["outputs", "weights"] and data["policy"] == "default"
    assert data["checked_at"] == "2024-05-01T12:00:00Z" and data["rest_calls"] == 3
    assert CheckReport.model_validate_json(text) == sample()


def test_markdown_has_a_findings_table_with_arrowed_paths_and_the_obligations() -> None:
    md = render_markdown(sample())
    assert md.startswith("# Release check: **BLOCK**")
    assert "| Severity | Rule | Tag | Finding | From dataset | Path | Remedy |" in md
    assert f"file:///data/street → train scene-intent → {MODEL}" in md
    assert "| **BLOCK** | `non-commercial-in-commercial-release` | NonCommercial |" in md
    assert "## Obligations" in md and "Chats by ACME (CC-BY-4.0)" in md


def test_markdown_escapes_table_cells() -> None:
    report = sample()
    finding = report.findings[0].model_copy(update={"message": "a | b\nc"})
    md = render_markdown(report.model_copy(update={"findings": [finding]}))
    assert "a \\| b c" in md


def test_text_rendering() -> None:
    text = render_text(sample())
    assert text.startswith("Release check: BLOCK\n")
    assert "Context: audience partner; commercial; ships outputs, weights; purpose customer-care" in text
    assert "BLOCK  non-commercial-in-commercial-release  [NonCommercial] from file:///data/street" in text
    assert f"path: file:///data/street → train scene-intent → {MODEL}" in text
    assert "No findings." in render_text(check(**INTERNAL))
