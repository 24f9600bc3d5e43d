"""The never-raise API with Atlas down, then `atlas-ml spool status | flush` once it is back."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlas_mlplugin import api
from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.cli.main import cli
from atlas_mlplugin.delivery.deliverer import Deliverer, fail_fast
from atlas_mlplugin.delivery.handler import registry_handler
from atlas_mlplugin.delivery.spool import Spool
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec

pytestmark = pytest.mark.integration


def test_api_spools_while_atlas_is_down_and_spool_flush_delivers_in_order(
        atlas_settings: AtlasSettings, client: AtlasClient, uid: str, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    spool_dir = tmp_path / "spool"
    down = Deliverer(Spool(spool_dir), registry_handler(GovernanceRegistry(AtlasClient(fail_fast(
        AtlasSettings(url=dead, username="admin", password="x"))))), flush_interval=3600)

    started = time.monotonic()
    consent = ConsentRecordSpec(qualified_name=f"consent:{uid}", name="c", purposes=["model-training"])
    outcomes = [
        api.register_consent(consent, deliverer=down),
        api.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/d", name="d", license="CC-BY-NC-4.0",
                                         consent_records=[consent.qualified_name]), deliverer=down),
        api.withdraw_consent(consent.qualified_name, deliverer=down),
    ]
    assert outcomes == ["spooled"] * 3
    assert time.monotonic() - started < 10, "the caller must not wait on a dead Atlas"
    down.close()

    env = {"ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else ""}
    runner = CliRunner()
    status = runner.invoke(cli, ["spool", "status", "--dir", str(spool_dir), "--format", "json"], env=env)
    assert json.loads(status.output)["pending"] == 3

    flushed = runner.invoke(cli, ["spool", "flush", "--dir", str(spool_dir)], env=env)
    assert flushed.exit_code == 0, flushed.output
    assert "delivered 3 of 3" in flushed.output
    # Order mattered: the consent existed before the dataset linked it, and the withdrawal came last.
    found = client.find_entity("ml_dataset", f"file:///{uid}/d")
    assert found is not None
    tags = {c["typeName"] for c in found["entity"].get("classifications") or []}
    assert {"NonCommercial", "ConsentWithdrawn"} <= tags and "ConsentScope" not in tags


def test_a_write_atlas_rejects_is_a_dead_letter_and_does_not_block_the_rest(
        atlas_settings: AtlasSettings, client: AtlasClient, uid: str, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    from atlas_mlplugin.delivery.spool import SpoolOp

    # Retracting a dataset nobody registered: Atlas has nothing to retract.
    spool.enqueue(SpoolOp(kind="retract_dataset", payload={"qualified_name": f"file:///{uid}/ghost", "reason": "r"}))
    spool.enqueue(SpoolOp.of("register_dataset", DatasetSpec(qualified_name=f"file:///{uid}/ok", name="ok")))
    env = {"ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else ""}
    flushed = CliRunner().invoke(cli, ["spool", "flush", "--dir", str(spool.directory)], env=env)
    assert flushed.exit_code == 1
    assert "1 rejected" in flushed.output and "register it first" in flushed.output
    assert client.find_entity("ml_dataset", f"file:///{uid}/ok") is not None
    assert [op.kind for op in spool.dead_letters()] == ["retract_dataset"]
