"""Planning a batch of OpenLineage events (mapping/openlineage.plan_batch, which both transports write): the
writes of one bulk upsert must leave Atlas as applying the events one by one would, and bulk look-ups must keep
their URLs inside Atlas's limit (client.lookup_chunks)."""

from __future__ import annotations

import json
from typing import Any

from atlas_mlplugin.atlas.client import lookup_chunks
from atlas_mlplugin.limits import MAX_NAME_URL_BYTES, url_bytes
from atlas_mlplugin.mapping.openlineage import EventStep, event_step, plan_batch
from atlas_mlplugin.model.openlineage import parse_run_event


def step(job: str, inputs: list[str], outputs: list[str], *, training: bool = False, when: str = "10") -> EventStep:
    facets: dict[str, Any] = {"atlasMl": {"params": {}}} if training else {}
    return event_step(parse_run_event(json.dumps({
        "eventType": "COMPLETE", "eventTime": f"2026-11-27T10:00:{when}Z", "producer": "t",
        "run": {"runId": job, "facets": facets}, "job": {"namespace": "spark", "name": job},
        "inputs": [{"namespace": "file", "name": i} for i in inputs],
        "outputs": [{"namespace": "file", "name": o} for o in outputs]})))


def by_name(plan_entities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["attributes"]["qualifiedName"]: e for e in plan_entities}


def test_an_input_nobody_registered_is_a_placeholder_with_unknown_license_once() -> None:
    plan = plan_batch([step("a", ["/raw"], ["/x"]), step("b", ["/raw"], ["/y"])], {})
    raw = by_name(plan.entities)["file:///raw"]
    assert [c["typeName"] for c in raw["classifications"]] == ["UnknownLicense"]
    assert [e["attributes"]["qualifiedName"] for e in plan.entities].count("file:///raw") == 1
    assert plan.unregistered == ["file:///raw"]


def test_read_then_written_in_one_batch_loses_the_placeholder_tag_as_one_by_one() -> None:
    # One by one: event 1 makes a placeholder (tagged), event 2 writes it and mark_as_output drops the tag.
    plan = plan_batch([step("a", ["/mid"], ["/x"]), step("b", ["/src"], ["/mid"])], {})
    mid = by_name(plan.entities)["file:///mid"]
    assert "classifications" not in mid
    assert mid["attributes"]["declaredLicense"] == "NOASSERTION"  # still the placeholder it was made as


def test_written_then_read_in_one_batch_is_no_placeholder() -> None:
    plan = plan_batch([step("a", ["/src"], ["/mid"]), step("b", ["/mid"], ["/x"])], {})
    assert "classifications" not in by_name(plan.entities)["file:///mid"]
    assert plan.unregistered == ["file:///src"]


def test_an_existing_placeholder_that_turns_out_to_be_an_output_is_untagged_and_not_rewritten() -> None:
    guid = "g-mid"
    existing = {("ml_dataset", "file:///mid"): {"guid": guid, "classifications": [
        {"typeName": "UnknownLicense", "entityGuid": guid, "attributes": {"licenseId": "UNREGISTERED"}}]},
        ("ml_dataset", "file:///src"): {"guid": "g-src", "classifications": []}}
    plan = plan_batch([step("a", ["/src"], ["/mid"])], existing)
    assert plan.untag == [guid]
    assert set(by_name(plan.entities)) == {"spark-write:file:///mid"}  # only the process is written


def test_a_declared_unknown_license_or_a_propagated_one_is_not_a_placeholder() -> None:
    existing = {("ml_dataset", "file:///mid"): {"guid": "g", "classifications": [
        {"typeName": "UnknownLicense", "entityGuid": "g", "attributes": {"licenseId": "NOASSERTION"}},
        {"typeName": "UnknownLicense", "entityGuid": "other", "attributes": {"licenseId": "UNREGISTERED"}}]}}
    assert plan_batch([step("a", [], ["/mid"])], existing).untag == []


def test_a_step_seen_twice_is_one_process_with_the_later_facts() -> None:
    plan = plan_batch([step("a", ["/one"], ["/x"], when="01"), step("a2", ["/two"], ["/x"], when="02")], {})
    processes = [e for e in plan.entities if e["typeName"] == "ml_spark_process"]
    assert len(processes) == 1
    attributes = processes[0]["attributes"]
    assert attributes["name"] == "a2"
    assert [r["uniqueAttributes"]["qualifiedName"] for r in attributes["inputs"]] == ["file:///two"]


def test_a_new_training_run_without_inputs_carries_incomplete_lineage_in_its_create() -> None:
    plan = plan_batch([step("fit", [], ["/model"], training=True)], {})
    run = next(e for e in plan.entities if e["typeName"] == "ml_training_run")
    assert [c["typeName"] for c in run["classifications"]] == ["IncompleteLineage"]
    # An existing run's tags are compared after the write instead (create payloads only take tags on create).
    existing = {("ml_training_run", "spark:fit"): {"guid": "r", "classifications": []}}
    plan = plan_batch([step("fit", [], ["/model"], training=True)], existing)
    run = next(e for e in plan.entities if e["typeName"] == "ml_training_run")
    assert "classifications" not in run
    assert [c["typeName"] for c in plan.process_tags[("ml_training_run", "spark:fit")]] == ["IncompleteLineage"]


def test_datasets_come_before_the_processes_that_refer_to_them() -> None:
    plan = plan_batch([step("a", ["/in"], ["/out"])], {})
    assert [e["typeName"] for e in plan.entities] == ["ml_dataset", "ml_dataset", "ml_spark_process"]


def test_lookups_are_split_so_each_url_stays_inside_the_limit_and_keeps_order() -> None:
    names = [f"file:///data/{i:05d}/" + "é" * (i % 300) for i in range(2000)]
    chunks = lookup_chunks(names)
    assert [n for chunk in chunks for n in chunk] == names
    for chunk in chunks:
        query = "&".join(f"attr_{i}:qualifiedName={n}" for i, n in enumerate(chunk))
        assert sum(url_bytes(f"attr_{i}:qualifiedName") + url_bytes(n) + 2 for i, n in enumerate(chunk)) \
            <= MAX_NAME_URL_BYTES or len(chunk) == 1, len(query)
    assert len(chunks) < 200  # many names per request, not one each


def test_a_name_as_long_as_allowed_gets_a_request_of_its_own() -> None:
    longest = "x" * (MAX_NAME_URL_BYTES - 30)
    assert lookup_chunks(["a", longest, "b"]) == [["a"], [longest], ["b"]]
