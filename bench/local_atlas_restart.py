"""Benchmark: how long the local Atlas takes to come back with a populated catalog.

Starts a server of its own (a temporary state directory, free ports), records 1,000 datasets (licensed, some
with personal data) and 100 models each trained on 10 of them, then measures, side by side in one run:

- a first start (empty state) to ACTIVE,
- a clean `stop` + `start` (the search index is kept),
- `kill -9` + `start` (the search index is rebuilt from the graph before Atlas serves),

and checks after each restart that every dataset and model is found by type search, that a model still has
its propagated tags and that a dataset's audit events are still there.

    python bench/local_atlas_restart.py [--datasets 1000] [--models 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.typedefs import apply
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.reads import tags_of
from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas
from atlas_mlplugin.server.state import free_port

LICENSES = ["CC-BY-4.0", "CC-BY-NC-4.0", "CC0-1.0", "CC-BY-SA-4.0", None]


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def client_of(atlas: LocalAtlas) -> AtlasClient:
    status = atlas.status()
    return AtlasClient(AtlasSettings(url=status.url, username=status.user, password=SecretStr(status.password)))


def timed_start(atlas: LocalAtlas) -> tuple[float, list[str]]:
    said: list[str] = []
    started = time.monotonic()
    atlas.start(progress=said.append)
    return time.monotonic() - started, said


def populate(client: AtlasClient, datasets: int, models: int) -> None:
    registry = GovernanceRegistry(client)
    random.seed(7)
    for i in range(datasets):
        registry.register_dataset(DatasetSpec(
            qualified_name=f"s3://bench/restart/ds{i}", name=f"ds{i}", license=LICENSES[i % len(LICENSES)],
            personal_data_categories=["email"] if i % 7 == 0 else []))
        if (i + 1) % 200 == 0:
            say(f"  {i + 1}/{datasets} datasets")
    for m in range(models):
        inputs = [f"s3://bench/restart/ds{j}" for j in random.sample(range(datasets), min(10, datasets))]
        registry.record_training_run(TrainingRunSpec(
            run_id=f"bench-restart-{m}", name=f"train {m}", inputs=inputs,
            outputs=[ModelSpec(qualified_name=f"models/bench/restart/{m}", name=f"m{m}")]))
    say(f"  {models} models")


def check(client: AtlasClient, datasets: int, models: int) -> dict[str, Any]:
    def count(type_name: str) -> int:
        found, offset = 0, 0
        while True:
            page = client.request("POST", "/v2/search/basic", json={"typeName": type_name, "limit": 500,
                                                                     "offset": offset}).get("entities") or []
            found += len(page)
            offset += len(page)
            if len(page) < 500:
                return found

    dataset_guid = client.find_entity("ml_dataset", "s3://bench/restart/ds1")["entity"]["guid"]  # type: ignore[index]
    result = {
        "datasets_found_by_search": count("ml_dataset"),
        "models_found_by_search": count("ml_model"),
        "model_tags": sorted({t.type_name for t in tags_of(client, "models/bench/restart/0")}),
        "audit_events_of_a_dataset": len(client.request("GET", f"/v2/entity/{dataset_guid}/audit",
                                                         params={"count": 100})),
    }
    assert result["datasets_found_by_search"] == datasets, result
    assert result["models_found_by_search"] == models, result
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="atlas-restart-bench-"))
    atlas = LocalAtlas(LauncherOptions(state_dir=home, port=free_port()))
    rows: list[dict[str, Any]] = []
    try:
        seconds, _ = timed_start(atlas)
        rows.append({"what": "first start (empty state)", "seconds": round(seconds, 1)})
        say(f"first start: {seconds:.1f} s")
        client = client_of(atlas)
        apply(client)
        started = time.monotonic()
        populate(client, args.datasets, args.models)
        say(f"populated in {time.monotonic() - started:.0f} s")
        before = check(client, args.datasets, args.models)

        atlas.stop()
        seconds, said = timed_start(atlas)
        after = check(client_of(atlas), args.datasets, args.models)
        assert after == before, (before, after)
        rows.append({"what": "clean stop, start", "seconds": round(seconds, 1),
                     "rebuilt_index": any("rebuilt" in line for line in said)})
        say(f"clean restart: {seconds:.1f} s")

        pid = atlas.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        while atlas._exists(pid):
            time.sleep(0.2)
        seconds, said = timed_start(atlas)
        after = check(client_of(atlas), args.datasets, args.models)
        assert after == before, (before, after)
        rebuild = next((line.strip() for line in said if "search index rebuilt:" in line), "")
        rows.append({"what": "kill -9, start", "seconds": round(seconds, 1), "rebuilt_index": bool(rebuild),
                     "detail": rebuild})
        say(f"restart after kill -9: {seconds:.1f} s ({rebuild})")
    finally:
        atlas.stop()
        shutil.rmtree(home, ignore_errors=True)

    print(f"\nLocal Atlas restarts with {args.datasets} datasets and {args.models} models "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n")
    print("| restart | seconds to ACTIVE | search index |")
    print("| --- | ---: | --- |")
    for row in rows:
        index = "rebuilt from the graph" if row.get("rebuilt_index") else "kept"
        print(f"| {row['what']} | {row['seconds']} | {index if 'rebuilt_index' in row else '-'} |")
    print(f"\nafter each restart: {json.dumps(before)}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "checked": before}, indent=2))


if __name__ == "__main__":
    main()
