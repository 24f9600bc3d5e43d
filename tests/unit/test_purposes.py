"""Purposes as a controlled vocabulary (DPV 2.3 + our ML terms): spellings, aliases, did-you-mean errors,
matching through the taxonomy, and the check at every place a purpose is entered (API models, catalog
files, policy files, the CLI) and in the release check's verdicts."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from atlas_mlplugin.catalog import CatalogError, load_catalog
from atlas_mlplugin.cli.main import cli
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.model import ConsentRecordSpec, TrainingRunSpec
from atlas_mlplugin.model.assets import NAMES_NORMALIZED
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.model import Evidence, ReleaseContext, UpstreamTag
from atlas_mlplugin.policy.rules import PolicyError, load_policy
from atlas_mlplugin.purposes import (
    ALIASES,
    UnknownPurposeError,
    canonical_purpose,
    canonical_purposes,
    kebab,
    vocabulary,
)

NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------------
# the vocabulary


def test_it_is_dpv_2_3_with_its_hierarchy_and_our_ml_terms() -> None:
    vocab = vocabulary()
    rd = vocab.purposes["research-and-development"]
    assert rd.source == "dpv-2.3" and rd.iri == "https://w3id.org/dpv#ResearchAndDevelopment"
    assert {"academic-research", "commercial-research", "non-commercial-research", "scientific-research"} <= {
        p.term for p in vocab.purposes.values() if "research-and-development" in p.broader}
    assert set(vocab.purposes["commercial-research"].broader) == {"commercial-purpose", "research-and-development"}
    assert vocab.purposes["direct-marketing"].broader == ("marketing",)
    assert {"service-provision", "marketing", "personalisation"} <= set(vocab.purposes)
    ours = {p.term: p for p in vocab.purposes.values() if p.source == "atlas-mlplugin"}
    assert set(ours) == {"model-training", "model-fine-tuning", "model-evaluation", "model-release",
                         "model-publication"}
    # model training is its own purpose, not a kind of research (docs/policy.md says why)
    assert vocab.purposes["model-training"].broader == () and ours["model-training"].iri is None
    assert ours["model-fine-tuning"].broader == ("model-training",)


def test_canonical_terms_are_unique_and_every_alias_names_one() -> None:
    concepts = [p.concept for p in vocabulary().purposes.values()]
    assert len({kebab(c) for c in concepts}) == len(concepts) > 120
    assert all(term in vocabulary().purposes for term in ALIASES.values())
    assert kebab("ImproveInternalCRMProcesses") == "improve-internal-crm-processes"


@pytest.mark.parametrize(("given", "canonical"), [
    ("model-training", "model-training"),
    ("model_training", "model-training"),
    ("Model Training", "model-training"),
    ("ModelTraining", "model-training"),
    ("Research", "research-and-development"),
    ("research", "research-and-development"),
    ("dpv:AcademicResearch", "academic-research"),
    ("https://w3id.org/dpv#AcademicResearch", "academic-research"),
    ("academic_research", "academic-research"),
    ("personalization", "personalisation"),
    ("commercial-product", "commercial-purpose"),
    ("service-improvement", "improve-existing-products-and-services"),
    ("  marketing ", "marketing"),
])
def test_spellings_and_aliases_give_the_canonical_term(given: str, canonical: str) -> None:
    assert canonical_purpose(given) == canonical


@pytest.mark.parametrize("term", sorted(vocabulary().purposes))
def test_every_purpose_round_trips_through_the_spellings_people_use(term: str) -> None:
    concept = vocabulary().purposes[term].concept
    for spelling in (term, term.upper().replace("-", "_"), term.replace("-", " "), concept, f"dpv:{concept}"):
        assert canonical_purpose(spelling) == term


def test_duplicates_collapse_in_order() -> None:
    assert canonical_purposes(["research", "model_training", "R&D"]) == ["research-and-development",
                                                                          "model-training"]


@pytest.mark.parametrize(("typo", "meant"), [("modle-training", "model-training"), ("marketting", "marketing"),
                                             ("acadmic research", "academic-research")])
def test_a_typo_is_an_error_naming_the_input_and_the_closest_terms(typo: str, meant: str) -> None:
    with pytest.raises(UnknownPurposeError) as caught:
        canonical_purpose(typo)
    assert caught.value.suggestions[0] == meant
    assert f"unknown purpose {typo!r}: did you mean {meant!r}" in str(caught.value)


def test_a_purpose_far_from_any_says_where_the_list_is() -> None:
    with pytest.raises(ValueError, match=r"unknown purpose 'quux'.*atlas-ml consent purposes"):
        canonical_purpose("quux")


# --------------------------------------------------------------------------------------------------
# matching through the hierarchy

@pytest.mark.parametrize(("broader", "narrower", "covers"), [
    ("research-and-development", "academic-research", True),    # consent to research covers academic research
    ("research", "academic-research", True),                    # through an alias too
    ("academic-research", "research-and-development", False),   # never upwards
    ("marketing", "direct-marketing", True),
    ("marketing", "targeted-advertising", True),                # transitively: via advertising
    ("commercial-purpose", "commercial-research", True),        # either of two broader concepts
    ("research-and-development", "commercial-research", True),
    ("marketing", "model-training", False),                     # unrelated
    ("research-and-development", "model-training", False),      # training is not a kind of research
    ("model-training", "model-fine-tuning", True),
    ("model-training", "model-training", True),
    ("legacy-free-text", "legacy-free-text", True),             # values stored before checking: only themselves
    ("legacy-free-text", "model-training", False),
])
def test_covers(broader: str, narrower: str, covers: bool) -> None:
    assert vocabulary().covers(broader, narrower) is covers


def test_one_consent_scope_for_several_records_keeps_what_every_record_allows() -> None:
    """A dataset under two consent records carries one ConsentScope: the purposes both allow, through the
    hierarchy (a set intersection lost academic-research here and warned on a release both consented to)."""
    from atlas_mlplugin.mapping.tags import consent_tags

    broad = ConsentRecordSpec(qualified_name="c:1", name="1", purposes=["research", "model-training"],
                              excluded_purposes=["marketing"])
    narrow = ConsentRecordSpec(qualified_name="c:2", name="2", purposes=["academic-research", "model-training"])
    [scope] = consent_tags("ds", [broad, narrow])
    assert scope["attributes"]["purposes"] == ["academic-research", "model-training"]
    assert scope["attributes"]["excludedPurposes"] == ["marketing"]
    [alone] = consent_tags("ds", [broad, broad])
    assert alone["attributes"]["purposes"] == ["model-training", "research-and-development"]


# --------------------------------------------------------------------------------------------------
# the API models


def test_consent_record_stores_canonical_terms() -> None:
    rec = ConsentRecordSpec(qualified_name="consent:x", name="x", purposes=["model_training", "Research"],
                            excluded_purposes=["Marketing"])
    assert rec.purposes == ["model-training", "research-and-development"]
    assert rec.excluded_purposes == ["marketing"]
    assert em.consent_entity(rec)["attributes"]["purposes"] == ["model-training", "research-and-development"]


@pytest.mark.parametrize("field", ["purposes", "excluded_purposes"])
def test_consent_record_rejects_a_misspelt_purpose(field: str) -> None:
    with pytest.raises(ValidationError, match=r"unknown purpose 'modle-training': did you mean 'model-training'"):
        ConsentRecordSpec.model_validate({"qualified_name": "consent:x", "name": "x", field: ["modle-training"]})


@pytest.mark.parametrize(("purposes", "excluded"), [(["Model Training"], ["model-training"]),
                                                   (["academic-research"], ["research"])])
def test_a_consent_record_cannot_allow_what_it_excludes(purposes: list[str], excluded: list[str]) -> None:
    with pytest.raises(ValidationError, match="both consented to and excluded"):
        ConsentRecordSpec(qualified_name="c", name="c", purposes=purposes, excluded_purposes=excluded)
    # a narrower exclusion inside a broader consent is the ordinary way to narrow it
    ConsentRecordSpec(qualified_name="c", name="c", purposes=["research"], excluded_purposes=["commercial-research"])


def test_training_run_and_release_context_check_their_purpose() -> None:
    run = TrainingRunSpec(run_id="r", name="r", inputs=["file:///d"], processing_purpose="Model Training")
    assert run.processing_purpose == "model-training"
    with pytest.raises(ValidationError, match="did you mean 'model-training'"):
        TrainingRunSpec(run_id="r", name="r", inputs=["file:///d"], processing_purpose="modle-training")
    assert ReleaseContext(purpose="ads").purpose == "advertising"
    with pytest.raises(ValidationError, match="did you mean 'marketing'"):
        ReleaseContext(purpose="marketting")


def test_records_stored_before_purposes_were_checked_still_load() -> None:
    """A consent record in Atlas with a free-text purpose must not become unreadable (its datasets could not
    be re-tagged); known spellings read as canonical terms, unknown ones are kept."""
    entity = {"typeName": "ml_consent_record", "attributes": {
        "qualifiedName": "consent:old", "name": "old", "purposes": ["Research", "our-own-thing"],
        "excludedPurposes": ["modle-training"]}}
    rec = em.consent_from_entity(entity)
    assert rec.purposes == ["research-and-development", "our-own-thing"]
    assert rec.excluded_purposes == ["modle-training"]
    spooled = ConsentRecordSpec.model_validate({"qualified_name": "c", "name": "c", "purposes": ["x-y"]},
                                               context={NAMES_NORMALIZED: True})
    assert spooled.purposes == ["x-y"]


def test_track_training_checks_the_purpose_before_training_starts() -> None:
    from atlas_mlplugin.hooks.training import track_training

    with pytest.raises(UnknownPurposeError, match="did you mean 'model-training'"):
        track_training("train", purpose="modle-training")


# --------------------------------------------------------------------------------------------------
# catalog and policy files


def test_catalog_file_names_file_line_and_the_closest_purpose(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        consent_records:
          - qualified_name: consent:panel
            name: panel
            purposes: [model-training]
            excluded_purposes: [modle-training]
        """), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    [issue] = caught.value.issues
    assert (issue.file, issue.line) == (str(path), 6)
    assert "excluded_purposes" in issue.field and "did you mean 'model-training'" in issue.message
    assert str(issue).startswith(f"{path}:6:")


TYPO = "unknown purpose 'marketting': did you mean 'marketing'"


@pytest.mark.parametrize(("rule", "message"), [
    ("when: {purpose: marketting}", TYPO),
    ("attributes: {excludedPurposes: {covers: marketting}}", TYPO),
    ("attributes: {excludedPurposes: {contains: marketting}}", TYPO),
    ("attributes: {excludedPurposes: {covers: $context.audience}}", "'$context.audience' is not a purpose"),
])
def test_policy_file_rejects_misspelt_purposes_with_file_and_line(tmp_path: Path, rule: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f"version: 1\nrules:\n  - {{id: r, tag: ConsentScope, severity: WARN, message: x, {rule}}}\n",
                    encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    [issue] = caught.value.issues
    assert issue.line == 3 and message in issue.message
    assert str(issue).startswith(f"{path}:3:")


def test_policy_purposes_are_canonical_and_match_narrower_release_purposes(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\nrules:\n  - {id: r, tag: ConsentScope, severity: WARN, message: x,\n"
                    "     when: {purpose: Marketing}, attributes: {purposes: {contains: research}}}\n",
                    encoding="utf-8")
    policy = load_policy(path)
    scope = consent(["research-and-development"])
    assert fired(scope, purpose="direct-marketing", policy=policy) == [("r", "WARN")]
    assert fired(scope, purpose="model-training", policy=policy) == []


# --------------------------------------------------------------------------------------------------
# the release check


def consent(purposes: list[str], excluded: list[str] | None = None) -> UpstreamTag:
    return UpstreamTag(type_name="ConsentScope", attributes={"purposes": purposes, "excludedPurposes": excluded or [],
                                                             "consentRecord": "consent:panel", "sourceDataset": "ds"},
                       source_guid="g", source_qualified_name="ds", source_status="ACTIVE", path=("ds", "run", "m"))


def fired(scope: UpstreamTag, policy: Any = None, **context: Any) -> list[tuple[str, str]]:
    evidence = Evidence(model_guid="m", model_qualified_name="m", tags=[scope])
    report = evaluate(evidence, ReleaseContext(**context), policy or load_policy(), now=NOW)
    return [(f.rule_id, f.severity) for f in report.findings]


@pytest.mark.parametrize(("purposes", "excluded", "purpose", "expected"), [
    # consent to a broader purpose covers the narrower release purpose (was a WARN: not among the consented)
    (["model-training", "research-and-development"], [], "academic-research", []),
    (["model-training", "research"], [], "academic-research", []),  # stored before checking, alias spelling
    # consent to a narrower purpose does not cover a broader one
    (["model-training", "academic-research"], [], "research-and-development",
     [("consent-lacks-release-purpose", "WARN")]),
    # an excluded broader purpose excludes the narrower release purpose (was only a WARN)
    (["model-training"], ["marketing"], "direct-marketing", [("consent-excludes-release-purpose", "BLOCK")]),
    # an excluded narrower purpose inside a broad release purpose: say the purpose more narrowly
    (["model-training", "research-and-development"], ["commercial-research"], "research-and-development",
     [("consent-exclusion-within-release-purpose", "WARN")]),
    (["model-training", "research-and-development"], ["commercial-research"], "academic-research", []),
    # unrelated purposes do not match
    (["model-training"], ["marketing"], "academic-research", [("consent-lacks-release-purpose", "WARN")]),
    # training: consent must cover model training itself; research does not
    (["research-and-development"], [], None, [("consent-excludes-training", "BLOCK")]),
    (["model-training"], [], None, []),
    (["model-training"], ["Model Training"], None, [("consent-excludes-training", "BLOCK")]),
])
def test_release_check_matches_purposes_through_the_taxonomy(
        purposes: list[str], excluded: list[str], purpose: str | None, expected: list[tuple[str, str]]) -> None:
    assert fired(consent(purposes, excluded), purpose=purpose) == expected


# --------------------------------------------------------------------------------------------------
# the CLI


@pytest.mark.parametrize("argv", [
    ["consent", "add", "-q", "consent:x", "--name", "x", "--purpose", "model-training",
     "--excluded-purpose", "modle-training"],
    ["consent", "add", "-q", "consent:x", "--name", "x", "--purpose", "modle-training"],
    ["check", "file:///m", "--purpose", "modle-training"],
])
def test_cli_rejects_a_misspelt_purpose_before_asking_atlas(argv: list[str]) -> None:
    # An address nothing listens on: the error must come before any request.
    result = CliRunner().invoke(cli, argv, env={"ATLAS_URL": "http://127.0.0.1:9", "ATLAS_ML_CONFIG": None})
    assert result.exit_code == 2, result.output
    assert "unknown purpose 'modle-training': did you mean 'model-training'?" in result.output
    assert "--purpose" in result.output or "--excluded-purpose" in result.output


def test_cli_lists_the_purposes_of_a_branch() -> None:
    result = CliRunner().invoke(cli, ["consent", "purposes", "--under", "research"])
    assert result.exit_code == 0, result.output
    terms = [line.split()[0] for line in result.output.splitlines()[1:]]
    assert terms[0] == "academic-research" and "research-and-development" in terms
    assert "marketing" not in terms and "model-training" not in terms


def test_consent_past_its_expiry_time_is_withdrawn_not_a_scope_that_softens_the_check():
    # A record whose expiry passed while its status still says "given" must not yield a ConsentScope:
    # the policy would read it as covering consent and turn a personal-data BLOCK into a WARN.
    from atlas_mlplugin.mapping import names as n
    from atlas_mlplugin.mapping.tags import consent_tags

    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    lapsed = ConsentRecordSpec(qualified_name="consent:lapsed", name="lapsed", purposes=["model-training"],
                               expiry_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    current = lapsed.model_copy(update={"qualified_name": "consent:current",
                                        "expiry_time": datetime(2027, 1, 1, tzinfo=timezone.utc)})
    assert [t["typeName"] for t in consent_tags("ds", [lapsed], now=now)] == [n.CONSENT_WITHDRAWN]
    [withdrawn] = consent_tags("ds", [lapsed], now=now)
    assert withdrawn["attributes"]["withdrawnTime"] == int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
    tags = {t["typeName"]: t for t in consent_tags("ds", [lapsed, current], now=now)}
    assert tags[n.CONSENT_SCOPE]["attributes"]["consentRecord"] == "consent:current"
    assert tags[n.CONSENT_WITHDRAWN]["attributes"]["consentRecord"] == "consent:lapsed"
