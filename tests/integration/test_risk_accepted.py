"""Accepted risk on the real Atlas: an officer's acceptance (by `atlas-ml accept`, or a RiskAccepted tag
attached as in the UI) turns a BLOCK into ACCEPTED until it expires; never for retracted data."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import Result

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.policy.acceptance import epoch_ms_of

pytestmark = pytest.mark.integration

RULE = "personal-data-public-weights"


def trained_on(registry: GovernanceRegistry, uid: str, **facts: object) -> tuple[str, str]:
    """A model trained on one dataset with these facts; returns (dataset, model) qualifiedNames."""
    data = f"file:///{uid}/faces"
    registry.register_dataset(DatasetSpec(qualified_name=data, name="faces", **facts))  # type: ignore[arg-type]
    model = ModelSpec(qualified_name=f"models/{uid}/m", name="m")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-run", name="m", inputs=[data], outputs=[model]))
    return data, model.qualified_name


def check(run: Callable[..., Result], model: str) -> tuple[int, dict]:
    result = run("check", model, "--audience", "public", "--format", "json", "--no-record")
    return result.exit_code, json.loads(result.output)


def test_an_acceptance_turns_the_block_into_accepted_until_it_expires(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    data, model = trained_on(registry, uid, license="CC0-1.0", personal_data_categories=["face"])
    code, report = check(run, model)
    assert (code, report["verdict"]) == (2, "BLOCK")

    until = (datetime.now(timezone.utc).date() + timedelta(days=30)).isoformat()
    accepted = run("accept", model, "--rule", RULE, "--dataset", data, "--approver", "dpo@example.org",
                   "--ticket", "PRIV-42", "--until", until)
    assert accepted.exit_code == 0, accepted.output
    code, report = check(run, model)
    assert (code, report["verdict"]) == (0, "PASS"), report
    [finding] = [f for f in report["findings"] if f["rule_id"] == RULE]
    assert finding["outcome"] == "ACCEPTED"
    assert finding["accepted"]["approver"] == "dpo@example.org"
    assert (finding["accepted"]["ticket"], finding["accepted"]["until"]) == ("PRIV-42", until)
    text = run("check", model, "--audience", "public", "--no-record").output
    assert f"accepted (BLOCK otherwise) by dpo@example.org until {until}: ticket PRIV-42" in text

    listed = run("accept", "--list", model, "--format", "json")
    assert json.loads(listed.output)["rules"] == [RULE]

    # An officer edits it in the UI to end yesterday: the finding blocks again and the report says why.
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    guid = client.find_entity("ml_model", model)["entity"]["guid"]  # type: ignore[index]
    client.update_classifications(guid, [{"typeName": "RiskAccepted", "propagate": False, "attributes": {
        "ruleIds": [RULE], "approver": "dpo@example.org", "reason": "review passed",
        "expiryDate": epoch_ms_of(yesterday)}}])
    code, report = check(run, model)
    assert (code, report["verdict"]) == (2, "BLOCK")
    assert [f["outcome"] for f in report["findings"] if f["rule_id"] == RULE] == ["BLOCK"]
    assert report["ignored_acceptances"][0]["reason"].startswith(f"expired on {yesterday.isoformat()}")

    revoked = run("accept", "--revoke", model)
    assert revoked.exit_code == 0, revoked.output
    assert "has no accepted risk" in run("accept", "--list", model).output


def test_retracted_data_cannot_be_accepted(registry: GovernanceRegistry, client: AtlasClient,
                                           run: Callable[..., Result], uid: str) -> None:
    data, model = trained_on(registry, uid, license="CC0-1.0")
    registry.retract_dataset(data, "labels were fabricated")
    refused = run("accept", model, "--rule", "retracted-data", "--approver", "cto", "--reason", "we need it",
                  "--until", (date.today() + timedelta(days=5)).isoformat())
    assert refused.exit_code == 1
    assert "rule retracted-data may never be accepted" in refused.output
    assert "has no accepted risk" in run("accept", "--list", model).output

    # Attached by hand in the UI instead: the check ignores it and says why.
    guid = client.find_entity("ml_model", model)["entity"]["guid"]  # type: ignore[index]
    client.add_classifications(guid, [{"typeName": "RiskAccepted", "propagate": False, "attributes": {
        "ruleIds": ["retracted-data"], "approver": "cto", "reason": "we need it",
        "expiryDate": epoch_ms_of(date.today() + timedelta(days=5))}}])
    code, report = check(run, model)
    assert (code, report["verdict"]) == (2, "BLOCK")
    assert "may never be accepted" in report["ignored_acceptances"][0]["reason"]


def test_accept_refuses_a_past_date_and_an_unknown_rule(run: Callable[..., Result], uid: str) -> None:
    result = run("accept", f"models/{uid}/none", "--rule", "personal-data-public-weight", "--approver", "dpo",
                 "--reason", "r", "--until", "2020-01-01")
    assert result.exit_code == 1
    assert "did you mean 'personal-data-public-weights'?" in result.output
    assert "expiry date 2020-01-01 is in the past" in result.output


def test_a_catalog_file_records_the_acceptance_once(registry: GovernanceRegistry, run: Callable[..., Result],
                                                    uid: str, tmp_path) -> None:  # noqa: ANN001
    data, model = trained_on(registry, uid, license="CC0-1.0", personal_data_categories=["face"])
    until = (date.today() + timedelta(days=10)).isoformat()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"""version: 1
accepted_risks:
  - model: {model}
    rules: [{RULE}]
    approver: dpo@example.org
    reason: privacy review PR-7 passed
    until: {until}
""", encoding="utf-8")
    first = run("apply", str(catalog))
    assert first.exit_code == 0, first.output
    assert f"created accepted risk {model}" in first.output
    code, report = check(run, model)
    assert (code, report["verdict"]) == (0, "PASS")
    again = run("apply", str(catalog), "--format", "json")
    assert json.loads(again.output)["writes"] == 0  # idempotent: the tag already says the same


def test_an_acceptance_on_one_release_decision_covers_that_context_only(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    _, model = trained_on(registry, uid, license="CC-BY-SA-4.0")
    assert run("check", model, "--audience", "partner", "--fail-on", "warn").exit_code == 2  # records the release
    release = client.find_entity("ml_release", f"{model}#release/partner/non-commercial")
    assert release is not None
    # As an officer does in the UI, on the release decision's page.
    client.add_classifications(release["entity"]["guid"], [{"typeName": "RiskAccepted", "propagate": False,
                                                             "attributes": {
        "ruleIds": ["share-alike"], "approver": "legal@example.org", "reason": "partner contract §4",
        "expiryDate": epoch_ms_of(date.today() + timedelta(days=3))}}])
    partner = json.loads(run("check", model, "--audience", "partner", "--format", "json", "--no-record").output)
    assert [(f["rule_id"], f["outcome"]) for f in partner["findings"] if f["rule_id"] == "share-alike"] == [
        ("share-alike", "ACCEPTED")]
    assert partner["findings"][0]["accepted"]["recorded_on"] == f"{model}#release/partner/non-commercial"
    public = json.loads(run("check", model, "--audience", "public", "--format", "json", "--no-record").output)
    assert [f["outcome"] for f in public["findings"] if f["rule_id"] == "share-alike"] == ["WARN"]


def test_accept_keeps_an_existing_decision_unless_told_to_replace_it(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    _, model = trained_on(registry, uid, license="CC-BY-SA-4.0", personal_data_categories=["face"])
    until = (date.today() + timedelta(days=20)).isoformat()
    base = ("accept", model, "--approver", "dpo", "--reason", "reviewed", "--until", until)
    assert run(*base, "--rule", RULE).exit_code == 0
    second = run(*base, "--rule", "share-alike")
    assert second.exit_code == 1 and "already has an acceptance" in second.output and "--replace" in second.output
    replaced = run("accept", model, "--approver", "legal", "--ticket", "LEG-9", "--until", until, "--rule", RULE,
                   "--rule", "share-alike", "--replace")
    assert replaced.exit_code == 0, replaced.output
    listed = json.loads(run("accept", "--list", model, "--format", "json").output)
    # Nothing of the replaced decision survives (its reason would misstate why this one was taken).
    assert (listed["rules"], listed["approver"], listed["ticket"], listed["reason"]) == (
        [RULE, "share-alike"], "legal", "LEG-9", None)
    # Revoking one rule keeps the rest of the decision.
    assert run("accept", "--revoke", model, "--rule", RULE).exit_code == 0
    assert json.loads(run("accept", "--list", model, "--format", "json").output)["rules"] == ["share-alike"]
    # A record left incomplete in the UI is named as such, not shown as a traceback.
    guid = client.find_entity("ml_model", model)["entity"]["guid"]  # type: ignore[index]
    client.delete_classification(guid, "RiskAccepted")
    client.add_classifications(guid, [{"typeName": "RiskAccepted", "propagate": False,
                                       "attributes": {"ruleIds": ["share-alike"], "approver": "dpo"}}])
    listed = run("accept", "--list", model)
    assert listed.exit_code == 1 and "incomplete RiskAccepted (until missing or empty" in listed.output


def test_accept_on_a_release_decision_holds_for_that_context_only(
        registry: GovernanceRegistry, run: Callable[..., Result], uid: str) -> None:
    _, model = trained_on(registry, uid, license="CC-BY-SA-4.0")
    until = (date.today() + timedelta(days=7)).isoformat()
    accept = ("accept", model, "--audience", "partner", "--rule", "share-alike", "--approver", "legal@example.org",
              "--reason", "partner contract 4.2", "--until", until)
    # No check of that context recorded yet: nothing to attach it to, and the message says what to run.
    early = run(*accept)
    assert early.exit_code == 1
    assert f"atlas-ml check {model} --audience partner --non-commercial" in early.output

    assert run("check", model, "--audience", "partner", "--fail-on", "warn").exit_code == 2  # records the release
    assert run("check", model, "--audience", "public", "--fail-on", "warn").exit_code == 2
    recorded = run(*accept)
    assert recorded.exit_code == 0, recorded.output
    release = f"{model}#release/partner/non-commercial"
    assert f"accepted on release {release}" in recorded.output

    partner = json.loads(run("check", model, "--audience", "partner", "--format", "json", "--no-record").output)
    [finding] = [f for f in partner["findings"] if f["rule_id"] == "share-alike"]
    assert (finding["outcome"], finding["accepted"]["recorded_on"]) == ("ACCEPTED", release)
    assert partner["verdict"] == "PASS"
    public = json.loads(run("check", model, "--audience", "public", "--format", "json", "--no-record").output)
    assert [f["outcome"] for f in public["findings"] if f["rule_id"] == "share-alike"] == ["WARN"]
    # The model itself carries no acceptance: the release does.
    assert "has no accepted risk" in run("accept", "--list", model).output
    listed = run("accept", "--list", model, "--audience", "partner", "--format", "json")
    assert json.loads(listed.output)["recorded_on"] == release

    assert run("accept", "--revoke", model, "--audience", "partner").exit_code == 0
    partner = json.loads(run("check", model, "--audience", "partner", "--format", "json", "--no-record").output)
    assert [f["outcome"] for f in partner["findings"] if f["rule_id"] == "share-alike"] == ["WARN"]


def test_release_terms_without_an_audience_are_refused(run: Callable[..., Result], uid: str) -> None:
    result = run("accept", f"models/{uid}/m", "--commercial", "--list")
    assert result.exit_code == 2 and "give --audience too" in result.output


def test_an_acceptance_typed_in_the_ui_dialog_counts_and_revoking_one_rule_keeps_the_rest(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    # Atlas 2.1's Add Classification dialog fills single-value fields only: the officer types the rule ids
    # into `rules` as text. The check must count them, and `accept --revoke --rule` must keep the others.
    data, model = trained_on(registry, uid, license="CC-BY-SA-4.0", personal_data_categories=["face"])
    assert check(run, model)[1]["verdict"] == "BLOCK"
    guid = client.find_entity("ml_model", model)["entity"]["guid"]  # type: ignore[index]
    until = date.today() + timedelta(days=30)
    client.add_classifications(guid, [{"typeName": "RiskAccepted", "propagate": False, "attributes": {
        "rules": f"{RULE}, share-alike", "datasets": data, "approver": "dpo@example.org",
        "reason": "privacy review PR-9", "expiryDate": epoch_ms_of(until)}}])
    code, report = check(run, model)
    assert [f["outcome"] for f in report["findings"] if f["rule_id"] == RULE] == ["ACCEPTED"], report
    assert not [i for i in report["ignored_acceptances"] if i["reason"].startswith("incomplete")]

    revoked = run("accept", "--revoke", model, "--rule", "share-alike")
    assert revoked.exit_code == 0, revoked.output
    listed = json.loads(run("accept", "--list", model, "--format", "json").output)
    assert listed["rules"] == [RULE], listed
    assert [f["outcome"] for f in check(run, model)[1]["findings"] if f["rule_id"] == RULE] == ["ACCEPTED"]
