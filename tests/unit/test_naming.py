"""Dataset naming: the shared vectors (the Spark listener's Java tests read the same file), and how names
people type become one dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin import naming
from atlas_mlplugin.model import DatasetSpec, TrainingRunSpec

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "dataset_naming.json").read_text())


def ids(cases: list[dict[str, Any]], key: str) -> list[str]:
    return [str(case[key]) for case in cases]


@pytest.mark.parametrize("case", VECTORS["paths"], ids=ids(VECTORS["paths"], "input"))
def test_paths(case: dict[str, Any]) -> None:
    named = naming.from_path(case["input"], base_dir=case.get("baseDir"))
    assert (named.namespace, named.name, named.qualified_name) == (case["namespace"], case["name"],
                                                                   case["qualifiedName"])


@pytest.mark.parametrize("case", VECTORS["jdbc"], ids=ids(VECTORS["jdbc"], "table"))
def test_jdbc(case: dict[str, Any]) -> None:
    named = naming.from_jdbc(case["url"], case["table"])
    assert (named.namespace, named.name, named.qualified_name) == (case["namespace"], case["name"],
                                                                   case["qualifiedName"])


@pytest.mark.parametrize("case", VECTORS["tables"], ids=ids(VECTORS["tables"], "qualifiedName"))
def test_tables(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    if "baseDir" in case:  # Spark's default warehouse is relative to the working directory
        monkeypatch.setattr("os.getcwd", lambda: case["baseDir"])
    named = naming.from_table(case["catalog"], case["database"], case["table"], conf=case["conf"])
    assert (named.namespace, named.name, named.qualified_name) == (case["namespace"], case["name"],
                                                                   case["qualifiedName"])


@pytest.mark.parametrize("case", VECTORS["openlineage"], ids=ids(VECTORS["openlineage"], "qualifiedName"))
def test_openlineage_names(case: dict[str, Any]) -> None:
    assert naming.qualified_name(case["namespace"], case["name"]) == case["qualifiedName"]


@pytest.mark.parametrize("case", VECTORS["user"], ids=ids(VECTORS["user"], "input"))
def test_names_people_give(case: dict[str, Any]) -> None:
    assert naming.from_user(case["input"], base_dir=case["baseDir"]) == case["qualifiedName"]


def test_a_relative_name_is_a_path_when_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a\n1\n")
    monkeypatch.chdir(tmp_path)
    as_uri = (tmp_path / "data" / "train.csv").as_uri()
    # The three spellings of the issue are one dataset.
    assert {naming.from_user(n) for n in ("data/train.csv", str(tmp_path / "data/train.csv"), as_uri)} == {as_uri}
    # A logical name that is no file here stays as given.
    assert naming.from_user("data/validation.csv") == "data/validation.csv"


def test_specs_normalise_dataset_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train.csv").write_text("a\n")
    monkeypatch.chdir(tmp_path)
    run = TrainingRunSpec(run_id="r", name="t", inputs=["train.csv", str(tmp_path / "train.csv")])
    assert run.inputs == [(tmp_path / "train.csv").as_uri()] * 2
    assert DatasetSpec(qualified_name="s3a://lab/faces/", name="faces").qualified_name == "s3://lab/faces"
    # Relative names in a catalog file are relative to the file, passed as validation context.
    spec = DatasetSpec.model_validate({"qualified_name": "./x.csv", "name": "x"}, context={"base_dir": "/cat"})
    assert spec.qualified_name == "file:///cat/x.csv"


def test_display_name() -> None:
    assert naming.display_name("file:///data/people.csv") == "people.csv"
    assert naming.display_name("hive://ms:9083/db.t") == "db.t"


def test_catalog_names_relative_to_the_catalog_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas_mlplugin.catalog import load_catalog

    folder = tmp_path / "catalogs"
    folder.mkdir()
    (folder / "catalog.yaml").write_text(
        "version: 1\n"
        "datasets:\n"
        "  - {qualified_name: ./data/train.csv, name: train, license: CC0-1.0}\n"
        "  - {qualified_name: s3a://lab/faces/, name: faces, license: CC0-1.0}\n"
        "models:\n"
        "  - {qualified_name: models/m/1, name: m}\n"
        "training_runs:\n"
        "  - {run_id: r, name: fit, inputs: [./data/train.csv, s3://lab/faces], outputs: [models/m/1]}\n")
    monkeypatch.chdir(tmp_path)  # somewhere else: relative names follow the file, not the working directory
    doc = load_catalog(folder / "catalog.yaml")
    train = (folder / "data" / "train.csv").as_uri()
    assert [d.qualified_name for d in doc.datasets] == [train, "s3://lab/faces"]
    (run,) = doc.resolved_training_runs()
    assert run.inputs == [train, "s3://lab/faces"] and run.outputs[0].qualified_name == "models/m/1"
