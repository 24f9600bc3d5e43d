"""Release-risk checks on lineages built in the real Atlas for each rule, and their write-back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.cli.main import cli
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec, DerivationSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.policy.check import check_model
from atlas_mlplugin.policy.model import ReleaseContext
from atlas_mlplugin.policy.render import render_notice
from atlas_mlplugin.reads import count_requests, impact

pytestmark = pytest.mark.integration

PUBLIC_COMMERCIAL = ReleaseContext(audience="public", commercial=True)
INTERNAL = ReleaseContext(audience="internal", commercial=False)


def train(registry: GovernanceRegistry, uid: str, inputs: list[str], name: str = "m") -> str:
    model = ModelSpec(qualified_name=f"models/{uid}/{name}", name=name)
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-{name}", name=name, inputs=inputs, outputs=[model]))
    return model.qualified_name


def dataset(registry: GovernanceRegistry, uid: str, name: str, **facts: object) -> str:
    qn = f"file:///{uid}/{name}"
    registry.register_dataset(DatasetSpec(qualified_name=qn, name=name, **facts))  # type: ignore[arg-type]
    return qn


def severities(report, tag: str) -> set[str]:  # noqa: ANN001
    return {f.severity for f in report.findings if f.tag == tag}


# (facts of the one upstream dataset, release context, tag expected, severity expected)
SCENARIOS = {
    "non-commercial data, commercial release": (
        {"license": "CC-BY-NC-4.0"}, PUBLIC_COMMERCIAL, "NonCommercial", "BLOCK"),
    "personal data in public weights": (
        {"license": "CC0-1.0", "personal_data_categories": ["face"]}, ReleaseContext(audience="public"),
        "PersonalData", "BLOCK"),
    "special-category data shipped to partners": (
        {"license": "CC0-1.0", "special_categories": ["health"]}, ReleaseContext(audience="partner"),
        "SpecialCategoryData", "BLOCK"),
    "research-only data in production": (
        {"license": "LicenseRef-research-only"}, ReleaseContext(audience="partner", commercial=True),
        "ResearchOnly", "BLOCK"),
    "unknown license in a public release": (
        {}, ReleaseContext(audience="public"), "UnknownLicense", "BLOCK"),
    "share-alike outside the company": (
        {"license": "CC-BY-SA-4.0"}, ReleaseContext(audience="partner"), "ShareAlike", "WARN"),
    "no-derivatives weights shared": (
        {"license": "CC-BY-ND-4.0"}, ReleaseContext(audience="partner"), "NoDerivatives", "BLOCK"),
    "attribution obligation": (
        {"license": "CC-BY-4.0", "creator": "Lab"}, INTERNAL, "AttributionRequired", "INFO"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_default_rule_fires_on_its_lineage_and_not_on_a_clean_one(
        registry: GovernanceRegistry, client: AtlasClient, uid: str, scenario: str) -> None:
    facts, context, tag, severity = SCENARIOS[scenario]
    risky = dataset(registry, uid, "risky", **facts)
    report = check_model(client, train(registry, uid, [risky]), context, record=False)
    assert severity in severities(report, tag), report.findings
    finding = next(f for f in report.findings if f.tag == tag and f.severity == severity)
    assert finding.source_qualified_name == risky
    assert finding.path[0] == risky and finding.path[-1] == f"models/{uid}/m"

    clean = dataset(registry, uid, "clean", license="CC0-1.0")
    clean_report = check_model(client, train(registry, uid, [clean], name="clean"), context, record=False)
    assert clean_report.verdict == "PASS" and clean_report.findings == []


def test_retracted_and_withdrawn_data_block_any_release(registry: GovernanceRegistry, client: AtlasClient,
                                                        uid: str) -> None:
    registry.register_consent(ConsentRecordSpec(qualified_name=f"consent:{uid}", name="c",
                                                purposes=["model-training"]))
    a = dataset(registry, uid, "a", license="CC0-1.0", personal_data_categories=["voice"],
                consent_records=[f"consent:{uid}"])
    b = dataset(registry, uid, "b", license="CC0-1.0")
    model = train(registry, uid, [a, b])
    assert check_model(client, model, INTERNAL, record=False).verdict == "PASS"
    registry.withdraw_consent(f"consent:{uid}")
    registry.retract_dataset(b, "withdrawn by the publisher")
    report = check_model(client, model, INTERNAL, record=False)
    assert report.verdict == "BLOCK"
    assert {(f.tag, f.source_qualified_name) for f in report.findings if f.severity == "BLOCK"} == {
        ("ConsentWithdrawn", a), ("Retracted", b)}


def test_consent_that_excludes_training_blocks(registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    registry.register_consent(ConsentRecordSpec(qualified_name=f"consent:{uid}", name="c",
                                                purposes=["service-improvement"], excluded_purposes=["model-training"]))
    a = dataset(registry, uid, "a", license="CC0-1.0", consent_records=[f"consent:{uid}"])
    report = check_model(client, train(registry, uid, [a]), INTERNAL, record=False)
    assert "BLOCK" in severities(report, "ConsentScope")


def test_multi_hop_and_deleted_upstream_still_count_with_the_full_path(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    src = dataset(registry, uid, "src", license="CC-BY-NC-4.0")
    copy = DatasetSpec(qualified_name=f"file:///{uid}/copy", name="copy", license="CC0-1.0")
    registry.record_derivation(DerivationSpec(qualified_name=f"derive:{uid}", name="relabel",
                                              derivation_type="relabel", inputs=[src], outputs=[copy]))
    model = train(registry, uid, [copy.qualified_name])
    registry.retract_dataset(src, "retracted")
    client.delete_entity(client.find_entity("ml_dataset", src)["entity"]["guid"])
    report = check_model(client, model, PUBLIC_COMMERCIAL, record=False)
    retracted = [f for f in report.findings if f.tag == "Retracted"]
    assert len(retracted) == 1 and retracted[0].source_deleted
    assert retracted[0].path == (src, f"derive:{uid}", copy.qualified_name, f"ml-run:{uid}-m", model)
    assert "BLOCK" in severities(report, "NonCommercial")


def test_fan_in_of_200_datasets_names_exactly_the_retracted_one(registry: GovernanceRegistry, client: AtlasClient,
                                                                uid: str) -> None:
    names = [f"file:///{uid}/part-{i:03d}" for i in range(200)]
    client.upsert_entities([{"typeName": "ml_dataset", "attributes": {"qualifiedName": qn, "name": qn[-8:]}}
                            for qn in names])
    registry.retract_dataset(names[137], "one bad shard")
    model = train(registry, uid, names)
    with count_requests(client) as calls:
        report = check_model(client, model, INTERNAL, record=False)
    blocks = [f for f in report.findings if f.severity == "BLOCK"]
    assert [(f.tag, f.source_qualified_name) for f in blocks] == [("Retracted", names[137])]
    assert calls[0] <= 6, "the check's REST calls must not grow with the number of datasets"


def test_attested_anonymization_keeps_personal_data_findings_away(registry: GovernanceRegistry,
                                                                  client: AtlasClient, uid: str) -> None:
    raw = dataset(registry, uid, "raw", license="CC0-1.0", personal_data_categories=["email"])
    anon = DatasetSpec(qualified_name=f"file:///{uid}/anon", name="anon", license="CC0-1.0")
    registry.record_derivation(DerivationSpec(qualified_name=f"derive:{uid}", name="anonymize",
                                              derivation_type="anonymize", inputs=[raw], outputs=[anon],
                                              attested=True, attestation="privacy office review PRIV-1"))
    report = check_model(client, train(registry, uid, [anon.qualified_name]), ReleaseContext(audience="public"),
                         record=False)
    assert report.verdict == "PASS" and not severities(report, "PersonalData")


def test_three_cc_by_datasets_give_one_notice(registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    sources = [dataset(registry, uid, f"by-{i}", license="CC-BY-4.0", creator=f"Author {i}",
                       url=f"https://example.org/{i}") for i in range(3)]
    report = check_model(client, train(registry, uid, sources), INTERNAL, record=False)
    assert sorted(a["source"] for a in report.obligations.attributions) == sorted(sources)
    notice = render_notice(report)
    for i in range(3):
        assert f"Author {i}" in notice and f"https://example.org/{i}" in notice
    assert notice.count("CC-BY-4.0") >= 3


def test_write_back_is_visible_on_the_model_and_impact_finds_model_and_release(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    src = dataset(registry, uid, "src", license="CC-BY-NC-4.0")
    model = train(registry, uid, [src])
    report = check_model(client, model, PUBLIC_COMMERCIAL, record=True)
    assert report.verdict == "BLOCK"
    entity = client.find_entity("ml_model", model)["entity"]
    assert entity["attributes"]["governanceVerdict"] == "BLOCK"
    assert "NonCommercial" in entity["attributes"]["governanceSummary"] or "non-commercial" in \
        entity["attributes"]["governanceSummary"].lower()
    verdicts = [c for c in entity["classifications"] if c["typeName"] == "ReleaseVerdict"]
    assert len(verdicts) == 1 and verdicts[0]["propagate"] is False and verdicts[0]["attributes"]["verdict"] == "BLOCK"
    releases = entity["relationshipAttributes"]["releases"]
    assert len(releases) == 1
    release = client.get_entity(releases[0]["guid"])["entity"]["attributes"]
    assert release["verdict"] == "BLOCK" and json.loads(release["findingsJson"])

    check_model(client, model, PUBLIC_COMMERCIAL, record=True)  # same check again: same release, one tag
    entity = client.find_entity("ml_model", model)["entity"]
    assert len(entity["relationshipAttributes"]["releases"]) == 1

    downstream = impact(client, src)
    assert [a.qualified_name for a in downstream.of("model")] == [model]
    assert len(downstream.of("release")) == 1
    assert downstream.of("model")[0].path == [src, f"ml-run:{uid}-m", model]


def test_cli_exit_codes_formats_and_policy_override(registry: GovernanceRegistry, atlas_settings: AtlasSettings,
                                                    uid: str, tmp_path: Path) -> None:
    model = train(registry, uid, [dataset(registry, uid, "sa", license="CC-BY-SA-4.0")])
    env = {"ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else ""}
    runner = CliRunner()
    args = ["check", model, "--audience", "partner", "--no-record"]
    warn = runner.invoke(cli, [*args, "--format", "json"], env=env)
    assert warn.exit_code == 0, warn.output
    assert json.loads(warn.output)["verdict"] == "WARN"
    assert runner.invoke(cli, [*args, "--fail-on", "warn"], env=env).exit_code == 2
    markdown = runner.invoke(cli, [*args, "--format", "markdown"], env=env)
    assert "ShareAlike" in markdown.output and "→" in markdown.output

    strict = tmp_path / "policy.yaml"
    share_alike_rule = next(f.rule_id for f in check_model(
        registry.client, model, ReleaseContext(audience="partner"), record=False).findings if f.tag == "ShareAlike")
    strict.write_text(f"version: 1\nextends: default\noverrides:\n  - id: {share_alike_rule}\n    severity: BLOCK\n")
    blocked = runner.invoke(cli, [*args, "--policy", str(strict)], env=env)
    assert blocked.exit_code == 2, blocked.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nextends: default\noverrides:\n  - id: no-such-rule\n    severity: BLOCK\n")
    broken = runner.invoke(cli, [*args, "--policy", str(bad)], env=env)
    assert broken.exit_code == 1 and f"{bad}:4" in broken.output
