"""Benchmark: how fast OpenLineage events reach Atlas, next to how fast Atlas takes the same entities in bulk.

All paths run in one process against one server, each under its own name prefix so none sees another's
entities:

- rest: the events as files in a directory, applied by `LineageIngestor.drain` (what `atlas-ml ingest` does):
  events/s and REST calls per event;
- ceiling: the entities the ingest produces, posted straight with `POST /v2/entity/bulk`, 100 events' worth
  per request, no look-ups: what Atlas itself takes;
- kafka: the same events published as Atlas hook notifications (`atlas-ml ingest --transport kafka`), timed
  until Atlas has applied the last one (null without a broker: ATLAS_KAFKA_BOOTSTRAP_SERVERS, or the local
  server's embedded one);
- apply (`--apply-datasets M`): `apply_catalog` of a catalog of M datasets and one training run reading all
  of them, the first time and again when nothing changed (seconds and REST calls).

The events are as pipelines send them: N jobs, each writing its own output and reading 3 datasets drawn from
a shared pool (N/10, at least 20) plus, for one job in four, an earlier job's output.

    python bench/ingest_throughput.py [--events 2000] [--apply-datasets 1000] [--json out.json]

With ATLAS_URL (ATLAS_USER, ATLAS_PASSWORD) it measures that server; otherwise it starts a local Atlas as
bench/policy_check.py does and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy_check import atlas_server, machine, say  # noqa: E402

from atlas_mlplugin.atlas.client import AtlasClient  # noqa: E402
from atlas_mlplugin.atlas.typedefs import apply  # noqa: E402
from atlas_mlplugin.governance import GovernanceRegistry  # noqa: E402
from atlas_mlplugin.mapping.entities import link_within_batch  # noqa: E402
from atlas_mlplugin.model.openlineage import parse_run_event  # noqa: E402
from atlas_mlplugin.openlineage.ingest import DEFAULT_BATCH, LineageIngestor, event_step, plan_batch  # noqa: E402
from atlas_mlplugin.reads import count_requests  # noqa: E402

LICENSES = ["CC-BY-4.0", "CC-BY-NC-4.0", "CC0-1.0", "CC-BY-SA-4.0"]


def events_for(prefix: str, count: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pool = max(20, count // 10)
    events = []
    for i in range(count):
        inputs = [f"/{prefix}/pool/d{k}" for k in rng.sample(range(pool), 3)]
        if i >= 4 and i % 4 == 0:
            inputs.append(f"/{prefix}/out/o{rng.randrange(i)}")
        events.append({
            "eventType": "COMPLETE", "eventTime": "2026-11-30T10:00:00Z", "producer": "bench",
            "run": {"runId": str(uuid.UUID(int=rng.getrandbits(128))),
                    "facets": {"atlasSpark": {"applicationId": "app-1", "executionId": i}}},
            "job": {"namespace": "bench", "name": f"job{i}"},
            "inputs": [{"namespace": "file", "name": name} for name in inputs],
            "outputs": [{"namespace": "file", "name": f"/{prefix}/out/o{i}"}]})
    return events


def measure_rest(client: AtlasClient, registry: GovernanceRegistry, prefix: str, count: int,
                 batch_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for i, event in enumerate(events_for(prefix, count)):
            (directory / f"{i:08d}-e{i}.json").write_text(json.dumps(event))
        ingestor = LineageIngestor(registry, batch_size=batch_size)
        started = time.monotonic()
        with count_requests(client) as calls:
            report = ingestor.drain(directory)
        seconds = time.monotonic() - started
    if report.applied != count or report.rejected or report.error:
        raise SystemExit(f"rest ingest did not apply every event: {report.summary()}")
    return {"seconds": round(seconds, 2), "events_per_s": round(count / seconds, 1),
            "calls_per_event": round(calls[0] / count, 3)}


def measure_ceiling(client: AtlasClient, prefix: str, count: int, batch_size: int) -> dict[str, Any]:
    """The same entities (datasets first seen in a batch, outputs, processes, tags on new ones) posted with
    one bulk upsert per `batch_size` events and nothing else: no look-ups, no tag calls."""
    steps = [event_step(parse_run_event(json.dumps(e))) for e in events_for(prefix, count)]
    batches = []
    posted: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, count, batch_size):
        plan = plan_batch(steps[start:start + batch_size], posted)
        batches.append(link_within_batch(plan.entities))
        posted.update({(e["typeName"], e["attributes"]["qualifiedName"]): {"guid": "", "classifications": []}
                       for e in plan.entities})
    started = time.monotonic()
    with count_requests(client) as calls:
        for batch in batches:
            client.request("POST", "/v2/entity/bulk", json={"entities": batch, "referredEntities": {}})
    seconds = time.monotonic() - started
    return {"seconds": round(seconds, 2), "events_per_s": round(count / seconds, 1),
            "calls_per_event": round(calls[0] / count, 3)}


def measure_kafka(client: AtlasClient, registry: GovernanceRegistry, prefix: str, count: int,
                  timeout: float = 3600.0) -> dict[str, Any] | None:
    """The Kafka transport's path (`atlas-ml ingest --transport kafka`): the same events published as hook
    notifications, timed until Atlas has applied the last one (every event's process is in Atlas). None when
    no broker is known (ATLAS_KAFKA_BOOTSTRAP_SERVERS, or the local server's)."""
    import os

    from atlas_mlplugin.mapping.openlineage import process_entity
    from atlas_mlplugin.transport.kafka import HookPublisher
    from atlas_mlplugin.transport.lineage import KafkaLineageWriter
    from atlas_mlplugin.transport.settings import load_kafka_settings

    if not os.environ.get("ATLAS_KAFKA_BOOTSTRAP_SERVERS"):
        say("kafka", "no broker known (ATLAS_KAFKA_BOOTSTRAP_SERVERS): skipped")
        return None
    events = events_for(prefix, count)
    processes = []
    for event in events:
        parsed = parse_run_event(json.dumps(event))
        processes.append(process_entity(parsed, [d.qualified_name for d in parsed.inputs],
                                        [d.qualified_name for d in parsed.outputs])["attributes"]["qualifiedName"])
    publisher = HookPublisher(load_kafka_settings(None))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for i, event in enumerate(events):
            (directory / f"{i:08d}-e{i}.json").write_text(json.dumps(event))
        ingestor = LineageIngestor(registry, writer=KafkaLineageWriter(registry, publisher))
        started = time.monotonic()
        with count_requests(client) as calls:
            report = ingestor.drain(directory)
        published = time.monotonic() - started
    publisher.close()
    if report.applied != count or report.rejected or report.error:
        raise SystemExit(f"kafka ingest did not publish every event: {report.summary()}")
    say("kafka", f"published {count} events in {published:.1f} s; waiting until Atlas has applied them")
    # Atlas applies one partition in order, so the last process present means all are; all are checked anyway.
    while not client.find_entities("ml_spark_process", processes[-1:]):
        if time.monotonic() - started > timeout:
            raise SystemExit(f"Atlas had not applied the last Kafka message after {timeout:.0f} s")
        time.sleep(0.5)
    seconds = time.monotonic() - started
    present = len(client.find_entities("ml_spark_process", processes))
    if present != count:
        raise SystemExit(f"only {present} of {count} processes reached Atlas through Kafka")
    return {"seconds": round(seconds, 2), "published_seconds": round(published, 2),
            "events_per_s": round(count / seconds, 1), "rest_calls_per_event": round(calls[0] / count, 3)}


def catalog_yaml(prefix: str, datasets: int) -> str:
    lines = ["version: 1", "datasets:"]
    for i in range(datasets):
        lines += [f"  - qualified_name: file:///{prefix}/data/d{i}", f"    name: d{i}",
                  f"    license: {LICENSES[i % len(LICENSES)]}"]
        if i % 10 == 0:
            lines.append("    personal_data_categories: [contact]")
    lines += ["training_runs:", f"  - run_id: {prefix.replace('/', '-')}-run", "    name: bench run",
              "    inputs:"]
    lines += [f"      - file:///{prefix}/data/d{i}" for i in range(datasets)]
    lines += ["    outputs:", f"      - qualified_name: file:///{prefix}/models/m", "        name: m"]
    return "\n".join(lines) + "\n"


def measure_apply(client: AtlasClient, registry: GovernanceRegistry, prefix: str, datasets: int) -> dict[str, Any]:
    import logging

    from atlas_mlplugin.catalog.apply import apply_catalog
    from atlas_mlplugin.catalog.loader import load_catalog

    # Each bulk request's size and time, to see where the first apply spends them.
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("atlas_mlplugin.governance.bulk").setLevel(logging.DEBUG)
    out: dict[str, Any] = {"datasets": datasets}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.yaml"
        path.write_text(catalog_yaml(prefix, datasets))
        for label in ("first", "noop"):
            doc = load_catalog(path, catalog=registry.catalog)
            started = time.monotonic()
            with count_requests(client) as calls:
                report = apply_catalog(doc, registry)
            seconds = time.monotonic() - started
            out[label] = {"seconds": round(seconds, 2), "calls": calls[0], "writes": report.writes,
                          "created": len(report.of("created")), "updated": len(report.of("updated"))}
            say("apply", f"{label}: {seconds:.1f} s, {calls[0]} REST calls, {report.writes} writes")
            if label == "first":  # the run must end up with every input, however many requests that took
                run = client.find_entities("ml_training_run", [f"ml-run:{prefix.replace('/', '-')}-run"])
                linked = len(next(iter(run.values()))["attributes"].get("inputs") or []) if run else 0
                out[label]["run_inputs_linked"] = linked
                if linked != datasets:
                    raise SystemExit(f"the training run has {linked} of its {datasets} inputs in Atlas")
    if out["noop"]["writes"] or out["noop"]["created"] or out["noop"]["updated"]:
        raise SystemExit(f"the second apply changed something: {out['noop']}")
    return out


def measure_events(client: AtlasClient, registry: GovernanceRegistry, run: str, events: int,
                   batch_size: int) -> dict[str, Any]:
    """The three event paths side by side (rest, ceiling, kafka) and their ratios."""
    result: dict[str, Any] = {}
    say("rest", f"ingesting {events} events under {run}/rest")
    rest = measure_rest(client, registry, f"{run}/rest", events, batch_size)
    say("rest", f"{rest}")
    say("ceiling", f"posting the same entities under {run}/ceiling")
    ceiling = measure_ceiling(client, f"{run}/ceiling", events, DEFAULT_BATCH)
    say("ceiling", f"{ceiling}")
    say("kafka", f"publishing the same events under {run}/kafka")
    kafka = measure_kafka(client, registry, f"{run}/kafka", events)
    say("kafka", f"{kafka}")
    result.update({
        "rest": rest, "ceiling": ceiling, "kafka": kafka,
        "rest_events_per_s": rest["events_per_s"], "ceiling_events_per_s": ceiling["events_per_s"],
        "kafka_events_per_s": kafka["events_per_s"] if kafka else None,
        "rest_ratio": round(rest["events_per_s"] / ceiling["events_per_s"], 2),
        "kafka_ratio": round(kafka["events_per_s"] / ceiling["events_per_s"], 2) if kafka else None,
    })
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="0 skips the event paths (rest, ceiling, kafka)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--apply-datasets", type=int, default=1000, help="0 skips the apply measurement")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    run = f"bench/{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
    result: dict[str, Any] = {"events": args.events, "batch_size": args.batch_size, "machine": machine()}
    with atlas_server() as (settings, description):
        result["atlas"] = description
        client = AtlasClient(settings)
        apply(client)
        registry = GovernanceRegistry(client)
        if args.events:
            result.update(measure_events(client, registry, run, args.events, args.batch_size))
        if args.apply_datasets:
            result["apply"] = measure_apply(client, registry, f"{run}/apply", args.apply_datasets)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
