"""`atlas-ml watch` logic without Atlas: reading what Atlas 2.1.0 published on ATLAS_ENTITIES (captured
vectors), coalescing a burst into one re-check per model, the alert payload, and webhook retries against a
real local HTTP server."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin.policy.model import CheckReport, Finding, ReleaseContext
from atlas_mlplugin.transport.notification import (
    EntityOperation,
    decode_entity_notification,
    join_parts,
    split_part,
)
from atlas_mlplugin.watch.alerts import AlertDeliveryError, WebhookSink
from atlas_mlplugin.watch.coalesce import affected_models
from atlas_mlplugin.watch.recheck import RecordedRelease, WatchedModel, alert_of, changed, recorded_release
from tests.webhook_server import webhook_receiver

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "entity_notifications.json").read_text())["records"]


def record(what: str) -> dict[str, Any]:
    return copy.deepcopy(next(r["value"] for r in VECTORS if r["what"].startswith(what)))


def encoded(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def test_every_captured_record_decodes() -> None:
    notes = [decode_entity_notification(encoded(r["value"])) for r in VECTORS]
    assert all(note is not None for note in notes)


def test_a_propagated_tag_on_a_model_is_read_with_its_source() -> None:
    note = decode_entity_notification(encoded(record("Retracted propagated to a model")))
    assert note is not None and note.operationType is EntityOperation.CLASSIFICATION_ADD
    assert note.entity.typeName == "ml_model" and note.entity.qualified_name == "models/0a1b2c3d/m1"
    retracted = next(c for c in note.entity.classifications if c.typeName == "Retracted")
    assert retracted.entityGuid != note.entity.guid  # propagated from the dataset
    assert retracted.attributes and retracted.attributes["sourceDataset"] == "file:///0a1b2c3d/ds"


def test_a_compressed_record_decodes_like_a_plain_one() -> None:
    plain = record("Retracted propagated to a model")
    packed = {"version": plain["version"], "msgId": "x_0", "msgCompressionKind": "GZIP", "msgSplitIdx": 1,
              "msgSplitCount": 1, "message": base64.b64encode(gzip.compress(encoded(plain))).decode()}
    assert decode_entity_notification(encoded(packed)) == decode_entity_notification(encoded(plain))


def test_split_parts_join_into_the_record() -> None:
    plain = record("Retracted propagated to a model")
    text = base64.b64encode(gzip.compress(encoded(plain))).decode()
    parts = [encoded({"version": {"version": "1.0.0"}, "msgId": "m_0", "msgCompressionKind": "GZIP",
                      "msgSplitIdx": i, "msgSplitCount": 3, "msgSourceIP": "127.0.0.1",
                      "message": text[i * 100:(i + 1) * 100 if i < 2 else None]}) for i in range(3)]
    assert decode_entity_notification(parts[0]) is None  # a part alone is not a notification
    split = [split_part(p) for p in parts]
    assert all(split)
    joined = join_parts([p for p in split if p])
    assert decode_entity_notification(joined) == decode_entity_notification(encoded(plain))
    with pytest.raises(ValueError, match="missing"):
        join_parts([p for p in split[:2] if p])


def test_a_newer_version_is_refused_and_other_types_are_skipped() -> None:
    newer = record("Retracted propagated to a model")
    newer["version"] = {"version": "2.0.0"}
    with pytest.raises(ValueError, match="newer"):
        decode_entity_notification(encoded(newer))
    v1 = record("Retracted propagated to a model")
    v1["message"]["type"] = "ENTITY_NOTIFICATION"
    assert decode_entity_notification(encoded(v1)) is None


def _note(guid: str, op: str = "CLASSIFICATION_ADD", type_name: str = "ml_model", status: str = "ACTIVE") -> Any:
    value = record("Retracted propagated to a model")
    value["message"]["entity"].update(guid=guid, typeName=type_name, status=status)
    value["message"]["operationType"] = op
    return decode_entity_notification(encoded(value))


def test_a_burst_is_coalesced_into_one_recheck_per_model() -> None:
    # one retraction reaching 300 models: their tag, then our own write-backs (tag update, attributes)
    burst = [_note(f"g{i % 300}", ("CLASSIFICATION_ADD", "CLASSIFICATION_UPDATE", "ENTITY_UPDATE")[i // 300])
             for i in range(900)] + [_note("run", type_name="ml_training_run")]
    assert list(affected_models(burst)) == [f"g{i}" for i in range(300)]


def test_deleted_models_and_creations_are_not_rechecked() -> None:
    notes = [_note("a", "CLASSIFICATION_DELETE"), _note("b", "ENTITY_UPDATE"), _note("c", "ENTITY_CREATE"),
             _note("d"), _note("d", "ENTITY_DELETE"), _note("e", status="DELETED"),
             _note("f", "CLASSIFICATION_UPDATE")]
    assert list(affected_models(notes)) == ["a", "b", "f"]


def test_the_recorded_release_context_is_read_back() -> None:
    release = recorded_release({"qualifiedName": "m#release/partner/commercial", "audience": "partner",
                                "commercial": True, "ships": ["weights", "outputs"], "verdict": "WARN",
                                "description": "WARN for ..."})
    assert release is not None
    assert release.context == ReleaseContext(audience="partner", commercial=True,
                                             ships=frozenset({"weights", "outputs"}))
    assert recorded_release({"qualifiedName": "x"}) is None  # not written by our check
    assert recorded_release({"qualifiedName": "x", "audience": "public", "ships": ["source-code"]}) is None


def _report(verdict: str, findings: list[Finding]) -> CheckReport:
    return CheckReport(verdict=verdict, model="models/x/m", model_guid="g", context=ReleaseContext(audience="public"),
                       findings=findings, policy="default", checked_at=datetime(2026, 11, 30, tzinfo=timezone.utc))


BLOCKED = _report("BLOCK", [Finding(rule_id="retracted-data", severity="BLOCK", tag="Retracted",
                                    message="trained on retracted data", source_qualified_name="file:///d")])
MODEL = WatchedModel(guid="g", qualified_name="models/x/m", name="m", releases=())
PASSED = RecordedRelease(qualified_name="models/x/m#release/public/non-commercial",
                         context=ReleaseContext(audience="public"), verdict="PASS",
                         summary="PASS for a public non-commercial release (no findings)")


def test_only_a_changed_verdict_or_reason_counts_as_a_change() -> None:
    assert changed(PASSED, BLOCKED)
    assert not changed(PASSED, _report("PASS", []))
    from atlas_mlplugin.policy.writeback import summary

    assert not changed(RecordedRelease(PASSED.qualified_name, PASSED.context, "BLOCK", summary(BLOCKED)), BLOCKED)


def test_the_alert_says_what_changed_and_why_in_a_line_a_chat_tool_shows() -> None:
    alert = alert_of(MODEL, PASSED, BLOCKED, event_time_ms=1796045239633)
    body = json.loads(alert.to_json())
    assert body["previous_verdict"] == "PASS" and body["verdict"] == "BLOCK"
    assert body["blocked_by"] == ["retracted-data"] and body["sources"] == ["file:///d"]
    assert body["release"] == PASSED.qualified_name and body["event_time"].startswith("2026-11-30")
    assert body["text"].startswith("[atlas-ml] models/x/m: public non-commercial release PASS -> BLOCK.")
    assert "file:///d" in body["text"]


def test_the_webhook_retries_a_failed_request_and_delivers_once() -> None:
    alert = alert_of(MODEL, PASSED, BLOCKED)
    with webhook_receiver(fail_first=2) as hook:
        WebhookSink(hook.url, attempts=3, backoff=0.01).send(alert)
        assert hook.requests == 3 and [b["text"] for b in hook.bodies] == [alert.text]


def test_the_webhook_gives_up_with_a_clear_error() -> None:
    refused = "did not take the alert for models/x/m .*HTTP 503.* 2 attempt"
    with webhook_receiver(fail_first=10) as hook, pytest.raises(AlertDeliveryError, match=refused):
        WebhookSink(hook.url, attempts=2, backoff=0.01).send(alert_of(MODEL, PASSED, BLOCKED))
    with pytest.raises(AlertDeliveryError, match="ConnectionError"):
        WebhookSink(hook.url, attempts=1, timeout=1).send(alert_of(MODEL, PASSED, BLOCKED))


def test_the_captured_lifecycle_rechecks_a_changed_model_and_not_a_deleted_one() -> None:
    notes = [decode_entity_notification(encoded(r["value"])) for r in VECTORS]
    by_model: dict[str, list[Any]] = {}
    for note in notes:
        assert note is not None
        if note.entity.typeName == "ml_model":
            by_model.setdefault(note.entity.qualified_name or "", []).append(note)
    retracted, deleted = by_model["models/0a1b2c3d/m1"], by_model["models/4e5f6a7b/m0"]
    assert list(affected_models(retracted)) == [retracted[0].entity.guid]
    ops = [n.operationType.value for n in deleted]
    assert ops == ["ENTITY_CREATE", "ENTITY_UPDATE", "CLASSIFICATION_UPDATE", "CLASSIFICATION_DELETE",
                   "ENTITY_DELETE"]
    assert affected_models(deleted[:1]) == {}  # created: no release context recorded yet
    assert affected_models(deleted[:4]) and affected_models(deleted) == {}


def test_our_own_write_back_is_not_rechecked_but_a_changed_upstream_tag_is() -> None:
    from atlas_mlplugin.watch.coalesce import CheckedTags

    checked = CheckedTags()
    retracted = _note("g", "CLASSIFICATION_ADD")
    assert not checked.unchanged(retracted)
    checked.checked(retracted)
    ours = _note("g", "CLASSIFICATION_UPDATE")  # the verdict tag rewritten, upstream tags as they were
    for tag in ours.entity.classifications:
        if tag.typeName == "ReleaseVerdict":
            tag.attributes = {"verdict": "BLOCK"}
    assert checked.unchanged(ours)
    corrected = _note("g", "CLASSIFICATION_UPDATE")
    next(t for t in corrected.entity.classifications if t.typeName == "Retracted").attributes = {"reason": "other"}
    assert not checked.unchanged(corrected)  # the retraction's facts changed: check again
    assert not checked.unchanged(_note("g", "CLASSIFICATION_DELETE"))  # a tag removed is always re-checked
    assert not checked.unchanged(_note("other", "CLASSIFICATION_UPDATE"))


def test_the_release_purpose_is_recorded_and_read_back_for_the_recheck() -> None:
    from atlas_mlplugin.mapping.releases import verdict_entities
    from atlas_mlplugin.policy.writeback import decision_of

    context = ReleaseContext(audience="public", commercial=True, purpose="commercial-purpose")
    report = _report("PASS", []).model_copy(update={"context": context})
    release = next(e for e in verdict_entities(decision_of(report)) if e["typeName"] == "ml_release")
    assert release["attributes"]["purpose"] == "commercial-purpose"
    read = recorded_release({**release["attributes"], "description": "PASS ..."})
    assert read is not None and read.context == context
    # A purpose stored before purposes were checked is kept, not a reason to skip the release.
    old = recorded_release({"qualifiedName": "m#release/public/commercial", "audience": "public",
                            "commercial": True, "purpose": "modle-training"})
    assert old is not None and old.context.purpose == "modle-training"


def _header(guid: str, qn: str, type_name: str) -> dict[str, Any]:
    return {"guid": guid, "typeName": type_name, "status": "ACTIVE", "attributes": {"qualifiedName": qn, "name": qn}}


def test_bulk_evidence_takes_each_tags_path_from_its_sources_downstream_graph() -> None:
    from atlas_mlplugin.policy.gather import evidence_from_graphs
    from atlas_mlplugin.reads.lineage import Graph

    # ds -> run1 -> m1, ds -> run2 -> m2, and ds -> clean (derivation) -> ds2 -> run3 -> m1 (a longer path)
    nodes = {g: _header(g, f"qn:{g}", t) for g, t in [
        ("ds", "ml_dataset"), ("run1", "ml_training_run"), ("run2", "ml_training_run"), ("m1", "ml_model"),
        ("m2", "ml_model"), ("clean", "ml_derivation"), ("ds2", "ml_dataset"), ("run3", "ml_training_run")]}
    graph = Graph(root="ds", nodes=nodes, edges=[("ds", "run1"), ("run1", "m1"), ("ds", "run2"), ("run2", "m2"),
                                                 ("ds", "clean"), ("clean", "ds2"), ("ds2", "run3"), ("run3", "m1")])
    retracted = {"typeName": "Retracted", "entityGuid": "ds", "attributes": {"reason": "withdrawn"}}
    own = {"typeName": "ReleaseVerdict", "entityGuid": "m1", "attributes": {"verdict": "PASS"}}
    m1 = {**_header("m1", "qn:m1", "ml_model"), "classifications": [retracted, own]}
    evidence = evidence_from_graphs(m1, {"ds": graph}, {})
    assert evidence is not None
    by_type = {t.type_name: t for t in evidence.tags}
    assert by_type["Retracted"].path == ("qn:ds", "qn:run1", "qn:m1")  # the shortest one
    assert by_type["Retracted"].source_qualified_name == "qn:ds" and not by_type["Retracted"].direct
    assert by_type["ReleaseVerdict"].direct and by_type["ReleaseVerdict"].path == ("qn:m1",)
    # What the graphs cannot explain is left to the model's own read: a source without a graph, a model the
    # graph does not reach, a model with only its own tags (it may lack a dataset upstream: IncompleteLineage).
    assert evidence_from_graphs(m1, {}, {}) is None
    far = {**_header("m9", "qn:m9", "ml_model"), "classifications": [{**retracted}]}
    assert evidence_from_graphs(far, {"ds": graph}, {}) is None
    alone = {**_header("m2", "qn:m2", "ml_model"), "classifications": [{**own, "entityGuid": "m2"}]}
    assert evidence_from_graphs(alone, {"ds": graph}, {}) is None
    # A certified model (the output of an evaluation run): its benchmarks' tags never reach it, so only its
    # own read finds them; explained from shared graphs, the evaluation rules would see no benchmark at all.
    certified = {**m1, "relationshipAttributes": {"outputFromProcesses": [
        {"guid": "eval1", "typeName": "ml_evaluation_run"}]}}
    assert evidence_from_graphs(certified, {"ds": graph}, {}) is None


def test_bulk_write_keeps_each_entity_once_as_the_last_report_left_it() -> None:
    from atlas_mlplugin.policy.writeback import _last_per_key

    model_a = {"typeName": "ml_model", "attributes": {"qualifiedName": "m", "governanceVerdict": "PASS"}}
    model_b = {"typeName": "ml_model", "attributes": {"qualifiedName": "m", "governanceVerdict": "BLOCK"}}
    internal = {"typeName": "ml_release", "attributes": {"qualifiedName": "m#release/internal/non-commercial"}}
    public = {"typeName": "ml_release", "attributes": {"qualifiedName": "m#release/public/non-commercial"}}
    assert _last_per_key([[model_a, internal], [model_b, public]]) == [[internal], [model_b, public]]


def test_a_model_without_its_verdict_tag_is_restored_with_a_line_that_says_what_and_from_where() -> None:
    from atlas_mlplugin.watch.recheck import has_verdict_tag, restored_alert

    verdict = {"typeName": "ReleaseVerdict", "entityGuid": "g", "attributes": {"verdict": "PASS"}}
    assert has_verdict_tag({"guid": "g", "classifications": [verdict]})
    # A copy propagated from another model (someone ticked propagate) is not this model's verdict.
    assert not has_verdict_tag({"guid": "g", "classifications": [{**verdict, "entityGuid": "other"}]})
    assert not has_verdict_tag({"guid": "g", "classifications": []})
    alert = restored_alert(MODEL, PASSED, _report("PASS", []), 1_764_500_000_000)
    line = json.loads(alert.to_json())
    assert line["kind"] == "derived_tag_restored" and line["tag"] == "ReleaseVerdict" and line["entity"] == "models/x/m"
    assert PASSED.qualified_name in line["facts"] and "removed by hand" in line["text"] and "PASS" in line["text"]


def test_a_verdict_tag_that_shows_another_verdict_than_the_record_is_told_apart_from_a_removed_one() -> None:
    from atlas_mlplugin.watch.recheck import restored_alert, verdict_shown

    edited = {"typeName": "ReleaseVerdict", "entityGuid": "g", "attributes": {"verdict": "PASS"}}
    assert verdict_shown({"guid": "g", "classifications": [edited]}) == "PASS"
    assert verdict_shown({"guid": "g", "classifications": []}) is None
    blocked = RecordedRelease(PASSED.qualified_name, PASSED.context, "BLOCK", "BLOCK ...")
    text = restored_alert(MODEL, blocked, _report("BLOCK", []), removed=False).text
    assert "did not show the recorded verdict" in text and "(BLOCK)" in text


def test_a_webhook_that_fails_is_named_without_the_secret_in_its_path() -> None:
    # An incoming webhook's secret is its path; the error and the retry warnings must not carry it.
    secret = "T0K3N-b6f1c2d9e8a7"
    with webhook_receiver(fail_first=10) as hook:
        url = f"{hook.url.rstrip('/')}/hooks/{secret}"
        with pytest.raises(AlertDeliveryError) as refused:
            WebhookSink(url, attempts=1, backoff=0.01).send(alert_of(MODEL, PASSED, BLOCKED))
    assert secret not in str(refused.value) and "127.0.0.1" in str(refused.value)
    with pytest.raises(AlertDeliveryError) as unreachable:
        WebhookSink(url, attempts=1, timeout=1).send(alert_of(MODEL, PASSED, BLOCKED))
    assert secret not in str(unreachable.value) and "ConnectionError" in str(unreachable.value)
