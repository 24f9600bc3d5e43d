"""Model licenses in the license catalog (every row with its source) and the tags a model's own license
derives: what a base model's license obliges must reach the model and everything built from it."""

from __future__ import annotations

import csv
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin.catalog.document import CatalogDocument
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import model_entity
from atlas_mlplugin.mapping.tags import LICENSE_TAG_TYPES, license_tags, model_license_tags
from atlas_mlplugin.model import ModelSpec
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.model import Evidence, ReleaseContext
from atlas_mlplugin.policy.rules import load_policy

# Ids of our rows that are on the SPDX License List 3.28 (checked against spdx/license-list-XML src/, tag
# v3.28.0); the list has no Llama, OpenRAIL or Gemma license, so those are LicenseRef-... ids.
SPDX_LISTED = {"CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-ND-4.0",
               "CC-BY-NC-ND-4.0", "CDLA-Permissive-2.0", "CDLA-Sharing-1.0", "ODC-By-1.0", "ODbL-1.0", "PDDL-1.0",
               "C-UDA-1.0", "O-UDA-1.0", "Apache-2.0", "MIT"}
# SPDX 2.3 Annex D: idstring = 1*(ALPHA / DIGIT / "-" / "."), a custom license "LicenseRef-" idstring.
LICENSE_REF = re.compile(r"^LicenseRef-[A-Za-z0-9.\-]+$")
LLAMA_31 = "LicenseRef-llama-3.1-community"


@pytest.fixture(scope="module")
def catalog() -> LicenseCatalog:
    return LicenseCatalog.from_csv()


def rows() -> list[dict[str, str]]:
    text = resources.files("atlas_mlplugin.licenses").joinpath("licenses.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def by_type(tags: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["typeName"]: t["attributes"] for t in tags}


# --- the catalog rows ----------------------------------------------------------------------------------
def test_every_row_names_the_url_it_was_read_from() -> None:
    for row in rows():
        assert re.match(r"^https://\S+$", row["source"]), f"{row['spdx_id']}: no source URL"


def test_ids_are_spdx_list_ids_or_well_formed_license_refs() -> None:
    for row in rows():
        spdx_id = row["spdx_id"]
        if spdx_id == "NOASSERTION":
            continue
        if spdx_id.startswith("LicenseRef-"):
            assert LICENSE_REF.match(spdx_id), spdx_id
            assert "spdx.org/licenses" not in row["source"], f"{spdx_id} is not on the SPDX list"
        else:
            assert spdx_id in SPDX_LISTED, f"{spdx_id} is not an SPDX License List id: use LicenseRef-..."
            assert row["source"] == f"https://spdx.org/licenses/{spdx_id}.html"


@pytest.mark.parametrize("spdx_id", ["Apache-2.0", "MIT", "LicenseRef-openrail-m", "LicenseRef-creativeml-openrail-m",
                                     "LicenseRef-bigscience-openrail-m", "LicenseRef-llama-2-community",
                                     "LicenseRef-llama-3-community", LLAMA_31, "LicenseRef-llama-3.2-community",
                                     "LicenseRef-llama-3.3-community", "LicenseRef-gemma-terms", "CC-BY-NC-4.0",
                                     "ODC-By-1.0", "ODbL-1.0", "CDLA-Permissive-2.0", "CDLA-Sharing-1.0", "C-UDA-1.0",
                                     "LicenseRef-research-only"])
def test_the_issues_licenses_are_in_the_catalog(catalog: LicenseCatalog, spdx_id: str) -> None:
    assert catalog.get(spdx_id).source


def test_hugging_face_card_ids_are_aliases(catalog: LicenseCatalog) -> None:
    assert catalog.get("llama3.1").spdx_id == LLAMA_31
    assert catalog.get("gemma").spdx_id == "LicenseRef-gemma-terms"
    assert catalog.get("openrail").spdx_id == "LicenseRef-openrail-m"
    assert catalog.get("apache-2.0").spdx_id == "Apache-2.0"


@pytest.mark.parametrize("spdx_id", ["LicenseRef-llama-2-community", "LicenseRef-llama-3-community", LLAMA_31,
                                     "LicenseRef-llama-3.2-community", "LicenseRef-llama-3.3-community"])
def test_llama_licenses_have_the_700m_threshold_and_an_acceptable_use_policy(catalog: LicenseCatalog,
                                                                              spdx_id: str) -> None:
    lic = catalog.get(spdx_id)
    assert lic.user_threshold == 700_000_000
    assert lic.use_policy_url and "use-policy" in lic.use_policy_url
    assert lic.attribution_required and lic.license_text_must_accompany and lic.use_category == "commercial"
    # Llama 2 has a Notice file but no naming clause; from Llama 3 on, "Built with ..." and the name prefix.
    assert bool(lic.naming_requirement) is (spdx_id != "LicenseRef-llama-2-community")


def test_open_rail_and_gemma_pass_use_restrictions_on_but_apache_and_mit_do_not(catalog: LicenseCatalog) -> None:
    for spdx_id in ("LicenseRef-openrail-m", "LicenseRef-creativeml-openrail-m", "LicenseRef-bigscience-openrail-m",
                    "LicenseRef-gemma-terms"):
        assert catalog.get(spdx_id).use_policy_url, spdx_id
    for spdx_id in ("Apache-2.0", "MIT"):
        lic = catalog.get(spdx_id)
        assert not lic.use_policy_url and not lic.user_threshold and lic.use_category == "commercial"


# --- tags a model's own license derives ------------------------------------------------------------------
def base_model(license_id: str | None) -> ModelSpec:
    return ModelSpec(qualified_name="hf://meta-llama/Llama-3.1-8B", name="Llama 3.1 8B", license=license_id,
                     download_location="https://huggingface.co/meta-llama/Llama-3.1-8B")


def test_a_llama_base_model_carries_use_restrictions_naming_and_threshold(catalog: LicenseCatalog) -> None:
    model = base_model(LLAMA_31)
    tags = by_type(model_license_tags(model, catalog.get(LLAMA_31)))
    assert set(tags) == {n.USE_RESTRICTIONS, n.NAMING_REQUIREMENT, n.USER_THRESHOLD, n.ATTRIBUTION_REQUIRED,
                         n.LICENSE_TEXT_REQUIRED}
    for attrs in tags.values():  # the model is the source the fine-tunes will see
        assert attrs["sourceDataset"] == model.qualified_name and attrs["licenseId"] == LLAMA_31
    assert tags[n.USE_RESTRICTIONS]["usePolicyUrl"] == "https://llama.meta.com/llama3_1/use-policy"
    assert "Built with Llama" in tags[n.NAMING_REQUIREMENT]["requirement"]
    assert tags[n.USER_THRESHOLD]["monthlyActiveUsers"] == 700_000_000
    assert tags[n.ATTRIBUTION_REQUIRED]["title"] == "Llama 3.1 8B"
    assert tags[n.ATTRIBUTION_REQUIRED]["url"] == model.download_location


def test_cc_by_nc_weights_are_non_commercial(catalog: LicenseCatalog) -> None:
    tags = by_type(model_license_tags(base_model("CC-BY-NC-4.0"), catalog.get("CC-BY-NC-4.0")))
    assert n.NON_COMMERCIAL in tags


def test_a_model_without_a_license_has_no_license_tags_of_its_own() -> None:
    # Trained in-house: its terms come from its inputs, not from an UnknownLicense of its own.
    assert model_license_tags(base_model(None), None) == []


def test_a_model_whose_license_nobody_recorded_is_unknown(catalog: LicenseCatalog) -> None:
    tags = by_type(model_license_tags(base_model("NOASSERTION"), catalog.get("NOASSERTION")))
    assert set(tags) == {n.UNKNOWN_LICENSE}


def test_c_uda_computational_use_only_is_not_passed_on(catalog: LicenseCatalog) -> None:
    # C-UDA binds the data's user only; its Results (trained models) are unrestricted (Sec 2.2).
    from atlas_mlplugin.model import DatasetSpec

    ds = DatasetSpec(qualified_name="s3://lake/c-uda", name="c", license="C-UDA-1.0")
    assert n.USE_RESTRICTIONS not in by_type(license_tags(ds, catalog.get("C-UDA-1.0")))


def test_the_model_entity_records_its_license(catalog: LicenseCatalog) -> None:
    lic = catalog.get("llama3.1")
    entity = model_entity(base_model("llama3.1"), lic)
    assert entity["attributes"]["declaredLicense"] == LLAMA_31
    assert entity["relationshipAttributes"][n.MODEL_LICENSES] == [
        {"typeName": n.ML_DATA_LICENSE, "uniqueAttributes": {n.QUALIFIED_NAME: f"spdx:{LLAMA_31}"}}]
    assert "relationshipAttributes" not in model_entity(base_model(None))  # unset: Atlas keeps what it has


def test_derived_model_tags_are_all_managed_license_tags(catalog: LicenseCatalog) -> None:
    for lic in catalog.all():
        tags = model_license_tags(base_model(lic.spdx_id), lic)
        assert {t["typeName"] for t in tags} <= LICENSE_TAG_TYPES, lic.spdx_id


# --- what the check says about them ------------------------------------------------------------------------
def findings_for(license_id: str, context: ReleaseContext) -> dict[str, Any]:
    from atlas_mlplugin.model import UpstreamTag

    catalog = LicenseCatalog.from_csv()
    model = base_model(license_id)
    tags = [UpstreamTag(type_name=t["typeName"], attributes=t["attributes"], source_guid="g-base",
                        source_qualified_name=model.qualified_name, source_type="ml_model", direct=True,
                        path=(model.qualified_name,))
            for t in model_license_tags(model, catalog.get(license_id))]
    evidence = Evidence(model_guid="g-base", model_qualified_name=model.qualified_name, tags=tags)
    report = evaluate(evidence, context, load_policy())
    return {f.rule_id: f for f in report.findings}


def test_a_public_commercial_release_lists_the_llama_obligations() -> None:
    found = findings_for(LLAMA_31, ReleaseContext(audience="public", commercial=True))
    assert {"use-restrictions-pass-on", "naming-requirement", "user-threshold"} <= set(found)
    assert "https://llama.meta.com/llama3_1/use-policy" in found["use-restrictions-pass-on"].remedy
    assert "700000000" in found["user-threshold"].message
    assert "Built with Llama" in found["naming-requirement"].message
    assert all(found[r].severity == "WARN" for r in ("use-restrictions-pass-on", "naming-requirement",
                                                       "user-threshold"))


def test_an_internal_release_owes_no_pass_on_and_a_non_commercial_one_no_threshold() -> None:
    internal = findings_for(LLAMA_31, ReleaseContext(audience="internal", commercial=False))
    assert not {"use-restrictions-pass-on", "naming-requirement", "user-threshold"} & set(internal)
    public_free = findings_for(LLAMA_31, ReleaseContext(audience="public", commercial=False))
    assert "user-threshold" not in public_free and "use-restrictions-pass-on" in public_free


def test_non_commercial_weights_block_a_commercial_release() -> None:
    found = findings_for("CC-BY-NC-4.0", ReleaseContext(audience="partner", commercial=True))
    assert found["non-commercial-in-commercial-release"].severity == "BLOCK"


# --- catalog files --------------------------------------------------------------------------------------
def test_a_catalog_model_with_an_unknown_license_is_a_problem(tmp_path: Path) -> None:
    doc = CatalogDocument.model_validate({
        "version": 1, "datasets": [{"qualified_name": "s3://d", "name": "d", "license": "CC0-1.0"}],
        "training_runs": [{"run_id": "r", "name": "r", "inputs": ["s3://d"],
                           "outputs": [{"qualified_name": "m", "name": "m", "license": "LicenseRef-llama-3.1"}]}]})
    problems = doc.reference_problems()
    assert [p.loc for p in problems] == [("training_runs", 0, "outputs", 0, "license")]
    assert LLAMA_31 in problems[0].message  # the close match is suggested


# --- the CLI --------------------------------------------------------------------------------------------
def test_license_list_shows_the_model_licenses_and_their_terms() -> None:
    from click.testing import CliRunner

    from atlas_mlplugin.cli.main import cli

    result = CliRunner().invoke(cli, ["license", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert {"naming", "use-policy", "user-threshold"} <= set(lines[LLAMA_31].replace(",", " ").split())
    assert "use-policy" in lines["LicenseRef-gemma-terms"] and "user-threshold" not in lines["Apache-2.0"]
    shown = CliRunner().invoke(cli, ["license", "show", "llama3.1", "--format", "json"])
    assert json.loads(shown.output)["source"].startswith("https://github.com/meta-llama/llama-models/")


# --- the kafka transport's message ------------------------------------------------------------------------
def test_a_hook_message_carries_the_models_license_and_its_tags_when_it_creates_the_model(
        catalog: LicenseCatalog) -> None:
    from atlas_mlplugin.model import TrainingRunSpec
    from atlas_mlplugin.transport.hooks import message, training_run_batch

    model = base_model(LLAMA_31)
    run = TrainingRunSpec(run_id="r", name="r", inputs=["file:///d"], outputs=[model])
    licenses = {model.qualified_name: catalog.get(LLAMA_31)}
    license_body, created, _ = training_run_batch(run, [], new=True, licenses=licenses,
                                                  new_models=[model.qualified_name])
    assert license_body["attributes"]["qualifiedName"] == f"spdx:{LLAMA_31}"
    assert {c["typeName"] for c in created["classifications"]} >= {n.USE_RESTRICTIONS, n.USER_THRESHOLD}
    # An existing model's tags change over REST (Atlas ignores them in an update message); its license link goes.
    _, updated, _ = training_run_batch(run, [], new=False, licenses=licenses)
    assert "classifications" not in updated and updated["attributes"]["declaredLicense"] == LLAMA_31
    # In one message the model's license reference points at the license entity of the same batch.
    linked = message(training_run_batch(run, [], new=True, licenses=licenses)).entities.entities
    assert linked[1]["relationshipAttributes"][n.MODEL_LICENSES] == [{"guid": linked[0]["guid"],
                                                                      "typeName": n.ML_DATA_LICENSE}]


def test_the_notice_a_llama_or_gemma_license_words_is_the_credit_the_notice_file_carries(
        catalog: LicenseCatalog) -> None:
    from atlas_mlplugin.policy.render import render_notice

    tags = by_type(model_license_tags(base_model(LLAMA_31), catalog.get(LLAMA_31)))
    # As the license words it (Sec 1.b.iii), copyright sign included.
    required = ("Llama 3.1 is licensed under the Llama 3.1 Community License, Copyright \u00a9 Meta Platforms, Inc. "
                "All Rights Reserved.")
    assert tags[n.ATTRIBUTION_REQUIRED]["attributionText"] == required
    gemma = by_type(model_license_tags(base_model("gemma"), catalog.get("gemma")))
    assert gemma[n.ATTRIBUTION_REQUIRED]["attributionText"].startswith("Gemma is provided under and subject to")
    # Licenses without a worded notice keep the title-author-source-license credit line.
    apache = by_type(model_license_tags(base_model("Apache-2.0"), catalog.get("Apache-2.0")))
    assert apache[n.ATTRIBUTION_REQUIRED]["attributionText"].startswith('"Llama 3.1 8B"')

    from atlas_mlplugin.model import UpstreamTag

    model = base_model(LLAMA_31)
    evidence = Evidence(model_guid="g", model_qualified_name="models/tuned", tags=[
        UpstreamTag(type_name=t["typeName"], attributes=t["attributes"], source_guid="g-base",
                    source_qualified_name=model.qualified_name)
        for t in model_license_tags(model, catalog.get(LLAMA_31))])
    notice = render_notice(evaluate(evidence, ReleaseContext(audience="public"), load_policy()))
    assert f"Attribution: {required}" in notice


def test_a_catalog_may_repeat_a_built_in_license_with_its_terms_without_its_source(tmp_path: Path) -> None:
    builtin = LicenseCatalog.from_csv().get("CC-BY-4.0").model_dump(exclude={"source", "hf_license"})
    doc = CatalogDocument.model_validate({"version": 1, "licenses": [builtin]})
    assert doc.reference_problems() == []
    changed = CatalogDocument.model_validate({"version": 1, "licenses": [{**builtin, "share_alike": True}]})
    assert "built-in" in changed.reference_problems()[0].message
