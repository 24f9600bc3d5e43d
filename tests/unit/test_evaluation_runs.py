"""Evaluation is not training: the evaluation run's spec, its Atlas entity, which upstream datasets are
evaluation data, and how the check weighs their tags (docs/policy.md, "Evaluation data"). The real Atlas
side is tests/integration/test_evaluation_runs.py."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from atlas_mlplugin.catalog.document import CatalogDocument
from atlas_mlplugin.mapping.evaluation import evaluation_data_edges, evaluation_run_entity, no_propagation_relationship
from atlas_mlplugin.model import EvaluationRunSpec, ModelSpec
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.model import CheckReport, Evidence, ReleaseContext, UpstreamTag
from atlas_mlplugin.policy.rules import load_policy, parse_policy
from atlas_mlplugin.reads.evaluations import evaluation_datasets, training_datasets
from atlas_mlplugin.reads.lineage import Graph
from tests.unit.test_mapping_typedefs import TYPEDEFS

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CERTIFIED = "models/face/1#certified"
BENCH = "file:///bench/lfw-like"
TRAIN = "file:///data/faces"


def spec(**changes: Any) -> EvaluationRunSpec:
    fields: dict[str, Any] = dict(run_id="e1", name="certify face", model="models/face/1", datasets=[BENCH],
                                  outputs=[ModelSpec(qualified_name=CERTIFIED, name="face certified")],
                                  metrics={"accuracy": 0.993})
    return EvaluationRunSpec(**{**fields, **changes})


# --- spec and mapping ---------------------------------------------------------------------------------
def test_an_evaluation_needs_evaluation_data_and_a_certified_version_other_than_the_model() -> None:
    with pytest.raises(ValidationError, match="datasets"):
        spec(datasets=[])
    with pytest.raises(ValidationError, match="outputs"):
        spec(outputs=[])
    with pytest.raises(ValidationError, match="name the certified version differently"):
        spec(outputs=[ModelSpec(qualified_name="models/face/1", name="same")])


def test_the_entity_is_a_process_from_model_and_benchmarks_to_the_certified_version() -> None:
    entity = evaluation_run_entity(spec(datasets=[BENCH, "s3://bench/other"]), {"s3://bench/other": "hive_table"})
    attrs = entity["attributes"]
    assert entity["typeName"] == "ml_evaluation_run" and attrs["qualifiedName"] == "ml-eval:e1"
    assert [(r["typeName"], r["uniqueAttributes"]["qualifiedName"]) for r in attrs["inputs"]] == [
        ("ml_model", "models/face/1"), ("ml_dataset", BENCH), ("hive_table", "s3://bench/other")]
    assert [r["uniqueAttributes"]["qualifiedName"] for r in attrs["outputs"]] == [CERTIFIED]
    assert attrs["metrics"] == {"accuracy": "0.993"}  # Atlas map<string,string>
    assert TYPEDEFS.problems(evaluation_run_entity(spec()), "entity") == []
    assert TYPEDEFS.problems(no_propagation_relationship({"guid": "g", "typeName": "dataset_process_inputs"}),
                             "relationship") == []


def test_only_the_evaluation_data_edges_stop_propagating() -> None:
    process = {"relationshipAttributes": {"inputs": [
        {"guid": "m", "typeName": "ml_model", "relationshipGuid": "r-m"},
        {"guid": "b", "typeName": "ml_dataset", "relationshipGuid": "r-b"},
        {"guid": "old", "typeName": "ml_dataset", "relationshipGuid": "r-old", "relationshipStatus": "DELETED"}]}}
    assert [r["relationshipGuid"] for r in evaluation_data_edges(process)] == ["r-b"]
    assert no_propagation_relationship({"guid": "r-b", "typeName": "dataset_process_inputs",
                                        "propagateTags": "TWO_TO_ONE"})["propagateTags"] == "NONE"


# --- which upstream datasets are evaluation data --------------------------------------------------------
def graph(edges: list[tuple[str, str]], types: dict[str, str], root: str) -> Graph:
    return Graph(root=root, nodes={g: {"guid": g, "typeName": t, "attributes": {"qualifiedName": g}}
                                   for g, t in types.items()}, edges=edges)


TYPES = {"train": "ml_dataset", "run": "ml_training_run", "base": "ml_model", "bench": "ml_dataset",
         "eval": "ml_evaluation_run", "cert": "ml_model", "bench2": "ml_dataset", "eval2": "ml_evaluation_run",
         "cert2": "ml_model", "tune": "ml_training_run", "tuned": "ml_model"}
EDGES = [("train", "run"), ("run", "base"), ("base", "eval"), ("bench", "eval"), ("eval", "cert"),
         ("cert", "eval2"), ("bench2", "eval2"), ("eval2", "cert2"), ("cert2", "tune"), ("train", "tune"),
         ("tune", "tuned")]


def test_evaluation_data_is_found_through_chains_of_certifications_with_their_paths() -> None:
    found = evaluation_datasets(graph(EDGES, TYPES, "cert2"))
    assert found == {"bench2": ["bench2", "eval2", "cert2"], "bench": ["bench", "eval", "cert", "eval2", "cert2"]}
    assert training_datasets(graph(EDGES, TYPES, "cert2")) == ["base", "cert", "train"]


def test_a_model_fine_tuned_from_a_certified_version_has_no_evaluation_data_of_its_own() -> None:
    # Its weights changed: the results on the benchmarks describe other weights.
    assert evaluation_datasets(graph(EDGES, TYPES, "tuned")) == {}
    assert evaluation_datasets(graph(EDGES, TYPES, "base")) == {}


def test_a_benchmark_that_was_also_trained_on_stays_training_data() -> None:
    edges = [("bench", "run"), ("run", "base"), ("base", "eval"), ("bench", "eval"), ("eval", "cert")]
    g = graph(edges, {**TYPES}, "cert")
    assert set(evaluation_datasets(g)) == {"bench"} and "bench" in training_datasets(g)


# --- the check ------------------------------------------------------------------------------------------
def tag(type_name: str, source: str = BENCH, **attributes: Any) -> UpstreamTag:
    via = ("ml-eval:e1",) if source == BENCH else ("ml-run:train", "models/face/1", "ml-eval:e1")
    return UpstreamTag(type_name=type_name, attributes={"sourceDataset": source, **attributes},
                       source_guid=f"guid:{source}", source_qualified_name=source, source_status="ACTIVE",
                       path=(source, *via, CERTIFIED))


def check(training: list[UpstreamTag], evaluation: list[UpstreamTag], policy: Any = None,
          **context: Any) -> CheckReport:
    evidence = Evidence(model_guid="guid:cert", model_qualified_name=CERTIFIED, model_name="face certified",
                        tags=training, evaluation_tags=evaluation)
    return evaluate(evidence, ReleaseContext(**context), policy or load_policy(), now=NOW)


def fired(report: CheckReport) -> set[tuple[str, str]]:
    return {(f.rule_id, f.severity) for f in report.findings}


COMMERCIAL: dict[str, Any] = {"audience": "public", "commercial": True}
INTERNAL: dict[str, Any] = {"audience": "internal", "commercial": False}

# rule id -> (tag of the evaluation data, its attributes, a context where it fires, one where it must not)
EVALUATION_RULE_CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "evaluation-research-only-commercial-claim": ("ResearchOnly", {"licenseId": "NOASSERTION"},
                                                  {"audience": "internal", "commercial": True}, {"audience": "public"}),
    "evaluation-research-only-external": ("ResearchOnly", {"licenseId": "NOASSERTION"}, {"audience": "partner"},
                                          COMMERCIAL),
    "evaluation-research-only-internal": ("ResearchOnly", {"licenseId": "NOASSERTION"}, INTERNAL, COMMERCIAL),
    "evaluation-non-commercial-commercial-claim": ("NonCommercial", {"licenseId": "CC-BY-NC-4.0"}, COMMERCIAL,
                                                   {"audience": "public"}),
    "evaluation-unknown-license-commercial-claim": ("UnknownLicense", {"licenseId": "NOASSERTION"}, COMMERCIAL,
                                                    {"audience": "public"}),
    "evaluation-retracted-data": ("Retracted", {"reason": "consent problems"}, INTERNAL, {}),
    "evaluation-data-shipped-personal-data": ("PersonalData", {"categories": ["face"]},
                                              {"audience": "public", "ships": ["weights", "eval-data"]},
                                              {"audience": "public"}),
}


def test_every_evaluation_rule_has_a_case() -> None:
    assert set(EVALUATION_RULE_CASES) == {r.id for r in load_policy().rules if r.via == "evaluation"}


@pytest.mark.parametrize("rule_id", sorted(EVALUATION_RULE_CASES))
def test_evaluation_rule_fires_on_the_evaluation_data_in_its_context_only(rule_id: str) -> None:
    type_name, attributes, context, other = EVALUATION_RULE_CASES[rule_id]
    report = check([], [tag(type_name, **attributes)], **context)
    finding = next(f for f in report.findings if f.rule_id == rule_id)
    assert finding.source_qualified_name == BENCH and finding.path == (BENCH, "ml-eval:e1", CERTIFIED)
    if rule_id != "evaluation-retracted-data":  # fires in every context
        assert rule_id not in {f.rule_id for f in check([], [tag(type_name, **attributes)], **other).findings}
    # The same tag on what the model was built from is training data: the evaluation rule stays silent.
    assert rule_id not in {f.rule_id for f in check([tag(type_name, TRAIN, **attributes)], [], **context).findings}


def test_a_commercial_claim_on_a_research_only_benchmark_says_what_to_do() -> None:
    report = check([], [tag("ResearchOnly", licenseId="NOASSERTION")], **COMMERCIAL)
    assert report.verdict == "BLOCK"
    [finding] = report.findings
    assert finding.message == (f"face certified was certified on research-only data {BENCH} (NOASSERTION): a "
                               "commercial release may not claim these results.")
    assert finding.remedy and finding.remedy.startswith("Re-evaluate on data licensed for commercial use, or drop "
                                                        "the claim")


def test_personal_data_and_obligations_of_a_benchmark_are_not_the_weights() -> None:
    benchmark = [tag("PersonalData", categories=["face"]), tag("SpecialCategoryData", categories=["biometric"]),
                 tag("AttributionRequired", licenseId="CC-BY-4.0", title="LFW-like", creator="Bench Lab"),
                 tag("ShareAlike", licenseId="CC-BY-SA-4.0"), tag("NoDerivatives", licenseId="CC-BY-ND-4.0"),
                 tag("LicenseTextRequired", licenseId="CDLA-Permissive-2.0"),
                 tag("ConsentScope", purposes=["academic-research"], excludedPurposes=["model-training"])]
    report = check([], benchmark, **COMMERCIAL)
    assert (report.verdict, report.findings) == ("PASS", [])
    assert report.obligations.attributions == [] and report.obligations.license_texts == []
    # Whereas the same tags on training data give their findings and obligations.
    trained = check([t.model_copy(update={"source_guid": f"guid:{TRAIN}", "source_qualified_name": TRAIN})
                     for t in benchmark], [], **COMMERCIAL)
    assert trained.verdict == "BLOCK" and trained.obligations.attributions and trained.obligations.license_texts


def test_a_rule_without_via_looks_at_training_data_only_and_via_evaluation_is_for_own_rules_too() -> None:
    policy = parse_policy("""version: 1
rules:
  - {id: any-research, tag: ResearchOnly, severity: WARN, message: "{source}", remedy: r}
  - {id: bench-research, tag: ResearchOnly, via: evaluation, severity: BLOCK, message: "{source}", remedy: r}
""")
    assert fired(check([], [tag("ResearchOnly")], policy)) == {("bench-research", "BLOCK")}
    assert fired(check([tag("ResearchOnly", TRAIN)], [], policy)) == {("any-research", "WARN")}
    with pytest.raises(ValueError, match="via"):
        parse_policy("version: 1\nrules:\n  - {id: x, tag: ResearchOnly, via: benchmark, severity: WARN, "
                     "message: m, remedy: r}\n")


# --- the catalog section --------------------------------------------------------------------------------
def doc(evaluations: list[dict[str, Any]], models: list[dict[str, Any]] | None = None) -> CatalogDocument:
    return CatalogDocument.model_validate({
        "version": 1,
        "datasets": [{"qualified_name": TRAIN, "name": "faces"}, {"qualified_name": BENCH, "name": "lfw-like",
                                                                  "research_only": True}],
        "models": models if models is not None else [{"qualified_name": "models/face/1", "name": "face"}],
        "training_runs": [{"run_id": "t", "name": "t", "inputs": [TRAIN], "outputs": ["models/face/1"]}],
        "evaluations": evaluations})


EVALUATION = {"run_id": "e1", "name": "certify", "model": "models/face/1", "datasets": [BENCH],
              "outputs": [{"qualified_name": CERTIFIED, "name": "certified"}]}


def test_a_catalog_evaluation_resolves_outputs_by_reference_or_inline() -> None:
    by_reference = doc([{**EVALUATION, "outputs": [CERTIFIED]}],
                       [{"qualified_name": "models/face/1", "name": "face"}, {"qualified_name": CERTIFIED,
                                                                              "name": "certified"}])
    assert by_reference.reference_problems() == []
    [resolved] = by_reference.resolved_evaluations()
    assert resolved.outputs[0].name == "certified" and resolved.qualified_name == "ml-eval:e1"
    assert doc([EVALUATION]).reference_problems() == []


def test_catalog_evaluation_references_are_checked() -> None:
    problems = doc([{**EVALUATION, "model": "models/face/2", "datasets": ["file:///bench/lfw-lik"]},
                    {**EVALUATION, "outputs": [{"qualified_name": "models/face/3", "name": "c"}]}]).reference_problems()
    by_loc = {p.loc: p.message for p in problems}
    assert "is not a model of this file" in by_loc[("evaluations", 0, "model")]
    assert "Did you mean: " in by_loc[("evaluations", 0, "model")] and "models/face/1," in by_loc[
        ("evaluations", 0, "model")]
    assert "Did you mean: file:///bench/lfw-like?" in by_loc[("evaluations", 0, "datasets", 0)]
    assert "duplicate evaluation 'e1'" in by_loc[("evaluations", 1, "run_id")]
    # A model of Atlas, named with external references allowed, is fine.
    assert doc([{**EVALUATION, "model": "models/face/2"}]).reference_problems(allow_external_refs=True) == []


def test_an_evaluation_of_a_certified_version_is_written_after_the_evaluation_that_certifies_it() -> None:
    from atlas_mlplugin.catalog.apply import _certified_first

    second = spec(run_id="e2", model=CERTIFIED, outputs=[ModelSpec(qualified_name=CERTIFIED + "2", name="c2")])
    third = spec(run_id="e3", model="models/other", outputs=[ModelSpec(qualified_name="models/other#c", name="c")])
    assert [e.run_id for e in _certified_first([second, spec(), third])] == ["e1", "e3", "e2"]
