"""Writers racing on one Atlas: Atlas 2.1.0 does not refuse a second entity with an existing qualifiedName
when two creates race, so the plugin must serialise them. Several `atlas-ml apply` processes of one
catalog at once, then a count of what Atlas holds: exactly one ACTIVE entity per name, and a retraction
afterwards reaches every model built on the retracted dataset."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.reads import tags_of
from tests.integration.test_catalog_apply import catalog_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
WRITERS = 6
EXTRA_DATASETS = 40  # enough names that unserialised writers collide on some (1 in 40 did, measured)
ATLAS_ML = [sys.executable, "-c", "from atlas_mlplugin.cli.main import cli; cli()"]


def cli_env(settings: AtlasSettings, lock_dir: Path) -> dict[str, str]:
    env = dict(os.environ, ATLAS_URL=settings.url, ATLAS_USER=settings.username or "",
               ATLAS_PASSWORD=settings.password.get_secret_value() if settings.password else "",
               ATLAS_ML_LOCK_DIR=str(lock_dir), PYTHONPATH=str(REPO))
    return env


def active_count(client: AtlasClient, type_name: str, qualified_name: str) -> int:
    """ACTIVE entities of a type with this exact qualifiedName (the search index may lag a commit)."""
    body = {"typeName": type_name, "excludeDeletedEntities": True, "limit": 10,
            "entityFilters": {"attributeName": "qualifiedName", "operator": "eq", "attributeValue": qualified_name}}
    found = []
    for _ in range(20):
        result = client.request("POST", "/v2/search/basic", json=body) or {}
        found = [e for e in result.get("entities") or []
                 if (e.get("attributes") or {}).get("qualifiedName") == qualified_name]
        if found:
            break
        time.sleep(0.25)
    return len(found)


def test_concurrent_applies_of_one_catalog_leave_one_entity_per_name(
        registry: GovernanceRegistry, atlas_settings: AtlasSettings, uid: str, tmp_path: Path) -> None:
    catalog = catalog_for(uid, tmp_path)
    extra = "".join(f"  - qualified_name: file:///{uid}/extra/d{i}\n    name: d{i}\n    license: CC-BY-NC-4.0\n"
                    f"    personal_data_categories: [face]\n" for i in range(EXTRA_DATASETS))
    catalog.write_text(catalog.read_text().replace("\ndatasets:\n", "\ndatasets:\n" + extra, 1))
    env = cli_env(atlas_settings, tmp_path / "locks")
    writers = [subprocess.Popen([*ATLAS_ML, "apply", str(catalog)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(WRITERS)]
    results = [(w.wait(timeout=300), w.stderr.read() if w.stderr else "") for w in writers]
    assert all(code == 0 for code, _ in results), results

    names = {
        "ml_dataset": [f"file:///{uid}/data/street-scenes/v2", f"file:///{uid}/data/support-chats/2024-q1",
                       f"file:///{uid}/data/support-chats-anon/2024-q1",
                       f"file:///{uid}/data/open-captions/v1",
                       *(f"file:///{uid}/extra/d{i}" for i in range(EXTRA_DATASETS))],
        "ml_model": [f"file:///{uid}/models/scene-intent/1.0"],
    }
    counts = {qn: active_count(registry.client, type_name, qn) for type_name, qns in names.items() for qn in qns}
    assert counts == {qn: 1 for qn in counts}, counts

    # The catalog's model was trained on the street scenes; retracting them must reach the one model.
    registry.retract_dataset(f"file:///{uid}/data/street-scenes/v2", "withdrawn by its publisher")
    registry.client.wait_for_pending_tasks()
    assert "Retracted" in {t.type_name for t in tags_of(registry.client, f"file:///{uid}/models/scene-intent/1.0")}
