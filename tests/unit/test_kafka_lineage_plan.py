"""The kafka transport's planning (transport/lineage.py): what it published and Atlas has not applied yet counts as
existing for the next batch's plan, and it waits for such an entity only where a REST fix-up needs it."""

from __future__ import annotations

from atlas_mlplugin.mapping.openlineage import plan_batch
from atlas_mlplugin.mapping.tags import placeholder_tags
from atlas_mlplugin.transport.lineage import awaited, with_in_flight
from tests.unit.test_ingest_batch import by_name, step


def test_an_output_in_flight_read_next_is_no_placeholder_and_is_not_waited_for() -> None:
    first = plan_batch([step("a", [], ["/mid"])], {})
    published = {("ml_dataset", "file:///mid"): []}
    steps = [step("b", ["/mid"], ["/out"])]
    known = with_in_flight(steps, {}, published)
    plan = plan_batch(steps, known)
    assert "file:///mid" in by_name(first.entities)
    assert "file:///mid" not in by_name(plan.entities)  # a placeholder would overwrite the output's facts
    assert plan.unregistered == []
    assert awaited(plan, known) == set()


def test_a_placeholder_in_flight_written_next_is_waited_for_then_untagged() -> None:
    key = ("ml_dataset", "file:///shared")
    steps = [step("late", [], ["/shared"])]
    known = with_in_flight(steps, {}, {key: placeholder_tags("file:///shared")})
    assert awaited(plan_batch(steps, known), known) == {key}
    applied = {key: {"guid": "g-shared", "classifications": [{**placeholder_tags("file:///shared")[0],
                                                              "entityGuid": "g-shared"}]}}
    assert plan_batch(steps, {**known, **applied}).untag == ["g-shared"]


def test_a_process_in_flight_is_waited_for_only_when_its_tags_must_change() -> None:
    run = ("ml_training_run", "spark:fit")
    without_inputs = step("fit", [], ["/model"], training=True)
    published = {run: without_inputs.tags, ("ml_model", "file:///model"): []}
    assert [t["typeName"] for t in without_inputs.tags] == ["IncompleteLineage"]
    again = [step("fit", [], ["/model"], training=True)]
    known = with_in_flight(again, {}, published)
    assert awaited(plan_batch(again, known), known) == set()  # same tags: nothing to fix over REST
    with_inputs = [step("fit", ["/train"], ["/model"], training=True)]
    known = with_in_flight(with_inputs, {}, published)
    assert awaited(plan_batch(with_inputs, known), known) == {run}  # its IncompleteLineage must go


def test_what_atlas_holds_wins_over_what_was_published() -> None:
    key = ("ml_dataset", "file:///shared")
    steps = [step("late", [], ["/shared"])]
    existing = {key: {"guid": "g", "classifications": []}}  # applied, and someone dropped the tag since
    known = with_in_flight(steps, existing, {key: placeholder_tags("file:///shared")})
    plan = plan_batch(steps, known)
    assert (plan.untag, awaited(plan, known)) == ([], set())
