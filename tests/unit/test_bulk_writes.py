"""Grouping writes into bulk requests (governance/bulk.py): order kept, requests bounded in entities, in
new input edges and in the tag propagation they make Atlas do, and a big process written in growing parts
that end with exactly its inputs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from atlas_mlplugin.governance.bulk import REQUEST_OVERHEAD_TAGS, Write, input_parts, requests_for
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping import names as n


def dataset(i: int) -> Write:
    return Write({"typeName": n.ML_DATASET, "attributes": {n.QUALIFIED_NAME: f"d{i}", n.NAME: f"d{i}"}},
                 [{"typeName": "NonCommercial", "attributes": {}}], frozenset({"NonCommercial"}), None)


def process(name: str, inputs: list[str], existing: list[str] | None = None) -> Write:
    entity = {"typeName": n.ML_TRAINING_RUN, "attributes": {
        n.QUALIFIED_NAME: name, n.NAME: name, n.INPUTS: [em.object_id(n.ML_DATASET, qn) for qn in inputs]}}
    found = None if existing is None else {"guid": "g", "attributes": {n.INPUTS: [
        em.object_id(n.ML_DATASET, qn) for qn in existing]}}
    return Write(entity, [], frozenset(), found, before=[{"typeName": n.ML_MODEL, "attributes": {
        n.QUALIFIED_NAME: f"{name}/model", n.NAME: "m"}}])


def names(bodies: list[dict]) -> list[str]:
    return [b["attributes"][n.QUALIFIED_NAME] for b in bodies]


def test_entities_of_a_kind_go_together_in_order_at_most_per_request_each() -> None:
    requests = list(requests_for([dataset(i) for i in range(250)], per_request=100))
    assert [len(r.bodies) for r in requests] == [100, 100, 50]
    assert [q for r in requests for q in names(r.bodies)] == [f"d{i}" for i in range(250)]
    # New entities carry their tags (Atlas applies them on create); no tag call needed for them.
    assert all(b["classifications"] for r in requests for b in r.bodies)


def test_a_run_with_more_inputs_than_one_request_takes_is_written_in_growing_parts() -> None:
    inputs = [f"d{i}" for i in range(23)]
    requests = list(requests_for([dataset(0), process("run", inputs)], per_request=100, max_inputs=5))
    assert names(requests[0].bodies) == ["d0"]  # a process written in parts starts its own request
    parts = [r.bodies[-1] for r in requests[1:]]
    listed = [[ref["uniqueAttributes"][n.QUALIFIED_NAME] for ref in p["attributes"][n.INPUTS]] for p in parts]
    assert listed == [inputs[:k] for k in (5, 10, 15, 20, 23)]
    # The model goes with the first part, the run's tags and follow-up with the last (all inputs linked).
    assert names(requests[1].bodies) == ["run/model", "run"]
    assert [[w.key[1] for w in r.writes] for r in requests] == [["d0"], [], [], [], [], ["run"]]


def test_inputs_a_run_has_already_cost_nothing_and_come_first() -> None:
    parts = input_parts(["a", "b", "c", "d"], {"c", "d"}, {}, max_inputs=1)
    assert parts == [["c", "d", "a"], ["a", "b", "c", "d"]]
    assert input_parts(["a", "b"], {"a", "b", "x"}, {}) == [["a", "b"]]  # x is dropped in the one request


def test_parts_shrink_as_the_process_gathers_tags() -> None:
    """Each propagated tag costs Atlas more the more tags the process holds: later parts add fewer inputs."""
    inputs = [f"d{i}" for i in range(1000)]
    tags = {qn: 2 for qn in inputs}
    parts = input_parts(inputs, set(), tags, max_inputs=100, budget=20_000)
    sizes = [len(b) - len(a) for a, b in zip([[], *parts], parts, strict=False)]
    assert parts[-1] == inputs and sizes[0] >= 90 and sizes[-2] < 10
    held = 0
    for added in sizes:
        work = REQUEST_OVERHEAD_TAGS * held + sum(2 * (held + 2 * k + 2) for k in range(added))
        assert added == 1 or work <= 20_000, (added, held, work)
        held += 2 * added


@given(st.lists(st.integers(0, 6), min_size=1, max_size=300), st.integers(1, 50), st.integers(1, 5000),
       st.sets(st.integers(0, 299)))
def test_the_parts_end_with_exactly_the_inputs_and_only_grow(tags: list[int], max_inputs: int, budget: int,
                                                              linked_ids: set[int]) -> None:
    inputs = [f"d{i}" for i in range(len(tags))]
    linked = {f"d{i}" for i in linked_ids}
    parts = input_parts(inputs, linked, dict(zip(inputs, tags, strict=True)), max_inputs=max_inputs, budget=budget)
    assert parts[-1] == inputs
    for before, after in zip(parts, parts[1:], strict=False):
        assert set(before) < set(after) and len(set(after) - set(before)) <= max_inputs
    assert set(parts[0]) >= linked & set(inputs)
