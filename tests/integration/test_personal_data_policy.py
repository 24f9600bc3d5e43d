"""The default policy's personal-data cases on the real Atlas, as a user meets them: one catalog (consent
records, datasets, an attested anonymization, models and their training runs) applied with `atlas-ml
apply`, then `atlas-ml check` per case. One test per distinct outcome; the full table of cases is
tests/unit/test_policy_personal_data.py, the reasoning docs/policy.md, "Personal data"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.cli.main import cli
from tests.integration.stories import CatalogStory

pytestmark = pytest.mark.integration

# model name -> (dataset facts in the catalog, the consent record it names or None)
CASES = {
    "no-consent": ("personal_data_categories: [email, name]", None),
    "consented": ("personal_data_categories: [email, name]", "covers"),
    "training-only": ("personal_data_categories: [email, name]", "training-only"),
    "withdrawn": ("personal_data_categories: [email, name]", "withdrawn"),
    "health": ("special_categories: [health]", None),
    "health-consented": ("special_categories: [health]", "covers"),
}



def catalog(uid: str) -> str:
    """Consent records, one dataset per case, a consented chat log anonymised by an attested step, and
    one model trained on each (plus one on the anonymised copy)."""
    datasets, models, runs = [], [], []
    for name, (facts, consent) in CASES.items():
        datasets.append(f"""  - qualified_name: file:///{uid}/{name}
    name: {name}
    license: CC0-1.0
    {facts}
""" + (f"    consent_records: [consent:{uid}/{consent}]\n" if consent else ""))
    for name, source in [*((n, n) for n in CASES), ("anonymised", "chats-anon")]:
        models.append(f"  - {{qualified_name: models/{uid}/{name}, name: {name}}}\n")
        runs.append(f"  - {{run_id: {uid}-{name}, name: train {name}, inputs: [file:///{uid}/{source}], "
                    f"outputs: [models/{uid}/{name}], processing_purpose: model-training}}\n")
    return f"""version: 1
consent_records:
  - {{qualified_name: consent:{uid}/covers, name: covers, purposes: [model-training, customer-care]}}
  - {{qualified_name: consent:{uid}/training-only, name: training only, purposes: [model-training]}}
  - qualified_name: consent:{uid}/withdrawn
    name: withdrawn
    purposes: [model-training, customer-care]
    status: withdrawn
    withdrawn_time: 2025-01-01T00:00:00Z
datasets:
{"".join(datasets)}  - qualified_name: file:///{uid}/chats
    name: chats
    license: CC0-1.0
    personal_data_categories: [email, chat-content]
    consent_records: [consent:{uid}/covers]
derivations:
  - qualified_name: derive:{uid}/anonymize-chats
    name: anonymize chats
    derivation_type: anonymize
    inputs: [file:///{uid}/chats]
    attested: true
    attestation: Privacy office, redaction pipeline v1.4, review ticket PRIV-{uid}
    outputs:
      - {{qualified_name: file:///{uid}/chats-anon, name: chats-anon, license: CC0-1.0}}
models:
{"".join(models)}training_runs:
{"".join(runs)}"""


@pytest.fixture(scope="module")
def story(atlas_settings: AtlasSettings, client: AtlasClient, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[CatalogStory]:
    """The catalog applied once for the module (each test reads its own model; only the privacy-review
    test writes, on its own model)."""
    env = {"ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else ""}

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    uid = uuid.uuid4().hex[:8]
    path: Path = tmp_path_factory.mktemp("personal-data") / "catalog.yaml"
    path.write_text(catalog(uid), encoding="utf-8")
    applied = run("apply", str(path))
    assert applied.exit_code == 0, applied.output
    yield CatalogStory(uid, run)


def outcomes(report: dict) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["outcome"]) for f in report["findings"]}


def test_personal_data_nobody_consented_to_blocks_public_weights_and_warns_for_a_partner(story: CatalogStory) -> None:
    code, public = story.check("no-consent", "--audience", "public", "--purpose", "customer-care")
    assert (code, public["verdict"], outcomes(public)) == (2, "BLOCK", {("personal-data-public-weights", "BLOCK")})
    assert public["findings"][0]["source_qualified_name"] == story.data("no-consent")
    code, partner = story.check("no-consent", "--audience", "partner", "--purpose", "customer-care")
    assert (code, partner["verdict"], outcomes(partner)) == (0, "WARN", {("personal-data-partner-weights", "WARN")})
    code, internal = story.check("no-consent", "--audience", "internal")
    assert (code, internal["verdict"], internal["findings"]) == (0, "PASS", [])


def test_consent_covering_training_and_the_purpose_asks_for_a_privacy_review_an_acceptance_clears(
        story: CatalogStory) -> None:
    public = ("--audience", "public", "--purpose", "customer-care")
    code, report = story.check("consented", *public)
    assert (code, report["verdict"], outcomes(report)) == (0, "WARN", {("personal-data-privacy-review", "WARN")})
    assert "privacy review" in report["findings"][0]["remedy"]
    # Without the release's purpose the consent cannot be shown to cover the release.
    code, report = story.check("consented", "--audience", "public")
    assert (code, outcomes(report)) == (2, {("personal-data-public-weights", "BLOCK")})

    until = (date.today() + timedelta(days=90)).isoformat()
    accepted = story.run("accept", story.model("consented"), "--rule", "personal-data-privacy-review",
                         "--dataset", story.data("consented"), "--approver", "dpo@example.org",
                         "--ticket", "PRIV-77", "--until", until)
    assert accepted.exit_code == 0, accepted.output
    code, report = story.check("consented", *public, "--fail-on", "warn")
    assert (code, report["verdict"], outcomes(report)) == (0, "PASS", {("personal-data-privacy-review", "ACCEPTED")})
    assert report["findings"][0]["accepted"]["ticket"] == "PRIV-77"


def test_consent_that_does_not_cover_the_release_purpose_blocks_even_internally(story: CatalogStory) -> None:
    code, report = story.check("training-only", "--audience", "internal", "--purpose", "customer-care")
    assert (code, report["verdict"], outcomes(report)) == (2, "BLOCK", {("personal-data-beyond-consent", "BLOCK")})
    code, report = story.check("training-only", "--audience", "internal", "--purpose", "model-training")
    assert (code, report["verdict"]) == (0, "PASS")


def test_withdrawn_consent_blocks_and_no_acceptance_clears_it(story: CatalogStory) -> None:
    code, report = story.check("withdrawn", "--audience", "internal", "--purpose", "customer-care")
    assert (code, report["verdict"], outcomes(report)) == (2, "BLOCK", {("consent-withdrawn", "BLOCK")})
    refused = story.run("accept", story.model("withdrawn"), "--rule", "consent-withdrawn", "--approver", "cto",
                        "--reason", "we need it", "--until", (date.today() + timedelta(days=5)).isoformat())
    assert refused.exit_code == 1 and "may never be accepted" in refused.output


def test_special_categories_warn_internally_without_consent_and_block_outside_even_with_it(story: CatalogStory) -> None:
    code, report = story.check("health", "--audience", "internal")
    assert (code, report["verdict"], outcomes(report)) == (0, "WARN", {("special-category-data-internal", "WARN")})
    code, report = story.check("health-consented", "--audience", "partner", "--purpose", "customer-care")
    assert (code, report["verdict"], outcomes(report)) == (
        2, "BLOCK", {("special-category-data-consented-external-weights", "BLOCK")})
    code, report = story.check("health-consented", "--audience", "internal", "--purpose", "customer-care")
    assert (code, report["verdict"]) == (0, "PASS")


def test_an_attested_anonymised_copy_leaves_only_the_consent_question(story: CatalogStory) -> None:
    code, report = story.check("anonymised", "--audience", "public", "--purpose", "customer-care")
    assert (code, report["verdict"], report["findings"]) == (0, "PASS", [])
    # The consent tag flowed on without the personal data: a purpose beyond it is a question, not a block.
    code, report = story.check("anonymised", "--audience", "public", "--purpose", "marketing")
    assert (code, report["verdict"], outcomes(report)) == (0, "WARN", {("consent-lacks-release-purpose", "WARN")})
    assert report["findings"][0]["source_qualified_name"] == story.data("chats")
