"""Fault tests against the suite's own real Atlas: a stream of governance writes through the Python API (the
path training code uses) while Atlas is killed, frozen or restarted, or the spool's disk is full, and two
processes on one spool, one event directory and one catalog. Afterwards Atlas is asked what it holds:

- sent: ops the producer submitted; acknowledged: the API answered "delivered" or "spooled" (it took
  responsibility for the op);
- present: names with an ACTIVE entity; duplicated: extra ACTIVE entities with one name; dead-lettered: ops
  the spool gave up on; lost: acknowledged ops with no entity.

The local Atlas keeps its data across a SIGKILL (persistent SolrCloud and audit, index rebuilt from the graph
after an unclean stop), so an op acknowledged as delivered before the kill counts as lost if it is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from atlas_mlplugin import api
from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.delivery.deliverer import Deliverer, fail_fast
from atlas_mlplugin.delivery.handler import registry_handler
from atlas_mlplugin.delivery.spool import Spool
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.mapping.openlineage import process_entity
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.model.openlineage import OLDataset, RunEvent
from atlas_mlplugin.openlineage.ingest import event_queue
from tests.integration.conftest import free_port
from tests.reliability.census import FIGURES, FaultFigures, census
from tests.reliability.conftest import ATLAS_ML, FaultAtlas

pytestmark = pytest.mark.integration

OPS = 150
PACE = 0.03  # seconds between ops, so that the stream spans the fault


def deliverer_for(settings: AtlasSettings, spool_dir: Path, *, wait: float = 1.5) -> Deliverer:
    """What `atlas_mlplugin.api` uses by default, on a given Atlas and spool directory."""
    registry = GovernanceRegistry(AtlasClient(fail_fast(settings)))
    return Deliverer(Spool(spool_dir), registry_handler(registry), flush_interval=1.0, max_backoff=5.0, wait=wait)


def stream(deliverer: Deliverer, names: list[str], *, fault_at: int | None = None,
           fault: Callable[[], None] | None = None) -> tuple[dict[str, str], threading.Thread | None]:
    """Submit one dataset per name; at `fault_at` the fault starts on another thread while the stream goes on."""
    outcomes: dict[str, str] = {}
    faulting: threading.Thread | None = None
    for i, name in enumerate(names):
        if i == fault_at and fault is not None:
            faulting = threading.Thread(target=fault, name="fault", daemon=True)
            faulting.start()
        outcomes[name] = api.register_dataset(DatasetSpec(qualified_name=name, name=f"d{i}", license="CC0-1.0"),
                                              deliverer=deliverer)
        time.sleep(PACE)
    return outcomes, faulting


def settle(deliverer: Deliverer, timeout: float = 600) -> None:
    """Flush until the spool is empty (Atlas may still be starting)."""
    deadline = time.monotonic() + timeout
    while len(deliverer.spool) and time.monotonic() < deadline:
        deliverer.flush(timeout=60)
        if len(deliverer.spool):
            time.sleep(2)
    deliverer.close()


def record(fault: str, client: AtlasClient, prefix: str, outcomes: dict[str, str], dead: int,
           notes: list[str] | None = None) -> FaultFigures:
    counts = census(client, "ml_dataset", prefix)
    acknowledged = [n for n, o in outcomes.items() if o in ("delivered", "spooled")]
    figures = FaultFigures.of(fault, sent=list(outcomes), acknowledged=acknowledged, counts=counts,
                              dead_lettered=dead, notes=notes)
    FIGURES.faults.append(figures)
    print(f"[reliability] {figures}")
    return figures


def names_for(fault: str, count: int = OPS) -> tuple[str, list[str]]:
    prefix = f"file:///reliability/{fault}/{uuid.uuid4().hex[:8]}/"
    return prefix, [f"{prefix}d{i:04d}" for i in range(count)]


def assert_nothing_lost(figures: FaultFigures, *, all_acknowledged: bool = True) -> None:
    assert figures.duplicated == 0, figures
    assert figures.lost_acknowledged == 0, figures
    assert figures.dead_lettered == 0, figures
    if all_acknowledged:
        assert figures.acknowledged == figures.sent, figures
    assert figures.present == figures.acknowledged, figures


@pytest.mark.representative
def test_atlas_killed_mid_stream(fault_atlas: FaultAtlas, tmp_path: Path) -> None:
    prefix, names = names_for("sigkill")
    deliverer = deliverer_for(fault_atlas.settings, tmp_path / "spool")
    outcomes, faulting = stream(deliverer, names, fault_at=OPS // 3, fault=fault_atlas.kill)
    assert faulting is not None
    faulting.join()
    fault_atlas.start()  # an unclean stop: the index is rebuilt from the graph
    settle(deliverer)
    delivered_before = sum(1 for o in list(outcomes.values())[: OPS // 3] if o == "delivered")
    figures = record("Atlas JVM SIGKILLed after a third of the ops, then started again", fault_atlas.client(), prefix,
                     outcomes, len(deliverer.spool.dead_letters()),
                     [f"{delivered_before} ops delivered before the kill"])
    assert_nothing_lost(figures)


def test_atlas_frozen_mid_stream(fault_atlas: FaultAtlas, tmp_path: Path) -> None:
    prefix, names = names_for("sigstop")

    def freeze_for_a_while() -> None:
        fault_atlas.freeze()
        time.sleep(20)
        fault_atlas.thaw()

    deliverer = deliverer_for(fault_atlas.settings, tmp_path / "spool")
    started = time.monotonic()
    slowest = 0.0
    outcomes: dict[str, str] = {}
    faulting = None
    for i, name in enumerate(names):
        if i == OPS // 3:
            faulting = threading.Thread(target=freeze_for_a_while, daemon=True)
            faulting.start()
        began = time.monotonic()
        outcomes[name] = api.register_dataset(DatasetSpec(qualified_name=name, name=f"d{i}", license="CC0-1.0"),
                                              deliverer=deliverer)
        slowest = max(slowest, time.monotonic() - began)
        time.sleep(PACE)
    assert faulting is not None
    faulting.join()
    settle(deliverer)
    figures = record("Atlas JVM SIGSTOPped for 20 s mid-stream, then SIGCONT", fault_atlas.client(), prefix, outcomes,
                     len(deliverer.spool.dead_letters()),
                     [f"slowest API call {slowest:.2f} s; stream took {time.monotonic() - started:.0f} s"])
    assert_nothing_lost(figures)
    assert slowest < deliverer.wait + 1.0  # a frozen Atlas never holds the caller past the bound


def test_atlas_restarted_mid_stream(fault_atlas: FaultAtlas, tmp_path: Path) -> None:
    prefix, names = names_for("restart")
    deliverer = deliverer_for(fault_atlas.settings, tmp_path / "spool")
    outcomes, faulting = stream(deliverer, names, fault_at=OPS // 3, fault=fault_atlas.restart)
    assert faulting is not None
    faulting.join()
    settle(deliverer)
    figures = record("Atlas stopped and started again mid-stream", fault_atlas.client(), prefix, outcomes,
                     len(deliverer.spool.dead_letters()))
    assert_nothing_lost(figures)


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "96k") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the disk-full test (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_spool_disk_full_while_atlas_is_down(fault_atlas: FaultAtlas, tmp_path: Path) -> None:
    """Atlas unreachable, so every op goes to the spool, whose filesystem fills up: the API answers
    "rejected" for what it cannot keep (the caller knows) and every op it acknowledged arrives later."""
    prefix, names = names_for("diskfull", 400)
    down = fault_atlas.settings.model_copy(update={"url": f"http://127.0.0.1:{free_port()}"})
    with tiny_filesystem(tmp_path / "spool") as spool_dir:
        offline = deliverer_for(down, spool_dir, wait=0.2)
        outcomes = {}
        for i, name in enumerate(names):
            outcomes[name] = api.register_dataset(DatasetSpec(qualified_name=name, name=f"d{i}", license="CC0-1.0"),
                                                  deliverer=offline)
        offline.close()
        rejected = sum(1 for o in outcomes.values() if o == "rejected")
        assert rejected, "the spool never filled up; make the filesystem smaller"
        online = deliverer_for(fault_atlas.settings, spool_dir)
        settle(online)
        figures = record("spool's filesystem full (96 KiB tmpfs) while Atlas is unreachable", fault_atlas.client(),
                         prefix, outcomes, len(online.spool.dead_letters()),
                         [f"{rejected} ops answered 'rejected' (disk full), none raised"])
    assert_nothing_lost(figures, all_acknowledged=False)


PRODUCER = """
import sys
from atlas_mlplugin import api
from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.delivery.deliverer import Deliverer, fail_fast
from atlas_mlplugin.delivery.handler import registry_handler
from atlas_mlplugin.delivery.spool import Spool
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec

spool_dir, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
registry = GovernanceRegistry(AtlasClient(fail_fast(AtlasSettings.load())))
deliverer = Deliverer(Spool(spool_dir), registry_handler(registry), flush_interval=1.0, max_backoff=5.0)
for i in range(count):
    outcome = api.register_dataset(DatasetSpec(qualified_name=f"{prefix}d{i:04d}", name=f"d{i}", license="CC0-1.0"),
                                   deliverer=deliverer)
    print(outcome, flush=True)
deliverer.flush(timeout=120)
"""


@pytest.mark.representative
def test_two_processes_on_one_spool(fault_atlas: FaultAtlas, tmp_path: Path) -> None:
    """Two training jobs sharing one spool directory register the same datasets at once."""
    prefix, names = names_for("two-producers", 100)
    script = tmp_path / "producer.py"
    script.write_text(PRODUCER)
    env = fault_atlas.cli_env()
    producers = [subprocess.Popen([ATLAS_ML[0], str(script), str(tmp_path / "spool"), prefix, str(len(names))],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    answers = [p.communicate(timeout=600) for p in producers]
    assert all(p.returncode == 0 for p in producers), [err for _, err in answers]
    per_process = [out.split() for out, _ in answers]
    spool = Spool(tmp_path / "spool")
    settle(deliverer_for(fault_atlas.settings, tmp_path / "spool"))
    # An op is acknowledged when either process's API call acknowledged it.
    outcomes = {name: ("delivered" if any(p[i] in ("delivered", "spooled") for p in per_process) else "rejected")
                for i, name in enumerate(names)}
    figures = record("two processes writing the same 100 datasets through one spool", fault_atlas.client(), prefix,
                     outcomes, len(spool.dead_letters()), [f"{2 * len(names)} API calls"])
    assert_nothing_lost(figures)


def lineage_event(uid: str, i: int) -> dict:
    return {"eventType": "COMPLETE", "eventTime": "2026-11-30T10:00:00Z", "producer": "reliability",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": f"reliability-{uid}", "name": f"job{i}"},
            "inputs": [{"namespace": "file", "name": f"/reliability/events/{uid}/in"}],
            "outputs": [{"namespace": "file", "name": f"/reliability/events/{uid}/out{i:04d}"}]}


def test_two_ingests_of_one_event_directory(fault_atlas: FaultAtlas, tmp_path: Path) -> None:
    uid = uuid.uuid4().hex[:8]
    events = [lineage_event(uid, i) for i in range(80)]
    queue = event_queue(tmp_path / "events")
    for event in events:
        queue.put(json.dumps(event).encode())
    env = fault_atlas.cli_env()
    ingests = [subprocess.Popen([*ATLAS_ML, "ingest", str(tmp_path / "events")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    answers = [p.communicate(timeout=600) for p in ingests]
    assert all(p.returncode == 0 for p in ingests), [err for _, err in answers]
    assert not any("Traceback" in err for _, err in answers), answers
    outputs = [OLDataset(namespace="file", name=e["outputs"][0]["name"]).qualified_name for e in events]
    prefix = outputs[0][: -len("out0000")]
    counts = census(fault_atlas.client(), "ml_dataset", prefix + "out")
    expected = [process_entity(RunEvent.model_validate(e), [], [qn]) for e, qn in zip(events, outputs, strict=True)]
    process_names = [p["attributes"]["qualifiedName"] for p in expected]
    processes = census(fault_atlas.client(), expected[0]["typeName"], os.path.commonprefix(process_names))
    figures = FaultFigures.of("two `atlas-ml ingest` of one event directory (80 events)", sent=outputs,
                              acknowledged=outputs, counts=counts, dead_lettered=len(queue.dead_files()),
                              notes=[f"{len(processes)} processes, {sum(processes.values())} ACTIVE"])
    FIGURES.faults.append(figures)
    assert_nothing_lost(figures)
    assert sorted(processes) == sorted(process_names) and set(processes.values()) == {1}, processes


def test_three_applies_of_one_catalog(fault_atlas: FaultAtlas, tmp_path: Path) -> None:
    prefix, names = names_for("catalog", 60)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("version: 1\ndatasets:\n" + "".join(
        f"  - qualified_name: {name}\n    name: d{i}\n    license: CC-BY-NC-4.0\n    personal_data_categories: [face]\n"
        for i, name in enumerate(names)))
    env = fault_atlas.cli_env()
    applies = [subprocess.Popen([*ATLAS_ML, "apply", str(catalog)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    answers = [p.communicate(timeout=600) for p in applies]
    assert all(p.returncode == 0 for p in applies), [err for _, err in answers]
    counts = census(fault_atlas.client(), "ml_dataset", prefix)
    figures = FaultFigures.of("three `atlas-ml apply` of one catalog (60 datasets)", sent=names, acknowledged=names,
                              counts=counts, dead_lettered=0)
    FIGURES.faults.append(figures)
    assert_nothing_lost(figures)
