"""typedefs apply on a real Atlas: idempotent, and a typeVersion bump updates exactly that type."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.typedefs import apply, default_typedefs_dir

pytestmark = pytest.mark.integration


def test_second_apply_changes_nothing(client: AtlasClient) -> None:
    # The session fixture applied the typedefs once already.
    report = apply(client)
    assert report.created == [] and report.updated == []
    server_names = {d["name"] for cat in ("entityDefs", "classificationDefs") for d in client.get_typedefs()[cat]}
    assert {"ml_dataset", "ml_model", "ml_training_run", "NonCommercial", "PersonalData", "Retracted"} <= server_names


def test_bumped_type_version_updates_that_type_only(client: AtlasClient, tmp_path: Path) -> None:
    root = tmp_path / "typedefs"
    shutil.copytree(default_typedefs_dir(), root)
    path = root / "10-ml" / "40-training.json"
    doc = json.loads(path.read_text())
    model_def = next(d for d in doc["entityDefs"] if d["name"] == "ml_model")
    ours = model_def["typeVersion"]  # relative to the files, which move on as the def is changed
    bumped = f"{ours.split('.')[0]}.{int(ours.split('.')[1]) + 1}"
    model_def["typeVersion"] = bumped
    model_def["attributeDefs"].append({"name": "energyKwh", "typeName": "double", "isOptional": True,
                                       "cardinality": "SINGLE", "isUnique": False, "isIndexable": False})
    path.write_text(json.dumps(doc))

    report = apply(client, root)
    assert [(label, name) for label, name, _old, _new in report.updated] == [("entity", "ml_model")]
    assert report.created == []
    server_def = client.request("GET", "/v2/types/entitydef/name/ml_model")
    assert server_def["typeVersion"] == bumped
    assert "energyKwh" in {a["name"] for a in server_def["attributeDefs"]}
    assert not apply(client, root).changed
    # The repository's own files are older now: apply keeps the server's newer version.
    assert ("ml_model", bumped, ours) in apply(client).skipped_newer_on_server
