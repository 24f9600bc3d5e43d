"""What an officer reads about a release in the Atlas UI, built without a server: one finding entity per
finding (linked to its release and its source), the model's verdict per release context in words, and the
attested anonymisation on the lineage graph and the anonymised dataset."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from atlas_mlplugin.mapping import entities
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.releases import (
    MAX_EXPLANATION,
    ContextVerdict,
    FindingRecord,
    finding_qualified_name,
    verdict_entities,
    verdict_tag,
)
from atlas_mlplugin.mapping.tags import anonymisation_tags
from atlas_mlplugin.model import DatasetSpec, DerivationSpec
from atlas_mlplugin.policy.model import AcceptedBy, CheckReport, Finding, ReleaseContext
from atlas_mlplugin.policy.writeback import decision_of, recorded_context

WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
MODEL = "models/scene/1"

RETRACTED = Finding(rule_id="retracted-data", severity="BLOCK", tag="Retracted",
                    message="file:///lab/faces was retracted by its publisher: consent problems.",
                    remedy="Retrain without file:///lab/faces.", source_qualified_name="file:///lab/faces",
                    source_guid="guid-faces", path=("file:///lab/faces", "ml-run:r1", MODEL))
SHARE_ALIKE = Finding(rule_id="share-alike-obligation", severity="WARN", tag="ShareAlike",
                      message="file:///lab/maps is licensed CC-BY-SA-4.0: what is shared must keep the license.",
                      remedy="Release the model under CC-BY-SA-4.0.", source_qualified_name="file:///lab/maps",
                      source_guid="guid-maps")


def report(findings: list[Finding], *, verdict: str = "BLOCK", audience: str = "public",
           commercial: bool = True) -> CheckReport:
    return CheckReport(verdict=verdict, model=MODEL, model_guid="guid-model",
                       context=ReleaseContext(audience=audience, commercial=commercial), findings=findings,
                       policy="default", checked_at=WHEN)


def by_type(built: list[dict[str, Any]], type_name: str) -> list[dict[str, Any]]:
    return [e for e in built if e["typeName"] == type_name]


def test_each_finding_is_an_entity_linked_to_its_release_and_its_source() -> None:
    decision = decision_of(report([RETRACTED, SHARE_ALIKE]), "scene")
    built = verdict_entities(decision)
    findings = by_type(built, n.ML_RELEASE_FINDING)
    assert len(findings) == 2
    release = by_type(built, n.ML_RELEASE)[0]
    refs = release["relationshipAttributes"][n.RELEASE_FINDINGS]
    listed = [ref["uniqueAttributes"][n.QUALIFIED_NAME] for ref in refs]
    assert listed == [f["attributes"][n.QUALIFIED_NAME] for f in findings]
    blocked = findings[0]
    assert blocked["relationshipAttributes"][n.FINDING_SOURCE] == {"guid": "guid-faces", "typeName": "Asset"}
    assert blocked["relationshipAttributes"][n.FINDING_RELEASE]["uniqueAttributes"][n.QUALIFIED_NAME] == \
        decision.release_qualified_name
    attrs = blocked["attributes"]
    assert attrs["outcome"] == "BLOCK" and attrs["tag"] == "Retracted" and attrs["ruleId"] == "retracted-data"
    assert attrs[n.SOURCE_DATASET] == "file:///lab/faces"
    assert attrs["lineagePath"] == ["file:///lab/faces", "ml-run:r1", MODEL]
    # What the release's list and the finding's page show: readable words, not JSON.
    assert attrs[n.NAME] == "BLOCK: Retracted from file:///lab/faces for scene (public commercial)"
    assert attrs[n.DESCRIPTION] == ("file:///lab/faces was retracted by its publisher: consent problems. "
                                    "To resolve: Retrain without file:///lab/faces.")
    # findingsJson stays, for tools.
    assert [f["rule_id"] for f in json.loads(release["attributes"]["findingsJson"])] == ["retracted-data",
                                                                                         "share-alike-obligation"]


def test_a_release_without_findings_lists_none_so_old_ones_are_deleted() -> None:
    built = verdict_entities(decision_of(report([], verdict="PASS"), "scene"))
    release = by_type(built, n.ML_RELEASE)[0]
    # An explicit empty list (not an absent key): Atlas deletes the findings an earlier check wrote.
    assert release["relationshipAttributes"][n.RELEASE_FINDINGS] == []
    assert by_type(built, n.ML_RELEASE_FINDING) == []


def test_a_finding_keeps_its_name_across_checks_and_differs_per_release_rule_and_source() -> None:
    first = by_type(verdict_entities(decision_of(report([RETRACTED]), "scene")), n.ML_RELEASE_FINDING)[0]
    again = by_type(verdict_entities(decision_of(report([RETRACTED]).model_copy(
        update={"checked_at": datetime(2027, 1, 1, tzinfo=timezone.utc)}), "scene")), n.ML_RELEASE_FINDING)[0]
    assert first["attributes"][n.QUALIFIED_NAME] == again["attributes"][n.QUALIFIED_NAME]
    internal = by_type(verdict_entities(decision_of(report([RETRACTED], audience="internal"), "scene")),
                       n.ML_RELEASE_FINDING)[0]
    other_source = RETRACTED.model_copy(update={"source_qualified_name": "file:///lab/other"})
    names = {first["attributes"][n.QUALIFIED_NAME], internal["attributes"][n.QUALIFIED_NAME],
             by_type(verdict_entities(decision_of(report([other_source]), "scene")),
                     n.ML_RELEASE_FINDING)[0]["attributes"][n.QUALIFIED_NAME]}
    assert len(names) == 3


def test_a_very_long_source_name_keeps_the_finding_name_bounded() -> None:
    record = FindingRecord(rule_id="r", outcome="BLOCK", tag="Retracted", message="m",
                           source_qualified_name="file:///" + "x" * 5000)
    assert len(finding_qualified_name("models/m#release/public/commercial", record)) < 700


def test_a_source_deleted_from_the_catalog_is_named_not_linked() -> None:
    gone = RETRACTED.model_copy(update={"source_deleted": True})
    finding = by_type(verdict_entities(decision_of(report([gone]), "scene")), n.ML_RELEASE_FINDING)[0]
    assert n.FINDING_SOURCE not in finding["relationshipAttributes"]
    assert finding["attributes"][n.SOURCE_DATASET] == "file:///lab/faces"


def test_an_accepted_finding_says_who_accepted_it_and_until_when() -> None:
    accepted = SHARE_ALIKE.model_copy(update={"accepted": AcceptedBy(
        approver="dpo@acme", reason="model card states the license", ticket="GOV-7", until=date(2027, 3, 31))})
    decision = decision_of(report([accepted], verdict="PASS"), "scene")
    finding = by_type(verdict_entities(decision), n.ML_RELEASE_FINDING)[0]["attributes"]
    assert finding["outcome"] == "ACCEPTED"
    assert finding["acceptance"] == ("Risk accepted by dpo@acme until 2027-03-31: model card states the license; "
                                     "ticket GOV-7")
    assert "dpo@acme" in finding[n.DESCRIPTION]


def summary_of(decision: Any) -> str:
    return str(by_type(verdict_entities(decision), n.ML_MODEL)[0]["attributes"]["governanceSummary"])


def test_the_model_explains_its_verdict_in_words_not_rule_ids() -> None:
    text = summary_of(decision_of(report([RETRACTED, SHARE_ALIKE]), "scene"))
    assert text.startswith("Public commercial release: BLOCK, must not go ahead (checked 2026-11-30).")
    assert "Blocked because: file:///lab/faces was retracted by its publisher: consent problems. " \
           "To resolve: Retrain without file:///lab/faces." in text
    assert "To do or review: file:///lab/maps is licensed CC-BY-SA-4.0" in text
    for rule_id in ("retracted-data", "share-alike-obligation"):
        assert rule_id not in text
    assert "{" not in text and "\n" not in text


def test_the_verdict_tag_explains_the_context_checked_in_words() -> None:
    tag = verdict_tag(decision_of(report([RETRACTED]), "scene"))
    assert tag["attributes"]["summary"].startswith("Public commercial release: BLOCK, must not go ahead")
    assert "retracted-data" not in tag["attributes"]["summary"] and RETRACTED.message in tag["attributes"]["summary"]


def test_the_model_explains_every_release_context_recorded_on_it() -> None:
    internal = ContextVerdict(audience="internal", commercial=False, verdict="PASS", checked_at=WHEN)
    old_public = ContextVerdict(audience="public", commercial=True, verdict="PASS", checked_at=WHEN)
    decision = decision_of(report([RETRACTED]), "scene", (old_public, internal))
    text = summary_of(decision)
    # Narrowest audience first; the context just checked replaces its older record.
    assert text.startswith("Internal non-commercial release: PASS, may go ahead (checked 2026-11-30). "
                           "Public commercial release: BLOCK")
    assert text.count("Public commercial release") == 1


def test_a_context_read_back_from_atlas_keeps_its_messages() -> None:
    recorded = verdict_entities(decision_of(report([SHARE_ALIKE], verdict="WARN", audience="partner"), "scene"))
    attributes = by_type(recorded, n.ML_RELEASE)[0]["attributes"]
    context = recorded_context(attributes)
    assert context is not None and context.verdict == "WARN" and context.audience == "partner"
    assert [f.message for f in context.findings] == [SHARE_ALIKE.message]
    truncated = recorded_context({**attributes, "findingsJson": attributes["findingsJson"][:40] + "...(truncated"})
    assert truncated is not None and truncated.findings == ()
    assert truncated.summary == attributes[n.DESCRIPTION]  # the one-line summary stands in


def test_a_long_explanation_is_bounded() -> None:
    many = [RETRACTED.model_copy(update={"source_qualified_name": f"file:///lab/{i}", "source_guid": f"g{i}"})
            for i in range(200)]
    text = summary_of(decision_of(report(many), "scene"))
    assert len(text) <= MAX_EXPLANATION
    assert text.endswith("(more in the release decision's findings)")


ANON = DerivationSpec(qualified_name="derive:anon", name="anonymize chats", derivation_type="anonymize",
                      inputs=["file:///chats"], outputs=[DatasetSpec(qualified_name="file:///chats-anon", name="a")],
                      attested=True, attestation="Privacy office (J. Doe), 2026-04-02: names and emails removed; "
                                                 "ticket PRIV-231")


def test_the_lineage_graph_labels_an_attested_anonymisation() -> None:
    label = entities.derivation_entity(ANON)["attributes"][n.LINEAGE_LABEL]
    # The Atlas 2.1 graph shows the first 17 characters on the node, the whole label on hover.
    assert label[:17].startswith("PII stops here")
    assert "anonymize chats" in label and "J. Doe" in label and "2026-04-02" in label
    assert entities.derivation_entity(ANON)["attributes"][n.NAME] == "anonymize chats"  # its name is kept


def test_other_steps_have_no_label_and_lose_a_stale_one() -> None:
    for spec in (ANON.model_copy(update={"attested": False}), ANON.model_copy(update={"derivation_type": "filter"})):
        attributes = entities.derivation_entity(spec)["attributes"]
        assert n.LINEAGE_LABEL in attributes and attributes[n.LINEAGE_LABEL] is None


def test_the_anonymised_dataset_carries_the_attestation_without_passing_it_on() -> None:
    [tag] = anonymisation_tags("derive:anon", ANON.attestation, ["file:///chats"], ["PersonalData"])
    assert tag["typeName"] == n.ANONYMISATION_ATTESTED and tag["propagate"] is False
    assert tag["attributes"] == {"attestation": ANON.attestation, "derivation": "derive:anon",
                                 "sourceDatasets": ["file:///chats"], "stoppedTags": ["PersonalData"]}
