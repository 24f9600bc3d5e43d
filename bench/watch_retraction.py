#!/usr/bin/env python
"""Benchmark: `atlas-ml watch` after a retraction that reaches N models, and its bulk reads and writes next to
model-by-model ones.

    ATLAS_URL=... ATLAS_USER=... ATLAS_PASSWORD=... ATLAS_KAFKA_BOOTSTRAP_SERVERS=host:port \
        python bench/watch_retraction.py [--models 300] [--keep] [--json out.json]

Builds, with one `atlas-ml apply` of a generated catalog file, one dataset (CC-BY-4.0) and N models, each
trained on it by its own training run; records a public release verdict (PASS) on every model in bulk. Then:

  watch    a running `atlas-ml watch` (its own consumer group, started at the topic's end), then
           `atlas-ml dataset retract` of the dataset: the time from that command returning to the N-th alert,
           and the watcher's totals (notifications, re-checks, REST calls);
  gather   side by side on the same N models: the evidence model by model (policy/gather.py
           collect_evidence, as `check` reads it) and in bulk (collect_evidence_many, as watch reads it);
           both must give the same tags, sources and paths;
  write    the N changed verdicts written model by model (write_back, as `check --record`) and in bulk
           (write_back_many, as watch writes them), each with a new check time so that every write changes.

REST calls are counted on the client's HTTP session. Atlas and its Kafka are the ones the environment names
(no server is started). The entities are deleted and purged at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.gather import collect_evidence, collect_evidence_many
from atlas_mlplugin.policy.model import CheckReport, ReleaseContext
from atlas_mlplugin.policy.rules import load_policy
from atlas_mlplugin.policy.writeback import write_back, write_back_many
from atlas_mlplugin.reads import count_requests
from atlas_mlplugin.reads.lineage import impact
from atlas_mlplugin.watch.recheck import WatchedModel, load_models

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "atlas_mlplugin.cli.main"]
PUBLIC = ReleaseContext(audience="public")
_T0 = time.monotonic()


def say(phase: str, message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {phase:<8} {message}", file=sys.stderr, flush=True)


def cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*CLI, *args], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"atlas-ml {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def catalog(prefix: str, models: int) -> dict[str, Any]:
    dataset = f"file:///{prefix}/shared"
    return {
        "version": 1,
        "datasets": [{"qualified_name": dataset, "name": "shared", "license": "CC-BY-4.0"}],
        "models": [{"qualified_name": f"models/{prefix}/m{i}", "name": f"m{i}"} for i in range(models)],
        "training_runs": [{"run_id": f"{prefix}-run-{i}", "name": f"train m{i}", "inputs": [dataset],
                           "outputs": [f"models/{prefix}/m{i}"]} for i in range(models)],
    }


def timed(client: AtlasClient, work: Callable[[], Any]) -> tuple[Any, float, int]:
    with count_requests(client) as calls:
        started = time.monotonic()
        result = work()
        return result, time.monotonic() - started, calls[0]


def disk_used() -> int:
    return shutil.disk_usage("/").used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=300, help="models trained on the retracted dataset "
                        "(default 300; Atlas's audit store grows with every propagated tag, keep it modest)")
    parser.add_argument("--keep", action="store_true", help="leave the entities in Atlas (default: purge them)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if not os.environ.get("ATLAS_URL") or not os.environ.get("ATLAS_KAFKA_BOOTSTRAP_SERVERS"):
        raise SystemExit("set ATLAS_URL (with ATLAS_USER/ATLAS_PASSWORD) and ATLAS_KAFKA_BOOTSTRAP_SERVERS to the "
                         "Atlas and the Kafka broker to measure on")
    client = AtlasClient(AtlasSettings.load())
    policy = load_policy(None)
    prefix = f"bench/{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    dataset = f"file:///{prefix}/shared"
    disk_before = disk_used()
    results: dict[str, Any] = {"models": args.models, "prefix": prefix}
    work = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    guids: list[str] = []
    try:
        file = work / "catalog.yaml"
        file.write_text(yaml.safe_dump(catalog(prefix, args.models), sort_keys=False))
        started = time.monotonic()
        cli("apply", str(file))
        say("build", f"atlas-ml apply: 1 dataset, {args.models} models and runs in {time.monotonic() - started:.1f} s")

        affected = impact(client, dataset)
        guids = [a.guid for a in affected.of("model")]
        run_guids = [a.guid for a in affected.of("process")]
        assert len(guids) == args.models, f"{len(guids)} models downstream, expected {args.models}"
        watched, _ = load_models(client, guids)
        gathered = collect_evidence_many(client, [m.entity for m in watched])
        now = datetime.now(timezone.utc)
        reports = [(evaluate(gathered.evidence[m.guid], PUBLIC, policy, now=now), m.name) for m in watched]
        assert all(r.verdict == "PASS" for r, _ in reports), {r.verdict for r, _ in reports}
        write_back_many(client, reports)
        say("build", f"recorded {len(reports)} public release verdicts (PASS) in bulk")

        alerts = work / "alerts.jsonl"
        def ours(path: Path) -> list[dict[str, Any]]:
            """This run's alerts: the watcher sees all of Atlas, and others may be using it meanwhile."""
            found = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
            return [a for a in found if str(a["model"]).startswith(f"models/{prefix}/")]

        group = ["--group-id", f"bench-{prefix}", "--alerts-file", str(alerts)]
        cli("watch", "--once", *group)  # the group's starting point: the topic's end
        log = (work / "watch.log").open("w")
        watcher = subprocess.Popen([*CLI, "watch", *group], env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=log)
        try:
            time.sleep(3)  # assigned and polling
            retract_started = time.monotonic()
            cli("dataset", "retract", dataset, "--reason", "benchmark: withdrawn by its publisher")
            returned = time.monotonic()
            count = 0
            while count < args.models and time.monotonic() - returned < 900 and watcher.poll() is None:
                time.sleep(0.05)
                count = len(ours(alerts))
            last_alert = time.monotonic() - returned
            time.sleep(5)  # our own write-backs come back: they must alert nothing
        finally:
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(timeout=120)
            log.close()
        lines = ours(alerts)
        totals = (work / "watch.log").read_text().strip().splitlines()[-1]
        assert len(lines) == args.models and len({a["model"] for a in lines}) == args.models, (len(lines), totals)
        results["watch"] = {"retract_call_s": round(returned - retract_started, 2),
                            "retract_to_last_alert_s": round(last_alert, 2), "alerts": len(lines), "totals": totals}
        say("watch", f"retract returned after {returned - retract_started:.1f} s; last of {len(lines)} alerts "
                     f"{last_alert:.1f} s later; watcher: {totals}")

        single, single_s, single_calls = timed(client, lambda: {
            m.guid: collect_evidence(client, m.qualified_name) for m in watched})
        bulk, bulk_s, bulk_calls = timed(client, lambda: collect_evidence_many(
            client, [m.entity for m in load_models(client, guids)[0]]))
        differ = [g for g in guids if single[g].tags != bulk.evidence[g].tags]
        same = not differ
        for g in differ[:2]:  # what differs, to see why
            one = {t.model_dump_json() for t in single[g].tags}
            other = {t.model_dump_json() for t in bulk.evidence[g].tags}
            say("gather", f"{g}: model by model only {sorted(one - other)}; bulk only {sorted(other - one)}")
        results["gather"] = {"per_model_s": round(single_s, 2), "per_model_calls": single_calls,
                             "bulk_s": round(bulk_s, 2), "bulk_calls": bulk_calls, "same_evidence": same,
                             "bulk_lineage_reads": bulk.lineage_reads, "bulk_fallbacks": bulk.fallbacks}
        say("gather", f"model by model {single_s:.1f} s / {single_calls} calls; bulk {bulk_s:.1f} s / "
                      f"{bulk_calls} calls (incl. the model reads); same evidence: {same}")
        assert same

        def reports_at(when: datetime, models: list[WatchedModel]) -> list[tuple[CheckReport, str | None]]:
            return [(evaluate(bulk.evidence[m.guid], PUBLIC, policy, now=when), m.name) for m in models]

        first = reports_at(datetime.now(timezone.utc), watched)
        _, write_single_s, write_single_calls = timed(
            client, lambda: [write_back(client, r, model_name=name) for r, name in first])
        second = reports_at(datetime.now(timezone.utc) + timedelta(seconds=1), watched)
        written, write_bulk_s, write_bulk_calls = timed(client, lambda: write_back_many(client, second))
        results["write"] = {"per_model_s": round(write_single_s, 2), "per_model_calls": write_single_calls,
                            "bulk_s": round(write_bulk_s, 2), "bulk_calls": write_bulk_calls,
                            "bulk_tag_writes": written.tag_writes, "bulk_entity_writes": written.entity_writes}
        say("write", f"model by model {write_single_s:.1f} s / {write_single_calls} calls; bulk "
                     f"{write_bulk_s:.1f} s / {write_bulk_calls} calls")
        results["ratios"] = {"gather_time": round(single_s / bulk_s, 1),
                             "gather_calls": round(single_calls / bulk_calls, 1),
                             "write_time": round(write_single_s / write_bulk_s, 1),
                             "write_calls": round(write_single_calls / write_bulk_calls, 1)}
        results["run_guids"] = len(run_guids)
    finally:
        if not args.keep and guids:
            _purge(client, prefix, dataset)
        shutil.rmtree(work, ignore_errors=True)
    results["disk_growth_mb"] = round((disk_used() - disk_before) / 2**20)
    say("done", json.dumps(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _purge(client: AtlasClient, prefix: str, dataset: str) -> None:
    """Delete then purge what the run made: the dataset, the runs, the models and their releases."""
    affected = impact(client, dataset)
    guids = [affected.source_guid, *(a.guid for a in affected.affected)]
    for start in range(0, len(guids), 100):
        chunk = guids[start:start + 100]
        client.request("DELETE", "/v2/entity/bulk", params={"guid": chunk})
        client.request("PUT", "/admin/purge/", json=chunk)
    say("cleanup", f"deleted and purged {len(guids)} entities under {prefix}")


if __name__ == "__main__":
    sys.exit(main())
