"""parse_run_event, the one entry of every OpenLineage event (receiver and directory drain): whatever the
bytes, a RunEvent or InvalidRunEventError with a one-line reason, never another exception; and a deep file in
the event directory goes to rejected/ instead of stopping the drain."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.limits import MAX_NESTING
from atlas_mlplugin.model.openlineage import InvalidRunEventError, RunEvent, parse_run_event
from atlas_mlplugin.openlineage.ingest import LineageIngestor, event_queue

VALID = {"eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "t",
         "run": {"runId": "r1"}, "job": {"namespace": "spark", "name": "job"},
         "inputs": [{"namespace": "file", "name": "/a.csv"}], "outputs": []}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30)
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
# Names Atlas can hold (limits.check_name): one line of text, no control or bidi characters.
one_line_names = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp")), min_size=1,
                         max_size=60).filter(str.strip)


def parses_or_refuses(data: bytes | str) -> RunEvent | None:
    """The property under test: a RunEvent, or InvalidRunEventError with a one-line reason."""
    try:
        return parse_run_event(data)
    except InvalidRunEventError as exc:
        reason = str(exc)
        assert reason and "\n" not in reason, repr(reason)
        return None


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_raise_the_typed_error(data: bytes) -> None:
    parses_or_refuses(data)


@given(json_values)
def test_arbitrary_json_only_raises_the_typed_error(value: Any) -> None:
    parses_or_refuses(json.dumps(value))


@given(st.sampled_from(["eventType", "eventTime", "run", "job", "inputs", "outputs", "producer"]), json_values)
def test_a_valid_event_with_any_field_replaced_only_raises_the_typed_error(key: str, value: Any) -> None:
    parses_or_refuses(json.dumps({**VALID, key: value}).encode())


@given(st.binary(min_size=1, max_size=200), st.integers(0, 300))
def test_garbage_spliced_into_a_valid_event_only_raises_the_typed_error(garbage: bytes, at: int) -> None:
    data = json.dumps(VALID).encode()
    parses_or_refuses(data[:at] + garbage + data[at:])


datasets = st.lists(st.fixed_dictionaries({"namespace": one_line_names, "name": one_line_names}), max_size=5)


@given(job_namespace=names, job_name=one_line_names, run_id=names, inputs=datasets, outputs=datasets,
       event_type=st.sampled_from(["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]))
def test_generated_valid_events_parse_and_keep_their_names(job_namespace: str, job_name: str, run_id: str,
                                                           inputs: list[dict[str, str]],
                                                           outputs: list[dict[str, str]], event_type: str) -> None:
    document = {"eventType": event_type, "eventTime": "2026-11-27T10:00:00.123+02:00", "producer": "p",
                "run": {"runId": run_id}, "job": {"namespace": job_namespace, "name": job_name},
                "inputs": inputs, "outputs": outputs}
    event = parse_run_event(json.dumps(document).encode())
    assert (event.job.namespace, event.job.name, event.run.runId) == (job_namespace, job_name, run_id)
    assert [(d.namespace, d.name) for d in event.inputs] == [(d["namespace"], d["name"]) for d in inputs]
    assert [(d.namespace, d.name) for d in event.outputs] == [(d["namespace"], d["name"]) for d in outputs]
    assert event.eventType == event_type


def nest(depth: int, opener: str) -> str:
    closer = {"[": "]", "{": "}"}[opener]
    inner = "1" if opener == "[" else "{}"
    return (opener if opener == "[" else '{"k":') * depth + inner + (closer * depth)


@given(depth=st.integers(MAX_NESTING + 1, 50_000), opener=st.sampled_from(["[", "{"]),
       where=st.sampled_from(["top", "job facet", "run facet", "dataset name"]))
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
def test_deep_nesting_is_refused_with_the_typed_error(depth: int, opener: str, where: str) -> None:
    deep = nest(depth, opener)
    text = {"top": deep,
            "job facet": json.dumps(VALID)[:-1] + f', "x": {deep}}}',
            "run facet": json.dumps({**VALID, "run": {"runId": "r", "facets": {}}}).replace('"facets": {}',
                                                                                       f'"facets": {{"f": {deep}}}'),
            "dataset name": json.dumps(VALID).replace('"/a.csv"', deep)}[where]
    with pytest.raises(InvalidRunEventError, match=f"nests deeper than {MAX_NESTING} levels"):
        parse_run_event(text.encode())


def test_nesting_up_to_the_limit_is_accepted() -> None:
    # The whole event counts: the event object is level 1, run 2, facets 3, the facet's arrays the rest.
    facet = nest(MAX_NESTING - 3, "[")
    event = parse_run_event(json.dumps(VALID)[:-1].encode() + f', "run": {{"runId": "r", "facets": {{"f": {facet}}}}}}}'
                            .encode())
    assert event.run.facets["f"]


def test_reasons_name_the_problem_without_quoting_the_input() -> None:
    cases = {b"\xff{}": "not UTF-8", b"[]": "JSON object", b"{": "not JSON", b'{"a": NaN}': "not JSON",
             json.dumps({**VALID, "job": {"namespace": "n", "name": ""}}).encode(): "job.name",
             json.dumps({**VALID, "eventType": "password=hunter2"}).encode(): "eventType",
             json.dumps({**VALID, "eventTime": "password=hunter2"}).encode(): "eventTime"}
    for data, expected in cases.items():
        with pytest.raises(InvalidRunEventError) as caught:
            parse_run_event(data)
        assert expected in str(caught.value) and "hunter2" not in str(caught.value)


@given(secret=st.text(st.characters(whitelist_categories=("L", "N")), min_size=12, max_size=30),
       key=st.sampled_from(["eventType", "eventTime", "run", "job", "inputs"]))
def test_a_refused_value_never_appears_in_the_reason(secret: str, key: str) -> None:
    # Reasons go into HTTP answers, logs and rejected/*.reason.txt; the refused value may be a credential.
    try:
        parse_run_event(json.dumps({**VALID, key: f"xx{secret}"}).encode())
    except InvalidRunEventError as exc:
        assert secret not in str(exc)


# -- the directory drain uses the same parser -----------------------------------------------------------

def unreachable_atlas() -> GovernanceRegistry:
    """A registry whose Atlas is a closed port: these files must be refused before Atlas is ever asked."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings_ = AtlasSettings(url=f"http://127.0.0.1:{port}", max_retries=1, connect_timeout=1, read_timeout=1)
    return GovernanceRegistry(AtlasClient(settings_))


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 100, 150_000])
def test_a_deep_file_in_the_event_directory_is_rejected_with_the_reason(tmp_path: Path, depth: int) -> None:
    events = event_queue(tmp_path)
    deep = json.dumps(VALID)[:-1] + f', "run": {{"runId": "r", "facets": {{"f": {nest(depth, "[")}}}}}}}'
    path = events.put(deep.encode())
    report = LineageIngestor(unreachable_atlas()).drain(tmp_path)
    assert report.error is None and report.remaining == 0, report
    assert [name for name, _ in report.rejected] == [path.name]
    assert "nests deeper than 64 levels" in report.rejected[0][1]
    assert "nests deeper than 64 levels" in (events.dead_reason(path) or "")
    assert not events.files() and [p.name for p in events.dead_files()] == [path.name]


@pytest.mark.parametrize("line_break", ["\n", "\r", "\u0085", "\u2028", "\u2029"])
@pytest.mark.parametrize("where", ["inputs", "outputs", "job"])
def test_a_name_with_a_line_break_is_rejected_not_left_to_block_the_directory(
        tmp_path: Path, line_break: str, where: str) -> None:
    """Atlas 2.1.0 answers such a name with 403 (its authorizer's patterns stop at a line break), which reads
    as a missing permission: the event would stay first in line for good, holding up every event behind it."""
    document = json.loads(json.dumps(VALID))
    if where == "job":
        document["job"]["name"] = f"nightly{line_break}etl"
    else:
        document[where] = [{"namespace": "file", "name": f"/data/a{line_break}b.csv"}]
    with pytest.raises(InvalidRunEventError, match=r"U\+[0-9A-F]{4}.*one-line"):
        parse_run_event(json.dumps(document))
    events = event_queue(tmp_path)
    path = events.put(json.dumps(document).encode())
    report = LineageIngestor(unreachable_atlas()).drain(tmp_path)  # refused before Atlas is asked
    assert report.error is None and [name for name, _ in report.rejected] == [path.name], report


@pytest.mark.parametrize("job_name", ["?", "etl -----BEGIN PRIVATE KEY-----\nQabc\n-----END PRIVATE KEY-----"])
def test_names_are_judged_as_atlas_stores_them(job_name: str) -> None:
    """A lone "?" (which scrubbing empties) and a multi-line key (which scrubbing makes one `***`) both pass."""
    document = json.loads(json.dumps(VALID))
    document["job"]["name"] = job_name
    assert parse_run_event(json.dumps(document)).job.name == job_name
