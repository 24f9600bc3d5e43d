"""Offline validation (`check`, `atlas-ml typedefs check`) and idempotent sync (`apply`) of our typedefs.

`apply` runs against an in-memory double of our own TypedefServer protocol that behaves like Atlas where it
matters: it refuses to create a type that exists and to update one that does not.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from atlas_mlplugin.atlas import typedefs as td
from atlas_mlplugin.cli.main import cli

REAL_DIR = Path(__file__).resolve().parents[2] / "typedefs"


@pytest.fixture(autouse=True)
def _no_typedefs_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATLAS_ML_TYPEDEFS_DIR", raising=False)


# --------------------------------------------------------------------------------------------------
# helpers


def write_defs(root: Path, rel: str, **categories: list[dict[str, Any]]) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(categories, indent=2), encoding="utf-8")
    return path


def entity(name: str, *attrs: dict[str, Any], version: str | None = "1.0", **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "attributeDefs": list(attrs), **extra}
    if version is not None:
        d["typeVersion"] = version
    return d


def attr(name: str, type_name: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "typeName": type_name, "isOptional": True, **extra}


def names_in_files(root: Path, *, only_base: bool = False) -> dict[str, str]:
    """name -> typeVersion of every def below root, read straight from the JSON."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*.json")):
        if only_base and path.relative_to(root).parts[0] != td.BASE_DIR_NAME:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for cat in td.CATEGORIES:
            for item in data.get(cat) or []:
                out[item["name"]] = item["typeVersion"]
    return out


def names_in_payload(payload: dict[str, Any]) -> list[str]:
    return [d["name"] for cat in td.CATEGORIES for d in payload.get(cat) or []]


class FakeAtlas:
    """In-memory TypedefServer: stores defs, records every write, rejects what Atlas rejects."""

    def __init__(self) -> None:
        self.store: dict[str, tuple[str, dict[str, Any]]] = {}  # name -> (category, def)
        self.creates: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []

    def hold(self, category: str, definition: dict[str, Any]) -> None:
        self.store[definition["name"]] = (category, copy.deepcopy(definition))

    def get_typedefs(self) -> dict[str, Any]:
        out: dict[str, list[dict[str, Any]]] = {cat: [] for cat in td.CATEGORIES}
        for cat, d in self.store.values():
            out[cat].append(copy.deepcopy(d))
        return out

    def create_typedefs(self, defs: dict[str, Any]) -> dict[str, Any]:
        self.creates.append(copy.deepcopy(defs))
        for cat in td.CATEGORIES:
            for d in defs.get(cat) or []:
                assert d["name"] not in self.store, f"Atlas would answer 409: {d['name']} exists"
                self.hold(cat, d)
        return defs

    def update_typedefs(self, defs: dict[str, Any]) -> dict[str, Any]:
        self.updates.append(copy.deepcopy(defs))
        for cat in td.CATEGORIES:
            for d in defs.get(cat) or []:
                assert d["name"] in self.store, f"Atlas would answer 404: {d['name']} does not exist"
                self.hold(cat, d)
        return defs

    def version_of(self, name: str) -> str:
        return self.store[name][1]["typeVersion"]


def bump(root: Path, rel: str, name: str, version: str, new_attr: dict[str, Any] | None = None) -> None:
    path = root / rel
    data = json.loads(path.read_text(encoding="utf-8"))
    for cat in td.CATEGORIES:
        for item in data.get(cat) or []:
            if item["name"] == name:
                item["typeVersion"] = version
                if new_attr is not None:
                    item["attributeDefs"].append(new_attr)
                path.write_text(json.dumps(data, indent=2), encoding="utf-8")
                return
    raise AssertionError(f"{name} not in {rel}")


def version_in(root: Path, rel: str, name: str) -> str:
    """A def's typeVersion in the files, so these tests keep working as the real defs are bumped."""
    data = json.loads((root / rel).read_text(encoding="utf-8"))
    return next(str(item["typeVersion"]) for cat in td.CATEGORIES for item in data.get(cat) or []
                if item["name"] == name)


def next_version(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}"


DATASET_VERSION = version_in(REAL_DIR, "10-ml/30-datasets.json", "ml_dataset")
DATASET_BUMPED = next_version(DATASET_VERSION)


@pytest.fixture
def typedefs_copy(tmp_path: Path) -> Path:
    root = tmp_path / "typedefs"
    shutil.copytree(REAL_DIR, root)
    return root


# --------------------------------------------------------------------------------------------------
# the project's own typedefs


def test_default_dir_is_the_projects_typedefs() -> None:
    assert td.default_typedefs_dir().resolve() == REAL_DIR.resolve()


def test_real_typedefs_pass_check_with_zero_issues() -> None:
    assert td.check(REAL_DIR) == []
    assert td.check() == []  # default dir


def test_real_typedefs_load_every_def_in_path_order() -> None:
    docs, issues = td.load_documents(REAL_DIR)
    assert issues == []
    paths = [d.path for d in docs]
    assert paths == sorted(paths)
    assert paths[0].relative_to(REAL_DIR).parts[0] == td.BASE_DIR_NAME  # base types are created first
    loaded = [item["name"] for d in docs for cat in td.CATEGORIES for item in d.defs[cat]]
    assert sorted(loaded) == sorted(names_in_files(REAL_DIR))
    assert {"ml_dataset", "ml_model", "NonCommercial", "DataSet", "dataset_process_inputs"} <= set(loaded)


def test_cli_check_on_real_typedefs_exits_0() -> None:
    result = CliRunner().invoke(cli, ["typedefs", "check", "--dir", str(REAL_DIR)])
    assert result.exit_code == 0, result.output
    n_defs, n_files = len(names_in_files(REAL_DIR)), len(list(REAL_DIR.rglob("*.json")))
    assert f"ok: {n_defs} type definitions in {n_files} file(s)" in result.stdout


# --------------------------------------------------------------------------------------------------
# broken files


def only_issue(root: Path) -> td.TypedefIssue:
    issues = td.check(root)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "entityDefs": [\n    {"name": "t_a", "typeVersion": "1.0",}\n  ]\n}\n')
    issue = only_issue(tmp_path)
    assert issue.file == str(path)
    assert issue.line == 3
    assert str(issue).startswith(f"{path}:3: not valid JSON")


def test_malformed_json_does_not_hide_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{ nope")
    write_defs(tmp_path, "b.json", entityDefs=[entity("t_b", attr("x", "t_missing"))])
    files = {Path(i.file).name for i in td.check(tmp_path)}
    assert files == {"a.json", "b.json"}


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write_defs(tmp_path, "a.json", entityDefs=[entity("t_a")], entityDef=[])
    issue = only_issue(tmp_path)
    assert issue.file == str(path)
    assert "entityDef" in issue.message and "unknown key" in issue.message


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[]")
    assert "JSON object" in only_issue(tmp_path).message


def test_def_without_type_version(tmp_path: Path) -> None:
    path = write_defs(tmp_path, "a.json", entityDefs=[entity("t_a"), entity("t_noversion", version=None)])
    issue = only_issue(tmp_path)
    assert (issue.file, issue.type_name) == (str(path), "t_noversion")
    assert "typeVersion" in issue.message
    assert issue.line == _line(path, '"name": "t_noversion"')


def test_numeric_type_version_is_rejected(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", entityDefs=[entity("t_a", version=1.0)])  # type: ignore[arg-type]
    issue = only_issue(tmp_path)
    assert issue.type_name == "t_a" and "typeVersion" in issue.message


def _line(path: Path, needle: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


def test_undefined_attribute_type_names_file_type_and_attribute(tmp_path: Path) -> None:
    path = write_defs(tmp_path, "a.json", entityDefs=[
        entity("t_ok", attr("tags", "array<string>")),
        entity("t_user", attr("fine", "map<string,t_ok>"), attr("things", "array<ml_nothing>")),
    ])
    issue = only_issue(tmp_path)
    assert (issue.file, issue.type_name, issue.attribute) == (str(path), "t_user", "things")
    assert "ml_nothing" in issue.message
    assert issue.line == _line(path, '"name": "t_user"')
    assert str(issue) == f"{path}:{issue.line}: type 't_user', attribute 'things': {issue.message}"


def test_undefined_super_type(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", entityDefs=[entity("t_a", superTypes=["NoSuchBase"])])
    issue = only_issue(tmp_path)
    assert issue.type_name == "t_a" and "NoSuchBase" in issue.message


def test_bad_cardinality(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", entityDefs=[entity("t_a", attr("xs", "array<string>", cardinality="MANY"))])
    issue = only_issue(tmp_path)
    assert (issue.type_name, issue.attribute) == ("t_a", "xs")
    assert "MANY" in issue.message


def test_type_defined_twice_across_files(tmp_path: Path) -> None:
    first = write_defs(tmp_path, "10-a.json", entityDefs=[entity("t_dup")])
    second = write_defs(tmp_path, "20-b.json", entityDefs=[entity("t_dup")])
    issue = only_issue(tmp_path)
    assert (issue.file, issue.type_name) == (str(second), "t_dup")
    assert "defined twice" in issue.message and str(first) in issue.message


def test_relationship_end_type_must_exist(tmp_path: Path) -> None:
    path = write_defs(tmp_path, "a.json", entityDefs=[entity("t_a")], relationshipDefs=[{
        "name": "t_a_ghost", "typeVersion": "1.0", "relationshipCategory": "ASSOCIATION",
        "propagateTags": "NONE",
        "endDef1": {"type": "t_a", "name": "ghosts", "cardinality": "SET"},
        "endDef2": {"type": "t_ghost", "name": "as", "cardinality": "SET"},
    }])
    issue = only_issue(tmp_path)
    assert (issue.file, issue.type_name) == (str(path), "t_a_ghost")
    assert "endDef2" in issue.message and "t_ghost" in issue.message


def test_relationship_bad_category_and_propagation(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", entityDefs=[entity("t_a")], relationshipDefs=[{
        "name": "t_rel", "typeVersion": "1.0", "relationshipCategory": "FRIENDSHIP", "propagateTags": "UP",
        "endDef1": {"type": "t_a", "name": "x"}, "endDef2": {"type": "t_a", "name": "y"},
    }])
    messages = " | ".join(i.message for i in td.check(tmp_path))
    assert "FRIENDSHIP" in messages and "'UP'" in messages


def test_enum_with_duplicate_ordinals(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", enumDefs=[{
        "name": "t_enum", "typeVersion": "1.0",
        "elementDefs": [{"value": "A", "ordinal": 0}, {"value": "B", "ordinal": 1}, {"value": "C", "ordinal": 1}],
    }])
    issue = only_issue(tmp_path)
    assert issue.type_name == "t_enum" and "ordinals" in issue.message


def test_enum_with_duplicate_values(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", enumDefs=[{
        "name": "t_enum", "typeVersion": "1.0",
        "elementDefs": [{"value": "A", "ordinal": 0}, {"value": "A", "ordinal": 1}],
    }])
    issue = only_issue(tmp_path)
    assert issue.type_name == "t_enum" and "values" in issue.message


def test_classification_entity_type_must_exist(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", classificationDefs=[
        {"name": "T_Tag", "typeVersion": "1.0", "attributeDefs": [], "entityTypes": ["t_nowhere"]},
    ])
    issue = only_issue(tmp_path)
    assert issue.type_name == "T_Tag" and "t_nowhere" in issue.message


def test_attribute_def_that_is_not_an_object_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", entityDefs=[entity("t_a", "owner")])  # type: ignore[arg-type]
    issue = only_issue(tmp_path)
    assert issue.type_name == "t_a"


def test_super_types_given_as_a_string_is_one_issue(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", entityDefs=[entity("t_a", superTypes="DataSet")])
    issue = only_issue(tmp_path)
    assert issue.type_name == "t_a" and "superTypes" in issue.message


def test_missing_directory_is_an_issue(tmp_path: Path) -> None:
    issue = only_issue(tmp_path / "absent")
    assert "does not exist" in issue.message


def test_cli_check_reports_every_error_with_file_and_line_and_exits_1(tmp_path: Path) -> None:
    bad_json = tmp_path / "00-bad.json"
    bad_json.write_text('{\n  "enumDefs": [\n  ]\n  "entityDefs": []\n}\n')  # missing comma, line 4
    refs = write_defs(tmp_path, "10-refs.json", entityDefs=[
        entity("t_user", attr("things", "array<ml_nothing>")),
        entity("t_card", attr("xs", "string", cardinality="MANY")),
    ])
    result = CliRunner().invoke(cli, ["typedefs", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3
    assert errors[0].startswith(f"error: {bad_json}:4: not valid JSON")
    assert errors[1:] == [
        f"error: {refs}:{_line(refs, 't_user')}: type 't_user', attribute 'things': "
        "attribute type 'ml_nothing' is not defined in typedefs/",
        f"error: {refs}:{_line(refs, 't_card')}: type 't_card', attribute 'xs': "
        "cardinality 'MANY' is not one of ['LIST', 'SET', 'SINGLE']",
    ]
    assert f"3 error(s) in {tmp_path}" in result.stderr
    assert "ok:" not in result.stdout


# --------------------------------------------------------------------------------------------------
# known types on the server


def test_reference_to_a_type_only_on_the_server_is_valid(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", entityDefs=[
        entity("ml_extra", attr("kind", "array<srv_enum>"), superTypes=["DataSet"]),
    ])
    docs, issues = td.load_documents(tmp_path)
    assert issues == []
    assert {i.message for i in td.validate(docs)} == {
        "super type 'DataSet' is not defined in typedefs/",
        "attribute type 'srv_enum' is not defined in typedefs/",
    }
    assert td.validate(docs, known_types={"DataSet", "srv_enum"}) == []

    server = FakeAtlas()
    server.hold("entityDefs", {"name": "DataSet", "typeVersion": "1.1", "attributeDefs": []})
    server.hold("enumDefs", {"name": "srv_enum", "typeVersion": "1.0", "elementDefs": []})
    report = td.apply(server, tmp_path)
    assert report.created == [("entity", "ml_extra", "1.0")]
    assert [names_in_payload(c) for c in server.creates] == [["ml_extra"]]


# --------------------------------------------------------------------------------------------------
# apply


def test_first_apply_creates_everything_in_one_call() -> None:
    server = FakeAtlas()
    expected = names_in_files(REAL_DIR)
    report = td.apply(server, REAL_DIR)
    assert len(server.creates) == 1 and server.updates == []
    created = names_in_payload(server.creates[0])
    assert sorted(created) == sorted(expected) and len(created) == len(expected)
    # each def goes in its own category, e.g. enums under enumDefs
    assert "ml_run_status" in names_in_payload({"enumDefs": server.creates[0]["enumDefs"]})
    assert "NonCommercial" in names_in_payload({"classificationDefs": server.creates[0]["classificationDefs"]})
    assert {(name, ver) for _, name, ver in report.created} == set(expected.items())
    assert report.changed and report.updated == [] and report.unchanged == []


def test_second_apply_changes_nothing() -> None:
    server = FakeAtlas()
    td.apply(server, REAL_DIR)
    writes_before = (len(server.creates), len(server.updates))
    report = td.apply(server, REAL_DIR)
    assert (len(server.creates), len(server.updates)) == writes_before
    assert not report.changed
    assert report.created == [] and report.updated == [] and report.skipped_newer_on_server == []
    assert sorted(report.unchanged) == sorted(names_in_files(REAL_DIR))
    assert report.lines()[-1] == f"{len(names_in_files(REAL_DIR))} type(s) already up to date"


def test_bumped_type_version_updates_exactly_that_def(typedefs_copy: Path) -> None:
    server = FakeAtlas()
    td.apply(server, REAL_DIR)
    new_attr = attr("datasheetUrl", "string", cardinality="SINGLE", isUnique=False, isIndexable=False)
    bump(typedefs_copy, "10-ml/30-datasets.json", "ml_dataset", DATASET_BUMPED, new_attr)

    report = td.apply(server, typedefs_copy)

    assert len(server.creates) == 1  # only the initial one
    assert len(server.updates) == 1
    assert names_in_payload(server.updates[0]) == ["ml_dataset"]
    sent = server.updates[0]["entityDefs"][0]
    assert sent["typeVersion"] == DATASET_BUMPED
    assert "datasheetUrl" in [a["name"] for a in sent["attributeDefs"]]
    assert report.updated == [("entity", "ml_dataset", DATASET_VERSION, DATASET_BUMPED)]
    assert report.created == []
    assert server.version_of("ml_dataset") == DATASET_BUMPED
    assert f"updated entity ml_dataset (typeVersion {DATASET_VERSION} -> {DATASET_BUMPED})" in report.lines()


def test_server_with_newer_version_is_never_downgraded() -> None:
    server = FakeAtlas()
    td.apply(server, REAL_DIR)
    server.store["ml_dataset"][1]["typeVersion"] = "2.0"
    server.store["Referenceable"][1]["typeVersion"] = "1.10"  # numerically newer than 1.9, not as strings

    report = td.apply(server, REAL_DIR)

    assert server.updates == [] and len(server.creates) == 1
    assert sorted(report.skipped_newer_on_server) == [("Referenceable", "1.10", "1.0"),
                                                      ("ml_dataset", "2.0", DATASET_VERSION)]
    assert server.version_of("ml_dataset") == "2.0"
    assert not report.changed


def test_version_comparison_is_numeric_not_lexical(typedefs_copy: Path) -> None:
    server = FakeAtlas()
    td.apply(server, REAL_DIR)
    server.store["ml_model"][1]["typeVersion"] = "1.10"
    bump(typedefs_copy, "10-ml/40-training.json", "ml_model", "1.9")
    report = td.apply(server, typedefs_copy)
    assert report.skipped_newer_on_server == [("ml_model", "1.10", "1.9")]
    assert server.updates == []
    assert server.version_of("ml_model") == "1.10"


def test_dry_run_makes_no_write_calls(typedefs_copy: Path) -> None:
    server = FakeAtlas()
    report = td.apply(server, REAL_DIR, dry_run=True)
    assert server.creates == [] and server.updates == [] and server.store == {}
    assert len(report.created) == len(names_in_files(REAL_DIR))  # but it says what it would do

    td.apply(server, REAL_DIR)
    bump(typedefs_copy, "10-ml/30-datasets.json", "ml_dataset", DATASET_BUMPED)
    report = td.apply(server, typedefs_copy, dry_run=True)
    assert report.updated == [("entity", "ml_dataset", DATASET_VERSION, DATASET_BUMPED)]
    assert server.updates == [] and server.version_of("ml_dataset") == DATASET_VERSION


def test_only_base_considers_only_00_base() -> None:
    server = FakeAtlas()
    report = td.apply(server, REAL_DIR, only_base=True)
    base = names_in_files(REAL_DIR, only_base=True)
    assert base and not any(n.startswith("ml_") for n in base)
    assert len(server.creates) == 1
    assert sorted(names_in_payload(server.creates[0])) == sorted(base)
    assert {name for _, name, _ in report.created} == set(base)

    # the rest is then created on top, without touching the base
    report = td.apply(server, REAL_DIR)
    assert sorted(report.unchanged) == sorted(base)
    assert {name for _, name, _ in report.created} == set(names_in_files(REAL_DIR)) - set(base)
    assert server.updates == []


def test_invalid_typedefs_abort_apply_before_any_write(tmp_path: Path) -> None:
    write_defs(tmp_path, "a.json", entityDefs=[entity("t_fine"), entity("t_bad", attr("x", "t_missing"))])
    server = FakeAtlas()
    with pytest.raises(td.TypedefValidationError) as info:
        td.apply(server, tmp_path)
    assert [(i.type_name, i.attribute) for i in info.value.issues] == [("t_bad", "x")]
    assert "t_missing" in str(info.value)
    assert server.creates == [] and server.updates == []


def test_base_types_on_the_server_are_never_overwritten() -> None:
    # A real Atlas owns Referenceable, DataSet, ...: older-looking or non-numeric versions stay as they are.
    server = FakeAtlas()
    td.apply(server, REAL_DIR)
    server.store["Referenceable"][1]["typeVersion"] = "0.9"
    server.store["DataSet"][1]["typeVersion"] = "1.1-atlas"

    report = td.apply(server, REAL_DIR)

    assert server.updates == []
    assert ("Referenceable", "0.9", "1.0") in report.skipped_newer_on_server
    assert ("DataSet", "1.1-atlas", "1.0") in report.skipped_newer_on_server
    assert server.version_of("Referenceable") == "0.9"
