"""The catalog file (`atlas-ml apply FILE`): parsing with errors that name file, line and field; the published
JSON Schema; and apply's created / updated / unchanged classification.

apply runs against a small in-memory stand-in for our own registry protocol (bulk look-ups and upserts, tag
sync), which stores what each call would write. It is not a model of Atlas; the
integration tests run apply against a real server.
"""

from __future__ import annotations

import contextlib
import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests

from atlas_mlplugin.catalog import CatalogDocument, CatalogError, apply_catalog, load_catalog, parse_catalog
from atlas_mlplugin.catalog.schema import REGENERATE, schema_text
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, TrainingRunSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "catalog.yaml"
SCHEMA = ROOT / "schemas" / "catalog.schema.json"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def issues_of(path: Path, **kwargs: Any) -> list[tuple[int, str, str]]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, **kwargs)
    assert all(issue.file == str(path) for issue in caught.value.issues)
    return [(issue.line, issue.field, issue.message) for issue in caught.value.issues]


# --------------------------------------------------------------------------------------------------
# the example and the schema


def test_example_catalog_validates() -> None:
    doc = load_catalog(EXAMPLE)
    assert [lic.spdx_id for lic in doc.licenses] == ["LicenseRef-acme-internal"]
    assert {ds.license for ds in doc.datasets} == {"CC-BY-NC-4.0", "CC0-1.0", "LicenseRef-acme-internal"}
    # `research` is the example's alias; the record holds the canonical DPV term
    assert doc.consent_records[0].purposes == ["model-training", "research-and-development"]
    (anonymize,) = doc.derivations
    assert anonymize.derivation_type == "anonymize" and anonymize.attested and anonymize.attestation
    (run,) = doc.resolved_training_runs()
    assert [m.qualified_name for m in run.outputs] == ["file:///models/scene-intent/1.0"]
    assert all(ds.qualified_name.startswith("file:///") for _, ds in doc.all_datasets())


def test_committed_schema_is_current() -> None:
    assert SCHEMA.exists(), f"schemas/catalog.schema.json is missing; run: {REGENERATE}"
    assert SCHEMA.read_text("utf-8") == schema_text(), (
        f"schemas/catalog.schema.json is stale (CatalogDocument or a spec changed); run: {REGENERATE}")


def test_schema_documents_the_sections_and_the_two_ways_to_give_a_run_output() -> None:
    schema = json.loads(schema_text())
    assert schema["additionalProperties"] is False and schema["required"] == ["version"]
    assert set(schema["properties"]) == {"version", "licenses", "consent_records", "datasets", "derivations",
                                         "models", "training_runs", "evaluations", "accepted_risks"}
    outputs = schema["$defs"]["CatalogTrainingRun"]["properties"]["outputs"]
    assert outputs["items"]["oneOf"] == [{"type": "string"}, {"$ref": "#/$defs/ModelSpec"}]
    assert "models:" in outputs["description"] and "inline" in outputs["description"]
    assert "deletes nothing" in schema["description"]


# --------------------------------------------------------------------------------------------------
# errors name the file, line and field

HEAD = """
version: 1
datasets:
  - qualified_name: file:///data/a
    name: a
"""


def test_wrong_type_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "    version: 1.0\n    research_only: maybe\n")
    issues = issues_of(path)
    assert issues[0][:2] == (5, "datasets[0].version")
    assert "got 1.0" in issues[0][2] and "quotes" in issues[0][2]
    assert issues[1][:2] == (6, "datasets[0].research_only") and "'maybe'" in issues[1][2]


def test_unknown_field_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "    licence: CC0-1.0\n")
    assert issues_of(path) == [(5, "datasets[0].licence", "unknown field 'licence'; did you mean 'license'?")]


def test_unknown_field_in_a_custom_license_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        licenses:
          - spdx_id: LicenseRef-x
            name: x
            use_categry: commercial
        """)
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (5, "licenses[0].use_categry") and "'use_category'" in message


def test_unknown_license_id_with_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "    license: CC-BY-NC-4\n")
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (5, "datasets[0].license")
    assert "'CC-BY-NC-4'" in message and "Did you mean: CC-BY-NC-4.0" in message


def test_license_declared_in_the_file_is_known(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        licenses:
          - {spdx_id: LicenseRef-lab, name: Lab terms, use_category: academicOnly}
        datasets:
          - {qualified_name: file:///data/a, name: a, license: licenseref-lab}
        """)
    assert load_catalog(path).datasets[0].license == "licenseref-lab"


def test_builtin_license_cannot_be_redefined_with_other_terms(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        licenses:
          - {spdx_id: CC-BY-NC-4.0, name: mine, use_category: commercial}
        """)
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (3, "licenses[0].spdx_id") and "built-in" in message and "LicenseRef-" in message


def test_undeclared_consent_record(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        consent_records:
          - {qualified_name: consent:chat/v3, name: chat v3}
        datasets:
          - qualified_name: file:///data/a
            name: a
            consent_records:
              - consent:chat/v2
        """)
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (8, "datasets[0].consent_records[0]")
    assert "'consent:chat/v2' is not declared" in message and "consent:chat/v3" in message
    assert load_catalog(path, allow_external_refs=True).datasets[0].consent_records == ["consent:chat/v2"]


def test_duplicate_qualified_name_points_at_both(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """
  - qualified_name: file:///data/b
    name: b
  - qualified_name: file:///data/a
    name: a again
""")
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (8, "datasets[2].qualified_name")
    assert "duplicate dataset 'file:///data/a'" in message and "datasets[0] (line 3)" in message


def test_derivation_output_may_not_repeat_a_declared_dataset(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """
derivations:
  - qualified_name: derive:x
    name: x
    derivation_type: filter
    inputs: [file:///data/a]
    outputs:
      - {qualified_name: file:///data/a, name: a}
""")
    assert [(line, field) for line, field, _ in issues_of(path)] == [(12, "derivations[0].outputs[0].qualified_name")]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "    license: CC0-1.0\n    license: CC-BY-4.0\n")
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (6, "datasets[0].license")
    assert "duplicate key 'license' (first at line 5)" in message


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "    description: [unclosed\n  - qualified_name: file:///data/b\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    [issue] = caught.value.issues
    assert issue.message.startswith("invalid YAML") and "line 5" in issue.message and issue.line >= 5
    assert str(caught.value).startswith(f"{path}:{issue.line}:{issue.column}: invalid YAML")


def test_bad_indentation_is_reported_where_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "   owner: x\n")
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (5, "") and message.startswith("invalid YAML")


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        datasets:
          - qualified_name: file:///data/a
          - name: b
        """)
    assert issues_of(path) == [(3, "datasets[0].name", "required field is missing"),
                               (4, "datasets[1].qualified_name", "required field is missing")]


def test_attested_anonymization_needs_an_attestation(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """
derivations:
  - qualified_name: derive:anon
    name: anon
    derivation_type: anonymize
    inputs: [file:///data/a]
    attested: true
    outputs:
      - {qualified_name: file:///data/a-anon, name: a-anon}
""")
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (11, "derivations[0].attestation") and "attested: true needs an attestation" in message


def test_inputs_must_be_datasets_of_the_file_unless_external_refs_are_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """
training_runs:
  - run_id: r1
    name: r1
    inputs: [file:///data/a, file:///data/b]
    outputs: [{qualified_name: file:///models/m, name: m}]
""")
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (9, "training_runs[0].inputs[1]") and "'file:///data/b'" in message
    assert load_catalog(path, allow_external_refs=True).training_runs[0].inputs[1] == "file:///data/b"


def test_run_outputs_by_reference_or_inline(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """
models:
  - {qualified_name: file:///models/m1, name: m1}
  - {qualified_name: file:///models/unused, name: unused}
training_runs:
  - run_id: r1
    name: r1
    inputs: [file:///data/a]
    outputs:
      - file:///models/m1
      - file:///models/m9
      - {qualified_name: file:///models/m1, name: m1 again}
""")
    assert [(line, field) for line, field, _ in issues_of(path)] == [
        (8, "models[1]"),  # declared but produced by no run
        (15, "training_runs[0].outputs[1]"),  # reference to an undeclared model
        (16, "training_runs[0].outputs[2].qualified_name"),  # declared twice
    ]


def test_inline_model_errors_point_into_the_model(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """
training_runs:
  - run_id: r1
    name: r1
    inputs: [file:///data/a]
    outputs:
      - qualified_name: file:///models/m
        nme: m
""")
    assert [(line, field) for line, field, _ in issues_of(path)] == [
        (11, "training_runs[0].outputs[0].name"), (12, "training_runs[0].outputs[0].nme")]


def test_derivation_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        derivations:
          - {qualified_name: d1, name: d1, derivation_type: filter, inputs: [file:///b],
             outputs: [{qualified_name: file:///a, name: a}]}
          - {qualified_name: d2, name: d2, derivation_type: filter, inputs: [file:///a],
             outputs: [{qualified_name: file:///b, name: b}]}
        """)
    assert {field for _, field, message in issues_of(path) if "cycle" in message} == {
        "derivations[0].inputs[0]", "derivations[1].inputs[0]"}


def test_empty_file_and_wrong_top_level(tmp_path: Path) -> None:
    path = write(tmp_path, "# only a comment\n")
    assert issues_of(path) == [(1, "", "the file is empty; a catalog starts with `version: 1`")]
    path = write(tmp_path, "version: 2\ndataset: []\nmodels:\n")
    assert [(line, field) for line, field, _ in issues_of(path)] == [(1, "version"), (2, "dataset")]


def test_all_issues_listed_as_file_line_column(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "    licence: x\n    research_only: maybe\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).splitlines() == [
        f"{path}:5:5: datasets[0].licence: unknown field 'licence'; did you mean 'license'?",
        f"{path}:6:5: datasets[0].research_only: Input should be a valid boolean, unable to interpret input "
        "(got 'maybe')",
    ]


def test_relative_local_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x\n")
    path = write(tmp_path, HEAD + "    local_path: data/a.csv\n")
    assert load_catalog(path).datasets[0].local_path == (tmp_path / "data" / "a.csv").resolve()


def test_plain_specs_are_accepted_in_python() -> None:
    doc = CatalogDocument.model_validate({
        "version": 1,
        "licenses": [DataLicense(spdx_id="LicenseRef-x", name="x")],
        "datasets": [DatasetSpec(qualified_name="file:///a", name="a", license="LicenseRef-x")],
        "training_runs": [TrainingRunSpec(run_id="r", name="r", inputs=["file:///a"])],
    })
    assert doc.reference_problems() == []
    assert isinstance(doc.licenses[0], DataLicense) and isinstance(doc.training_runs[0], TrainingRunSpec)


# --------------------------------------------------------------------------------------------------
# apply: created / updated / unchanged, against an in-memory stand-in for the registry protocol


class EntityStore:
    """Bulk look-ups and upserts over what the stand-in stored, shaped like Atlas's answers; each bulk upsert
    is recorded (its qualifiedNames) and counted as a write request on `session`."""

    def __init__(self) -> None:
        self.entities: dict[tuple[str, str], dict[str, Any]] = {}
        self.session = requests.Session()
        self.calls: list[str] = []

    def find_entity(self, type_name: str, qualified_name: str) -> dict[str, Any] | None:
        entity = self.entities.get((type_name, qualified_name))
        return {"entity": copy.deepcopy(entity)} if entity else None

    def find_entities(self, type_name: str, qualified_names: Any, **_: Any) -> dict[str, dict[str, Any]]:
        """Like Atlas's bulk GET by unique attributes: the ACTIVE ones of those names, by name."""
        found = {qn: self.entities.get((type_name, qn)) for qn in qualified_names}
        return {qn: copy.deepcopy(e) for qn, e in found.items() if e and e.get("status") != "DELETED"}

    def get_entities(self, guids: Any, **_: Any) -> dict[str, Any]:
        return {"entities": [copy.deepcopy(e) for e in self.entities.values() if e["guid"] in set(guids)]}

    def writing(self, names: Any) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def upsert_entities(self, entities: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append("POST " + ", ".join(e["attributes"]["qualifiedName"] for e in entities))
        placeholders = {e["guid"]: e["attributes"]["qualifiedName"] for e in entities}
        response: dict[str, Any] = {"mutatedEntities": {"CREATE": [], "UPDATE": []}, "guidAssignments": {}}
        for entity in entities:
            key = (entity["typeName"], entity["attributes"]["qualifiedName"])
            created = key not in self.entities or self.entities[key]["status"] == "DELETED"
            guid = self.put(entity, entity.get("classifications") if created else None, placeholders)
            response["guidAssignments"][entity["guid"]] = guid
            response["mutatedEntities"]["CREATE" if created else "UPDATE"].append(
                {"guid": guid, "typeName": key[0], "attributes": {"qualifiedName": key[1]}})
        fake = requests.Response()
        fake.request = requests.Request("POST", "http://stand-in/bulk").prepare()
        for hook in self.session.hooks["response"]:
            hook(fake)
        return response

    def put(self, entity: dict[str, Any], tags: list[dict[str, Any]] | None = None,
            placeholders: dict[str, str] | None = None) -> str:
        key = (entity["typeName"], entity["attributes"]["qualifiedName"])
        before = self.entities.get(key, {})
        guid = before.get("guid") or f"guid-{len(self.entities) + 1}"
        names = placeholders or {}
        self.entities[key] = {
            "guid": guid, "typeName": key[0], "status": "ACTIVE",
            "attributes": {**(before.get("attributes") or {}),
                           **{k: self._ids(v, names) for k, v in entity["attributes"].items()}},
            "relationshipAttributes": {k: self._ids(v, names, relationship=True)
                                       for k, v in (entity.get("relationshipAttributes") or {}).items()},
            "classifications": [{**t, "entityGuid": guid} for t in tags or []] if tags is not None
            else before.get("classifications", []),
        }
        return guid

    def _ids(self, value: Any, names: dict[str, str], relationship: bool = False) -> Any:
        if isinstance(value, list):
            return [self._ids(v, names, relationship) for v in value]
        if isinstance(value, dict) and "typeName" in value and ("uniqueAttributes" in value or "guid" in value):
            qn = value["uniqueAttributes"]["qualifiedName"] if "uniqueAttributes" in value else names[value["guid"]]
            out = {"guid": f"guid-of-{qn}", "typeName": value["typeName"], "uniqueAttributes": {"qualifiedName": qn}}
            return {**out, "relationshipStatus": "ACTIVE"} if relationship else out
        return value


class StandInRegistry:
    """The registry protocol apply uses: tag sync replaces the managed tags, a consent record's own write
    stores it; `calls` lists the bulk requests and other writes in order."""

    def __init__(self) -> None:
        self.client = EntityStore()
        self.catalog = LicenseCatalog.from_csv()
        self.calls = self.client.calls

    def register_consent(self, rec: ConsentRecordSpec) -> str:
        self.calls.append(f"consent {rec.qualified_name}")
        return self.client.put(em.consent_entity(rec))

    def _entity(self, guid: str) -> dict[str, Any]:
        return next(e for e in self.client.entities.values() if e["guid"] == guid)

    def sync_derived_tags(self, guid: str, desired: list[dict[str, Any]], managed: frozenset[str]) -> None:
        entity = self._entity(guid)
        self.sync_known_tags(guid, entity["classifications"], desired, managed)

    def sync_known_tags(self, guid: str, classifications: list[dict[str, Any]], desired: list[dict[str, Any]],
                        managed: frozenset[str]) -> None:
        entity = self._entity(guid)
        kept = [c for c in entity["classifications"] if c["typeName"] not in managed or c["entityGuid"] != guid]
        wanted = [{**t, "entityGuid": guid} for t in desired if t["typeName"] in managed]
        if sorted(map(json.dumps, kept + wanted)) != sorted(map(json.dumps, entity["classifications"])):
            self.calls.append(f"tags {entity['attributes']['qualifiedName']}")
            entity["classifications"] = kept + wanted

    def block_personal_data_at_inputs(self, guid: str) -> None:
        self.calls.append(f"block {self._entity(guid)['attributes']['qualifiedName']}")

    def lift_personal_data_block(self, guid: str) -> None:
        self.calls.append(f"unblock {self._entity(guid)['attributes']['qualifiedName']}")


ENTRIES = 9  # 1 license, 1 consent record, 3 datasets, 1 derivation + 1 output, 1 run + 1 model


@pytest.fixture
def example() -> CatalogDocument:
    return load_catalog(EXAMPLE)


def changed_dataset(doc: CatalogDocument, index: int, **update: Any) -> CatalogDocument:
    datasets = list(doc.datasets)
    datasets[index] = datasets[index].model_copy(update=update)
    return doc.model_copy(update={"datasets": datasets})


def test_first_apply_creates_everything_in_dependency_order(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    report = apply_catalog(example, registry)
    assert [e.action for e in report.entries] == ["created"] * ENTRIES
    # Two bulk requests in dependency order (the licenses the datasets name, with the consent record; then
    # datasets, the derivation, the model and its run), new entities with their tags; then the attested
    # anonymization's input edges block personal data.
    assert registry.calls == [
        "POST spdx:LicenseRef-acme-internal, spdx:CC-BY-NC-4.0, spdx:CC0-1.0, consent:acme/support-chat-terms/v3",
        "POST file:///data/street-scenes/v2, file:///data/open-captions/v1, file:///data/support-chats/2024-q1, "
        "file:///data/support-chats-anon/2024-q1, derive:anonymize-support-chats/2024-q1, "
        "file:///models/scene-intent/1.0, ml-run:scene-intent-2024-04-10",
        "block derive:anonymize-support-chats/2024-q1"]
    assert report.writes == 2  # the stand-in counts its bulk POSTs as write requests
    assert all(e.guid for e in report.entries)
    assert "created dataset file:///data/street-scenes/v2" in report.lines()
    assert report.lines()[-1] == f"created: {ENTRIES}, updated: 0, unchanged: 0"


def test_second_apply_changes_nothing(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    registry.calls.clear()
    report = apply_catalog(load_catalog(EXAMPLE), registry)
    assert registry.calls == [] and report.writes == 0 and not report.changed
    assert [e.action for e in report.entries] == ["unchanged"] * ENTRIES
    assert all(e.guid for e in report.entries)
    assert str(report) == f"created: 0, updated: 0, unchanged: {ENTRIES}"


def test_a_changed_field_updates_exactly_that_entry(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    registry.calls.clear()
    report = apply_catalog(changed_dataset(example, 1, description="Captions, now with alt text."), registry)
    assert [str(e) for e in report.of("updated")] == ["updated dataset file:///data/open-captions/v1 (description)"]
    assert registry.calls == ["POST file:///data/open-captions/v1"]
    assert len(report.of("unchanged")) == ENTRIES - 1


def test_a_changed_license_updates_the_dataset_and_its_tags(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    registry.calls.clear()
    report = apply_catalog(changed_dataset(example, 1, license="CC-BY-4.0"), registry)
    [entry] = report.of("updated")
    assert entry.qualified_name == "file:///data/open-captions/v1"
    assert set(entry.changes) == {"declaredLicense", "licenses", "tags"}
    # The built-in license it now names is created first; the existing dataset's tags are changed after.
    assert registry.calls == ["POST spdx:CC-BY-4.0", "POST file:///data/open-captions/v1",
                              "tags file:///data/open-captions/v1"]


def test_changed_custom_license_terms_reapply_the_datasets_using_it(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    registry.calls.clear()
    lic = example.licenses[0].model_copy(update={"use_category": "nonCommercial"})
    report = apply_catalog(example.model_copy(update={"licenses": [lic]}), registry)
    assert {(e.kind, e.qualified_name) for e in report.of("updated")} == {
        ("license", "spdx:LicenseRef-acme-internal"), ("dataset", "file:///data/support-chats/2024-q1"),
        ("dataset", "file:///data/support-chats-anon/2024-q1")}
    assert registry.calls == ["POST spdx:LicenseRef-acme-internal",
                              "POST file:///data/support-chats/2024-q1, file:///data/support-chats-anon/2024-q1",
                              "tags file:///data/support-chats/2024-q1", "tags file:///data/support-chats-anon/2024-q1"]


def test_withdrawn_consent_updates_the_record_and_the_tags_of_its_dataset(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    registry.calls.clear()
    withdrawn = example.consent_records[0].model_copy(update={"status": "withdrawn"})
    report = apply_catalog(example.model_copy(update={"consent_records": [withdrawn]}), registry)
    assert [(e.kind, e.changes) for e in report.of("updated")] == [
        ("consent record", ("consentStatus",)), ("dataset", ("tags",))]
    assert registry.calls == ["consent consent:acme/support-chat-terms/v3", "POST file:///data/support-chats/2024-q1",
                              "tags file:///data/support-chats/2024-q1"]
    assert not apply_catalog(example.model_copy(update={"consent_records": [withdrawn]}), registry).changed


def test_a_changed_model_rerecords_its_run(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    registry.calls.clear()
    models = [example.models[0].model_copy(update={"version": "1.0.1"})]
    report = apply_catalog(example.model_copy(update={"models": models}), registry)
    assert [(e.kind, e.changes) for e in report.of("updated")] == [("model", ("version",))]
    assert registry.calls == ["POST file:///models/scene-intent/1.0, ml-run:scene-intent-2024-04-10"]


def test_a_tag_removed_in_atlas_is_restored(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    registry.calls.clear()
    registry.client.entities[("ml_dataset", "file:///data/street-scenes/v2")]["classifications"] = []
    report = apply_catalog(example, registry)
    assert [(e.qualified_name, e.changes) for e in report.of("updated")] == [
        ("file:///data/street-scenes/v2", ("tags",))]


def test_propagated_tags_are_not_differences(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    anon = registry.client.entities[("ml_dataset", "file:///data/support-chats-anon/2024-q1")]
    anon["classifications"].append({"typeName": "NonCommercial", "entityGuid": "guid-elsewhere", "attributes": {}})
    assert not apply_catalog(example, registry).changed


def test_dry_run_writes_nothing(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    report = apply_catalog(example, registry, dry_run=True)
    assert registry.calls == [] and report.writes == 0 and registry.client.entities == {}
    assert report.lines()[0] == "dry run: nothing was written to Atlas"
    assert len(report.of("created")) == ENTRIES


def test_removing_an_entry_from_the_file_deletes_nothing(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    before = copy.deepcopy(registry.client.entities)
    smaller = example.model_copy(update={"training_runs": [], "models": []})
    report = apply_catalog(smaller, registry)
    assert not report.changed and registry.client.entities == before


def test_a_soft_deleted_entity_is_created_again(example: CatalogDocument) -> None:
    registry = StandInRegistry()
    apply_catalog(example, registry)
    registry.client.entities[("ml_consent_record", "consent:acme/support-chat-terms/v3")]["status"] = "DELETED"
    chats = registry.client.entities[("ml_dataset", "file:///data/support-chats/2024-q1")]
    chats["relationshipAttributes"]["consentRecords"][0]["entityStatus"] = "DELETED"
    report = apply_catalog(example, registry)
    assert [(e.kind, e.action, e.changes) for e in report.entries if e.action != "unchanged"] == [
        ("consent record", "created", ()), ("dataset", "updated", ("consentRecords",))]


def test_parse_catalog_reads_text() -> None:
    doc = parse_catalog("version: 1\n")
    assert doc.datasets == [] and doc.training_runs == []
