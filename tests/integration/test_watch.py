"""`atlas-ml watch` on the real Atlas and its embedded Kafka: a retraction re-checks every downstream model,
changes its recorded verdict and alerts once per model, through restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.policy.check import check_model
from atlas_mlplugin.policy.model import ReleaseContext
from atlas_mlplugin.transport.settings import KafkaSettings
from tests.webhook_server import webhook_receiver

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PUBLIC = ReleaseContext(audience="public")
MODELS = int(os.environ.get("WATCH_TEST_MODELS", "5"))


def cli_env(atlas_settings: AtlasSettings, kafka_settings: KafkaSettings) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "ATLAS_URL": atlas_settings.url,
            "ATLAS_USER": atlas_settings.username or "",
            "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else "",
            "ATLAS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers}


WATCH = [sys.executable, "-m", "atlas_mlplugin.cli.main", "watch"]


def watch_once(atlas_settings: AtlasSettings, kafka_settings: KafkaSettings, *args: str) -> None:
    done = subprocess.run([*WATCH, "--once", *args], env=cli_env(atlas_settings, kafka_settings),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def downstream_models(registry: GovernanceRegistry, client: AtlasClient, uid: str, count: int) -> tuple[str, list[str]]:
    """A dataset and `count` models trained on it (one run each), each with a recorded PASS for a public release."""
    dataset = f"file:///{uid}/retracted"
    registry.register_dataset(DatasetSpec(qualified_name=dataset, name="retracted", license="CC0-1.0"))
    models = []
    for i in range(count):
        model = ModelSpec(qualified_name=f"models/{uid}/d{i}", name=f"d{i}")
        registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-d{i}", name=f"d{i}", inputs=[dataset],
                                                     outputs=[model]))
        assert check_model(client, model.qualified_name, PUBLIC, record=True).verdict == "PASS"
        models.append(model.qualified_name)
    return dataset, models


def mine(alerts: list[dict[str, object]], uid: str) -> list[dict[str, object]]:
    """This test's alerts: a watcher sees all of the shared Atlas, where others may retract or accept meanwhile."""
    return [a for a in alerts if uid in str(a.get("model") or a.get("entity"))]


def lines(path: Path, uid: str) -> list[dict[str, object]]:
    return mine([json.loads(line) for line in path.read_text().splitlines()] if path.exists() else [], uid)


def test_a_retraction_changes_every_downstream_verdict_once_with_one_alert_each(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings,
        kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    retracted, other = f"file:///{uid}/retracted", f"file:///{uid}/other"
    for qn in (retracted, other):
        registry.register_dataset(DatasetSpec(qualified_name=qn, name=qn.rsplit("/", 1)[1], license="CC0-1.0"))
    models = []
    for i in range(MODELS + 1):  # the last one is trained on the other dataset: it must stay quiet
        model = ModelSpec(qualified_name=f"models/{uid}/m{i}", name=f"m{i}")
        registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-{i}", name=f"m{i}",
                                                     inputs=[retracted if i < MODELS else other], outputs=[model]))
        assert check_model(client, model.qualified_name, PUBLIC, record=True).verdict == "PASS"
        models.append(model.qualified_name)
    downstream, bystander = models[:MODELS], models[MODELS]

    alerts = tmp_path / "alerts.jsonl"
    group = ["--group-id", f"test-watch-{uid}", "--alerts-file", str(alerts)]
    with webhook_receiver(fail_first=1) as hook:
        args = [*group, "--webhook", hook.url]
        watch_once(atlas_settings, kafka_settings, *args)  # a new group starts now: nothing to say yet
        assert lines(alerts, uid) == []

        started = time.monotonic()
        registry.retract_dataset(retracted, "withdrawn by its publisher")
        deadline = time.monotonic() + 120
        while len(lines(alerts, uid)) < MODELS and time.monotonic() < deadline:
            watch_once(atlas_settings, kafka_settings, *args)  # each run a restart, resuming from its commit
        elapsed = time.monotonic() - started

        got = lines(alerts, uid)
        assert sorted(a["model"] for a in got) == sorted(downstream), got  # once each, and only those
        for alert in got:
            assert (alert["previous_verdict"], alert["verdict"]) == ("PASS", "BLOCK")
            assert retracted in alert["sources"] and alert["blocked_by"]
            assert str(alert["model"]) in str(alert["text"]) and "BLOCK" in str(alert["text"])
        for qn in downstream:  # the verdict is recorded where officers look
            release = client.find_entity("ml_release", f"{qn}#release/public/non-commercial")
            assert release and release["entity"]["attributes"]["verdict"] == "BLOCK"
        # The webhook refused its first request; the retry delivered it, and nothing twice.
        assert hook.requests == len(hook.bodies) + 1
        assert sorted(b["model"] for b in mine(hook.bodies, uid)) == sorted(downstream)

        # Our own write-backs are notifications too; re-reading them (and restarting) repeats nothing.
        time.sleep(3)
        watch_once(atlas_settings, kafka_settings, *args)
        watch_once(atlas_settings, kafka_settings, *args)
        assert len(lines(alerts, uid)) == MODELS and len(mine(hook.bodies, uid)) == MODELS
    assert bystander not in {a["model"] for a in lines(alerts, uid)}
    print(f"\n[watch] {MODELS} downstream models: retract -> last alert {elapsed:.1f} s "
          f"(--once runs, each a process start)", file=sys.stderr)


def test_a_running_watcher_alerts_each_model_once_and_stops_cleanly_on_sigterm(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings,
        kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    dataset, models = downstream_models(registry, client, uid, MODELS)
    alerts = tmp_path / "alerts.jsonl"
    args = ["--group-id", f"test-watch-{uid}", "--alerts-file", str(alerts)]
    watch_once(atlas_settings, kafka_settings, *args)  # the group's starting point, so nothing races the start
    log = (tmp_path / "watch.log").open("w")
    watcher = subprocess.Popen([*WATCH, *args], env=cli_env(atlas_settings, kafka_settings), stderr=log)
    try:
        started = time.monotonic()
        registry.retract_dataset(dataset, "withdrawn by its publisher")
        retracted = time.monotonic() - started  # the REST call itself: Atlas propagates the tag within it
        deadline = started + 300
        while len(lines(alerts, uid)) < len(models) and time.monotonic() < deadline and watcher.poll() is None:
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        assert sorted(a["model"] for a in lines(alerts, uid)) == sorted(models)
        time.sleep(5)  # our own write-backs come back as notifications: they must not alert again
        assert len(lines(alerts, uid)) == len(models)
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "watch.log").read_text()
    assert "verdicts changed" in (tmp_path / "watch.log").read_text()
    watch_once(atlas_settings, kafka_settings, *args)  # restarted: everything was committed, nothing repeats
    assert len(lines(alerts, uid)) == len(models)
    totals = (tmp_path / "watch.log").read_text().strip().splitlines()[-1]
    print(f"\n[watch] {len(models)} downstream models: retract -> last alert {elapsed:.1f} s (running watcher; "
          f"the retract call {retracted:.1f} s; {totals})", file=sys.stderr)


def test_a_running_watcher_outlasts_a_webhook_outage_and_delivers_each_alert_once(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings,
        kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    dataset, models = downstream_models(registry, client, uid, 3)
    alerts = tmp_path / "alerts.jsonl"
    with webhook_receiver(fail_first=2) as hook:  # with one attempt per run of the batch: two replays
        args = ["--group-id", f"test-watch-{uid}", "--alerts-file", str(alerts), "--webhook", hook.url,
                "--webhook-attempts", "1"]
        watch_once(atlas_settings, kafka_settings, *args)
        log = (tmp_path / "watch.log").open("w")
        watcher = subprocess.Popen([*WATCH, *args], env=cli_env(atlas_settings, kafka_settings), stderr=log)
        try:
            registry.retract_dataset(dataset, "withdrawn by its publisher")
            deadline = time.monotonic() + 120
            while len(mine(hook.bodies, uid)) < len(models) and time.monotonic() < deadline and watcher.poll() is None:
                time.sleep(0.1)
            time.sleep(3)
        finally:
            watcher.send_signal(signal.SIGTERM)
            code = watcher.wait(timeout=60)
            log.close()
        text = (tmp_path / "watch.log").read_text()
        assert code == 0, text
        assert "reading the batch again" in text
        assert sorted(b["model"] for b in mine(hook.bodies, uid)) == sorted(models)  # none lost, none twice
        assert sorted(a["model"] for a in lines(alerts, uid)) == sorted(models)


def test_a_model_gone_from_atlas_does_not_stop_the_others_from_being_rechecked(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    from atlas_mlplugin.policy.rules import load_policy
    from atlas_mlplugin.watch.recheck import recheck

    dataset, models = downstream_models(registry, client, uid, 2)
    registry.retract_dataset(dataset, "withdrawn by its publisher")
    guids = [client.find_entity("ml_model", qn)["entity"]["guid"] for qn in models]  # type: ignore[index]
    purged = "00000000-0000-4000-8000-000000000000"  # as a model purged after its notification looks
    stats = recheck(client, [guids[0], purged, guids[1]], load_policy(None), [])
    assert stats.models == 2 and stats.changed == 2
    assert {a.model for a in stats.alerts} == set(models)


def test_bulk_recheck_reads_what_check_reads_and_keeps_the_models_other_tags(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    from atlas_mlplugin.policy.gather import collect_evidence, collect_evidence_many
    from atlas_mlplugin.policy.rules import load_policy
    from atlas_mlplugin.policy.writeback import summary
    from atlas_mlplugin.watch.recheck import load_models, recheck

    dataset, models = downstream_models(registry, client, uid, 4)
    own = f"file:///{uid}/own"  # a source only one model reads: that model is gathered on its own
    registry.register_dataset(DatasetSpec(qualified_name=own, name="own", license="CC-BY-4.0"))
    lone = ModelSpec(qualified_name=f"models/{uid}/lone", name="lone")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-lone", name="lone", inputs=[dataset, own],
                                                 outputs=[lone]))
    check_model(client, lone.qualified_name, PUBLIC, record=True)
    check_model(client, lone.qualified_name, ReleaseContext(audience="internal"), record=True)
    models.append(lone.qualified_name)
    guids = [client.find_entity("ml_model", qn)["entity"]["guid"] for qn in models]  # type: ignore[index]
    # An officer's tag on a model must survive the bulk tag write (setClassifications replaces a model's tags).
    client.add_classifications(guids[0], [{"typeName": "RiskAccepted", "propagate": False, "attributes": {
        "ruleIds": ["no-such-rule"], "approver": "dpo@example.org", "reason": "kept", "expiryDate": 4102444800000}}])
    registry.retract_dataset(dataset, "withdrawn by its publisher")

    watched, _ = load_models(client, guids)
    bulk = collect_evidence_many(client, [m.entity for m in watched])
    for model in watched:  # the same tags, sources and paths as the single-model read of `check`
        single = collect_evidence(client, model.qualified_name)
        assert bulk.evidence[model.guid].tags == single.tags, model.qualified_name
    assert bulk.lineage_reads == 1 and bulk.fallbacks == 1  # the shared dataset once; the lone model's own source

    stats = recheck(client, guids, load_policy(None), [])
    assert stats.changed == len(models) + 1  # the lone model twice: public and internal
    for qn in models:
        for context in (PUBLIC, ReleaseContext(audience="internal")):
            release = client.find_entity("ml_release", f"{qn}#release/{context.audience}/non-commercial")
            if release is None:
                continue
            expected = check_model(client, qn, context)
            assert release["entity"]["attributes"]["verdict"] == expected.verdict == "BLOCK"
            assert release["entity"]["attributes"]["description"] == summary(expected)
    for guid in guids:
        tags = {c["typeName"]: c for c in client.get_classifications(guid) if c.get("entityGuid", guid) == guid}
        assert tags["ReleaseVerdict"]["attributes"]["verdict"] == "BLOCK"
    kept = {c["typeName"]: c for c in client.get_classifications(guids[0])}
    assert kept["RiskAccepted"]["attributes"]["reason"] == "kept"
    print(f"\n[watch] bulk re-check of {len(models)} models: {stats.rest_calls} REST calls "
          f"({stats.read_calls} reads, {stats.gather_calls} evidence, {stats.write_calls} writes)", file=sys.stderr)


def test_derived_tags_removed_by_hand_come_back_with_one_line_each(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings,
        kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    from atlas_mlplugin.policy.rules import load_policy
    from atlas_mlplugin.watch.recheck import recheck

    dataset, models = downstream_models(registry, client, uid, 2)
    registry.retract_dataset(dataset, "withdrawn by its publisher")
    guids = [client.find_entity("ml_model", qn)["entity"]["guid"] for qn in models]  # type: ignore[index]
    assert recheck(client, guids, load_policy(None), []).changed == 2  # both recorded BLOCK
    dataset_guid = client.find_entity("ml_dataset", dataset)["entity"]["guid"]  # type: ignore[index]
    alerts = tmp_path / "alerts.jsonl"
    args = ["--group-id", f"test-watch-{uid}", "--alerts-file", str(alerts)]
    watch_once(atlas_settings, kafka_settings, *args)

    # In the UI: Retracted removed from the dataset (its models lose the copies), ReleaseVerdict from a model.
    client.delete_classification(dataset_guid, "Retracted")
    client.delete_classification(guids[0], "ReleaseVerdict")
    deadline = time.monotonic() + 90  # a few --once runs; about 20 s on an idle machine
    while len(lines(alerts, uid)) < 2 and time.monotonic() < deadline:
        watch_once(atlas_settings, kafka_settings, *args)
    watch_once(atlas_settings, kafka_settings, *args)  # what the restoring caused: nothing more to say

    got = lines(alerts, uid)
    assert sorted((a["kind"], a["entity"], a["tag"]) for a in got) == sorted([
        ("derived_tag_restored", dataset, "Retracted"), ("derived_tag_restored", models[0], "ReleaseVerdict")]), got
    assert all("removed by hand" in str(a["text"]) for a in got)
    own = [c["typeName"] for c in client.get_classifications(dataset_guid) if c.get("entityGuid") == dataset_guid]
    assert "Retracted" in own
    for guid, qn in zip(guids, models, strict=True):  # the models never showed the lifted BLOCK
        tags = {c["typeName"]: c for c in client.get_classifications(guid)}
        assert tags["ReleaseVerdict"]["attributes"]["verdict"] == "BLOCK" and "Retracted" in tags
        release = client.find_entity("ml_release", f"{qn}#release/public/non-commercial")
        assert release and release["entity"]["attributes"]["verdict"] == "BLOCK"


def test_an_acceptance_that_expires_turns_the_accepted_pass_into_block_with_one_alert(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings,
        kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    from datetime import date, timedelta

    from atlas_mlplugin.policy.acceptance import epoch_ms_of

    dataset = f"file:///{uid}/nc"
    registry.register_dataset(DatasetSpec(qualified_name=dataset, name="nc", license="CC-BY-NC-4.0"))
    model = ModelSpec(qualified_name=f"models/{uid}/accepted", name="accepted")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-acc", name="acc", inputs=[dataset], outputs=[model]))
    guid = client.find_entity("ml_model", model.qualified_name)["entity"]["guid"]  # type: ignore[index]
    context = ReleaseContext(audience="internal", commercial=True)
    assert check_model(client, model.qualified_name, context).verdict == "BLOCK"
    rule = "non-commercial-in-commercial-release"

    def acceptance(until: date) -> dict[str, object]:
        return {"typeName": "RiskAccepted", "propagate": False, "attributes": {
            "ruleIds": [rule], "approver": "dpo@example.org", "reason": "internal pilot reviewed", "ticket": None,
            "sourceDatasets": [], "expiryDate": epoch_ms_of(until), "acceptedTime": None}}

    today = date.today()
    client.add_classifications(guid, [acceptance(today + timedelta(days=30))])
    accepted = check_model(client, model.qualified_name, context, record=True)
    assert accepted.verdict == "PASS" and [f.outcome for f in accepted.findings if f.rule_id == rule] == ["ACCEPTED"]
    # The acceptance runs out: written over REST as it would stand the day after (the CLI refuses past dates).
    client.update_classifications(guid, [acceptance(today - timedelta(days=1))])

    alerts = tmp_path / "alerts.jsonl"
    args = ["--group-id", f"test-watch-{uid}", "--alerts-file", str(alerts), "--from-now"]
    watch_once(atlas_settings, kafka_settings, *args)  # a new group: the update's notification is not read,
    watch_once(atlas_settings, kafka_settings, *args)  # the look for expired acceptances finds it; then quiet
    got = lines(alerts, uid)
    assert [(a["kind"], a["model"], a["previous_verdict"], a["verdict"]) for a in got] == [
        ("verdict_changed", model.qualified_name, "PASS", "BLOCK")], got
    assert rule in got[0]["blocked_by"]  # type: ignore[operator]
    release = client.find_entity("ml_release", f"{model.qualified_name}#release/internal/commercial")
    assert release and release["entity"]["attributes"]["verdict"] == "BLOCK"


def test_an_acceptance_recorded_on_a_release_decision_is_applied_at_once(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings,
        kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    from datetime import date, timedelta

    from atlas_mlplugin.policy.acceptance import epoch_ms_of

    dataset = f"file:///{uid}/nc"
    registry.register_dataset(DatasetSpec(qualified_name=dataset, name="nc", license="CC-BY-NC-4.0"))
    model = ModelSpec(qualified_name=f"models/{uid}/on-release", name="on-release")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-rel", name="rel", inputs=[dataset], outputs=[model]))
    context = ReleaseContext(audience="internal", commercial=True)
    assert check_model(client, model.qualified_name, context, record=True).verdict == "BLOCK"
    release = client.find_entity("ml_release", f"{model.qualified_name}#release/internal/commercial")
    assert release is not None
    alerts = tmp_path / "alerts.jsonl"
    args = ["--group-id", f"test-watch-{uid}", "--alerts-file", str(alerts)]
    watch_once(atlas_settings, kafka_settings, *args)

    # An officer attaches RiskAccepted to the release decision in the UI (the model's tags do not change).
    client.add_classifications(release["entity"]["guid"], [{"typeName": "RiskAccepted", "propagate": False,
                                                            "attributes": {
        "ruleIds": ["non-commercial-in-commercial-release"], "approver": "dpo@example.org",
        "reason": "internal pilot reviewed", "expiryDate": epoch_ms_of(date.today() + timedelta(days=30))}}])
    deadline = time.monotonic() + 90
    while not lines(alerts, uid) and time.monotonic() < deadline:
        watch_once(atlas_settings, kafka_settings, *args)
    watch_once(atlas_settings, kafka_settings, *args)
    got = lines(alerts, uid)
    assert [(a["model"], a["previous_verdict"], a["verdict"]) for a in got] == [
        (model.qualified_name, "BLOCK", "PASS")], got
    assert "1 ACCEPTED" in str(got[0]["summary"])


def test_a_recheck_uses_the_purpose_the_release_was_checked_for(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    from atlas_mlplugin.model import ConsentRecordSpec
    from atlas_mlplugin.policy.rules import load_policy
    from atlas_mlplugin.watch.recheck import recheck

    registry.register_consent(ConsentRecordSpec(qualified_name=f"consent:{uid}", name="panel",
                                                purposes=["model-training"], excluded_purposes=["marketing"]))
    dataset = f"file:///{uid}/chats"
    registry.register_dataset(DatasetSpec(qualified_name=dataset, name="chats", license="CC0-1.0",
                                          consent_records=[f"consent:{uid}"]))
    model = ModelSpec(qualified_name=f"models/{uid}/bot", name="bot")
    registry.record_training_run(TrainingRunSpec(run_id=uid, name="t", inputs=[dataset], outputs=[model],
                                                 processing_purpose="model-training"))
    context = ReleaseContext(purpose="direct-marketing")
    assert check_model(client, model.qualified_name, context, record=True).verdict == "BLOCK"
    release = client.find_entity("ml_release", f"{model.qualified_name}#release/internal/non-commercial")
    assert release and release["entity"]["attributes"]["purpose"] == "direct-marketing"

    # Re-checked without the purpose the consent rule would not apply: a PASS that nobody decided.
    guid = client.find_entity("ml_model", model.qualified_name)["entity"]["guid"]  # type: ignore[index]
    stats = recheck(client, [guid], load_policy(None), [])
    assert stats.contexts == 1 and stats.changed == 0, [a.text for a in stats.alerts]
