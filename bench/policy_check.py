#!/usr/bin/env python
"""Benchmark: the release check on a model with many upstream datasets, next to a naive traversal.

    python bench/policy_check.py [--datasets 1000] [--hops 10] [--repeat 3] [--small 100] [--json out.json]

Builds, in a real Atlas, a model fed by N raw datasets spread over H hops:

    hop k (0..H-1):  N/H raw ml_datasets + aggregate a_{k-1}  --ml_derivation agg-k-->  aggregate a_k
    a_{H-1}  --ml_training_run-->  model

Every 10th raw dataset gets a license through GovernanceRegistry.register_dataset (CC-BY-4.0 and
CC-BY-NC-4.0 alternating), one of those also holds personal data, one other raw dataset is retracted; the
rest are CC0-1.0, which implies no tags. Atlas propagates the tags along the lineage to the model.

Then, side by side in one run, `--repeat` times each after one untimed warm-up:
  check  atlas_mlplugin.policy.check.check_model(..., record=False): the model's classifications (each
         naming its source) plus one lineage call;
  naive  a traversal from the model that fetches every process and dataset one by one (GET
         /v2/entity/guid/{guid}), collects each entity's own classifications, and evaluates the same default
         policy on them.
Both must report the same (tag, source) findings, and those must be the tags the graph was built with.
The same is done on a smaller graph (--small datasets, same hops) to show that check's REST calls do not
grow with N. Wall times are medians; REST calls are counted on the client's HTTP session.

Atlas: the server given by ATLAS_URL (with ATLAS_USER/ATLAS_PASSWORD), else a local Atlas started in
.state/bench-atlas on a free port and stopped at the end. Every run uses its own name prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.typedefs import apply
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping.tags import derived_tags, retraction_tags
from atlas_mlplugin.model import DatasetSpec, DerivationSpec, ModelSpec, Retraction, TrainingRunSpec
from atlas_mlplugin.policy.check import check_model
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.gather import collect_evidence
from atlas_mlplugin.policy.model import CheckReport, Evidence, ReleaseContext, UpstreamTag
from atlas_mlplugin.policy.rules import Policy, load_policy
from atlas_mlplugin.reads import count_requests
from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = REPO / ".state" / "bench-atlas"
CONTEXT = ReleaseContext(audience="public", commercial=True)
BASE_LICENSE = "CC0-1.0"  # what the untagged datasets are: a license that implies no tags
TAGGED_LICENSES = ("CC-BY-4.0", "CC-BY-NC-4.0")
TAG_EVERY = 10

_T0 = time.monotonic()


def say(phase: str, message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {phase:<8} {message}", file=sys.stderr, flush=True)


# --- Atlas ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def atlas_server() -> Iterator[tuple[AtlasSettings, str]]:
    """Settings of the Atlas to measure, and a description of it."""
    if os.environ.get("ATLAS_URL"):
        settings = AtlasSettings.load()
        yield settings, f"external ({settings.url})"
        return
    # ATLAS_ML_BENCH_HEAP: a bigger JVM heap for workloads the default one cannot hold (bench/README.md).
    heap = {"heap": os.environ["ATLAS_ML_BENCH_HEAP"]} if os.environ.get("ATLAS_ML_BENCH_HEAP") else {}
    atlas = LocalAtlas(LauncherOptions(state_dir=STATE_DIR, port=_free_port(), **heap))
    atlas.start(progress=lambda msg: say("atlas", msg))
    try:
        status = atlas.status()
        if status.kafka_bootstrap_servers:  # for benchmarks that also measure the Kafka transport
            os.environ.setdefault("ATLAS_KAFKA_BOOTSTRAP_SERVERS", status.kafka_bootstrap_servers)
        yield (AtlasSettings(url=status.url, username=status.user, password=SecretStr(status.password)),
               f"local Atlas {status.version} ({status.url}, state {STATE_DIR.relative_to(REPO)}, "
               f"heap {atlas.options.heap})")
    finally:
        peak = atlas.status().peak_rss_mb
        if peak:
            say("atlas", f"peak resident memory of the server: {peak:.0f} MB")
        atlas.stop(progress=lambda msg: say("atlas", msg))


# --- the graph -----------------------------------------------------------------------------------------
@dataclass
class Graph:
    datasets: int
    hops: int
    model: str
    raw: list[str]
    expected_tags: set[tuple[str, str]]  # (tag type, source qualifiedName) the model must inherit
    entities: int = 0
    build_seconds: float = 0.0
    build_calls: int = 0


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def build_graph(client: AtlasClient, registry: GovernanceRegistry, prefix: str, n: int, hops: int,
                batch: int) -> Graph:
    """N raw datasets over H hops into one model; tags set at the source through the registry."""
    label = f"n={n}"
    base = f"bench/{prefix}/n{n}"
    per_hop = [n // hops + (1 if k < n % hops else 0) for k in range(hops)]
    raw_by_hop: list[list[str]] = []
    index = 0
    for k, size in enumerate(per_hop):
        raw_by_hop.append([f"file:///{base}/hop{k:02d}/raw{i:05d}" for i in range(index, index + size)])
        index += size
    raw = [qn for hop in raw_by_hop for qn in hop]
    aggregates = [f"file:///{base}/hop{k:02d}/aggregate" for k in range(hops)]
    model = ModelSpec(qualified_name=f"models/{base}/model", name=f"bench model {label}")

    started = time.monotonic()
    with count_requests(client) as calls:
        # 1. Every dataset (raw and aggregate) and the model, in bulk, as CC0 data (no tags implied).
        cc0 = registry.catalog.get(BASE_LICENSE)
        plain = [em.dataset_entity(DatasetSpec(qualified_name=qn, name="/".join(qn.rsplit("/", 2)[-2:]),
                                               license=BASE_LICENSE), cc0) for qn in [*raw, *aggregates]]
        registry.register_license(cc0)
        for done, chunk in enumerate(_chunks(plain, batch), start=1):
            client.upsert_entities(chunk)
            say("build", f"{label}: datasets {min(done * batch, len(plain))}/{len(plain)} "
                         f"({time.monotonic() - started:.1f}s)")
        client.upsert_entities([em.model_entity(model)])

        # 2. Facts at the source, through the registry, so the tags are the ones real registrations give.
        expected: set[tuple[str, str]] = set()
        tagged = raw[::TAG_EVERY]
        personal = tagged[1] if len(tagged) > 1 else tagged[0]
        for number, qn in enumerate(tagged):
            spec = DatasetSpec(qualified_name=qn, name=qn.rsplit("/", 1)[-1], creator="Bench Lab",
                               license=TAGGED_LICENSES[number % 2],
                               personal_data_categories=["face"] if qn == personal else [])
            registry.register_dataset(spec)
            expected |= {(t["typeName"], qn) for t in derived_tags(spec, registry.catalog.get(spec.license))}
            if (number + 1) % 25 == 0 or number + 1 == len(tagged):
                say("tag", f"{label}: licensed {number + 1}/{len(tagged)} ({time.monotonic() - started:.1f}s)")
        retracted = raw[1]  # hop 0: the longest path to the model
        registry.retract_dataset(retracted, "withdrawn by its publisher (benchmark)")
        expected |= {(t["typeName"], retracted)
                     for t in retraction_tags(retracted, Retraction(reason="x"))}
        say("tag", f"{label}: retracted {retracted}; personal data in {personal}")

        # 3. Lineage, hop by hop: agg-k reads hop k's raw datasets and a_{k-1}, writes a_k.
        for k in range(hops):
            inputs = raw_by_hop[k] + ([aggregates[k - 1]] if k else [])
            derivation = DerivationSpec(
                qualified_name=f"derive:{base}/agg-{k:02d}", name=f"agg-{k:02d}", derivation_type="merge",
                inputs=inputs, outputs=[DatasetSpec(qualified_name=aggregates[k], name=f"aggregate-{k:02d}")])
            client.upsert_entities([em.derivation_entity(derivation)])
            say("lineage", f"{label}: hop {k + 1}/{hops}, {len(inputs)} inputs ({time.monotonic() - started:.1f}s)")
        run = TrainingRunSpec(run_id=f"{base}/train", name=f"train {label}", inputs=[aggregates[-1]],
                              outputs=[model])
        client.upsert_entities([em.training_run_entity(run, {})])
        client.wait_for_pending_tasks()
    graph = Graph(datasets=n, hops=hops, model=model.qualified_name, raw=raw, expected_tags=expected,
                  entities=len(raw) + 2 * hops + 2, build_seconds=time.monotonic() - started,
                  build_calls=calls[0])
    say("build", f"{label}: {graph.entities} entities, {len(expected)} source tags, "
                 f"{graph.build_calls} calls, {graph.build_seconds:.1f}s")
    return graph


# --- the naive traversal -------------------------------------------------------------------------------
def _active(refs: Any) -> list[dict[str, Any]]:
    if isinstance(refs, dict):
        refs = [refs]
    return [r for r in refs or [] if r and r.get("guid") and r.get("relationshipStatus", "ACTIVE") == "ACTIVE"]


def naive_evidence(client: AtlasClient, model_qualified_name: str) -> Evidence:
    """Walk upstream from the model one entity at a time, as code without lineage or propagation would."""
    with count_requests(client) as calls:
        found = client.find_entity("ml_model", model_qualified_name)
        if found is None:
            raise LookupError(model_qualified_name)
        model = found["entity"]
        entities: dict[str, dict[str, Any]] = {model["guid"]: model}
        toward_model: dict[str, str] = {}  # guid -> the next entity on its (first found) path to the model
        queue = deque([model])
        while queue:
            entity = queue.popleft()
            relations = entity.get("relationshipAttributes") or {}
            is_process = "inputs" in (entity.get("attributes") or {})
            upstream = (_active(relations.get("inputs")) or _active(entity["attributes"].get("inputs"))
                        if is_process else _active(relations.get("outputFromProcesses")))
            for ref in upstream:
                if ref["guid"] in entities:
                    continue
                fetched = client.get_entity(ref["guid"])["entity"]
                entities[fetched["guid"]] = fetched
                toward_model[fetched["guid"]] = entity["guid"]
                queue.append(fetched)

        def path(guid: str) -> tuple[str, ...]:
            hops = [guid]
            while hops[-1] in toward_model:
                hops.append(toward_model[hops[-1]])
            return tuple((entities[g].get("attributes") or {}).get("qualifiedName") or g for g in hops)

        tags = []
        for guid, entity in entities.items():
            attributes = entity.get("attributes") or {}
            for c in entity.get("classifications") or []:
                own = c.get("entityGuid", guid) == guid
                if not own or (guid != model["guid"] and c.get("propagate") is False):
                    continue
                tags.append(UpstreamTag(
                    type_name=c["typeName"], attributes=c.get("attributes") or {}, direct=guid == model["guid"],
                    source_guid=guid, source_qualified_name=attributes.get("qualifiedName"),
                    source_name=attributes.get("name"), source_type=entity.get("typeName"),
                    source_status=entity.get("status"), path=path(guid)))
    return Evidence(model_guid=model["guid"], model_qualified_name=model_qualified_name,
                    model_name=(model.get("attributes") or {}).get("name"), tags=tags, rest_calls=calls[0])


def naive_check(client: AtlasClient, model_qualified_name: str, context: ReleaseContext,
                policy: Policy | None = None) -> CheckReport:
    policy = policy if policy is not None else load_policy(None)
    evidence = naive_evidence(client, model_qualified_name)
    report = evaluate(evidence, context, policy, now=datetime.now(timezone.utc))
    return report.model_copy(update={"rest_calls": evidence.rest_calls})


# --- measuring -----------------------------------------------------------------------------------------
@dataclass
class Sample:
    seconds: float
    calls: int


@dataclass
class Measurement:
    graph: str
    datasets: int
    method: str
    warmup: Sample
    samples: list[Sample] = field(default_factory=list)
    findings: int = 0
    verdict: str = ""

    @property
    def median_seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def median_calls(self) -> int:
        return int(statistics.median(s.calls for s in self.samples))


Method = Callable[[], CheckReport]


def timed(client: AtlasClient, method: Method) -> tuple[CheckReport, Sample]:
    with count_requests(client) as calls:
        started = time.perf_counter()
        report = method()
        seconds = time.perf_counter() - started
    return report, Sample(seconds=seconds, calls=calls[0])


def finding_keys(report: CheckReport) -> set[tuple[str, str | None]]:
    return {(f.tag, f.source_qualified_name) for f in report.findings}


def full_findings(report: CheckReport) -> set[tuple[Any, ...]]:
    return {(f.rule_id, f.severity, f.tag, f.source_qualified_name, f.path) for f in report.findings}


def measure(client: AtlasClient, graph: Graph, repeat: int) -> tuple[list[Measurement], dict[str, Any]]:
    label = f"{graph.datasets} datasets / {graph.hops} hops"
    methods: dict[str, Method] = {
        "check": lambda: check_model(client, graph.model, CONTEXT, record=False),
        "naive": lambda: naive_check(client, graph.model, CONTEXT),
    }
    results: dict[str, Measurement] = {}
    reports: dict[str, CheckReport] = {}
    for name, method in methods.items():  # warm-up, also the runs whose findings are compared
        report, sample = timed(client, method)
        reports[name] = report
        results[name] = Measurement(graph=label, datasets=graph.datasets, method=name, warmup=sample,
                                    findings=len(report.findings), verdict=report.verdict)
        say("measure", f"{label}: {name} warm-up {sample.seconds:.3f}s, {sample.calls} calls, "
                       f"{len(report.findings)} findings, verdict {report.verdict}")

    # Fair comparison: both read exactly the tags the graph was built with, and report the same findings.
    for name, evidence in (("check", collect_evidence(client, graph.model)),
                           ("naive", naive_evidence(client, graph.model))):
        read = {(t.type_name, t.source_qualified_name) for t in evidence.tags}
        assert read == graph.expected_tags, (
            f"{name} read other tags than the graph holds: missing {sorted(graph.expected_tags - read)[:5]}, "
            f"unexpected {sorted(read - graph.expected_tags)[:5]}")
    ours, naive = finding_keys(reports["check"]), finding_keys(reports["naive"])
    assert ours == naive, (f"check and naive disagree: only check {sorted(ours - naive)[:5]}, "
                           f"only naive {sorted(naive - ours)[:5]}")
    identical = full_findings(reports["check"]) == full_findings(reports["naive"])
    sources = {source for _, source in ours}
    say("measure", f"{label}: both read the {len(graph.expected_tags)} source tags the graph holds and report "
                   f"the same {len(ours)} (tag, source) findings; identical incl. rule, severity and path: "
                   f"{identical}")

    for round_ in range(1, repeat + 1):
        for name, method in methods.items():
            _, sample = timed(client, method)
            results[name].samples.append(sample)
            say("measure", f"{label}: {name} run {round_}/{repeat} {sample.seconds:.3f}s, {sample.calls} calls")
    agreement = {"same_tag_source_findings": True, "identical_findings": identical, "findings": len(ours),
                 "sources": len(sources)}
    return list(results.values()), agreement


# --- output --------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor()
    with suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name")) or cpu
    return {"nproc": os.cpu_count(), "ram_gib": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
            "os": platform.platform(), "python": platform.python_version()}


def table(measurements: list[Measurement]) -> str:
    head = ("graph", "method", "median s", "min s", "max s", "REST calls", "findings", "verdict")
    rows = [head]
    for m in measurements:
        times = [s.seconds for s in m.samples]
        rows.append((m.graph, m.method, f"{m.median_seconds:.3f}", f"{min(times):.3f}", f"{max(times):.3f}",
                     str(m.median_calls), str(m.findings), m.verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {2, 3, 4, 5, 6}

    def line(row: tuple[str, ...]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "| " + " | ".join(cells) + " |"

    sep = "| " + " | ".join(("-" * (w - 1) + ":") if i in right else "-" * w for i, w in enumerate(widths)) + " |"
    return "\n".join([line(rows[0]), sep, *(line(r) for r in rows[1:])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=1000, help="raw upstream datasets of the model (default 1000)")
    parser.add_argument("--hops", type=int, default=10, help="derivation hops between them and the model (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each method (default 3), after a warm-up")
    parser.add_argument("--small", type=int, default=100,
                        help="datasets of the second, smaller graph (default 100; 0 skips it)")
    parser.add_argument("--batch", type=int, default=200, help="entities per bulk upsert while building (default 200)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.hops < 1 or args.datasets < args.hops * TAG_EVERY or args.repeat < 1:
        parser.error(f"need --hops >= 1, --datasets >= {TAG_EVERY} x hops and --repeat >= 1")
    sizes = [args.datasets] + ([args.small] if args.small and args.small != args.datasets else [])
    for size in sizes[1:]:
        if size < args.hops * TAG_EVERY:
            parser.error(f"--small must be 0 or >= {TAG_EVERY} x hops")

    prefix = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    started_at = datetime.now(timezone.utc)
    say("setup", f"run {prefix}: graphs of {', '.join(map(str, sizes))} datasets over {args.hops} hops, "
                 f"{args.repeat} timed runs each")
    with atlas_server() as (settings, atlas_description):
        client = AtlasClient(settings)
        result = apply(client)
        say("setup", f"typedefs applied ({'changed' if result.changed else 'unchanged'}); Atlas "
                     f"{client.version().get('Version')}")
        registry = GovernanceRegistry(client)
        graphs = [build_graph(client, registry, prefix, n, args.hops, args.batch) for n in sizes]
        measurements: list[Measurement] = []
        agreements: dict[int, dict[str, Any]] = {}
        for graph in graphs:
            found, agreements[graph.datasets] = measure(client, graph, args.repeat)
            measurements += found
        version = client.version().get("Version")
        client.close()

    by = {(m.datasets, m.method): m for m in measurements}
    big = args.datasets
    time_ratio = by[big, "naive"].median_seconds / by[big, "check"].median_seconds
    call_ratio = by[big, "naive"].median_calls / by[big, "check"].median_calls
    check_calls = {n: by[n, "check"].median_calls for n in sizes}
    independent = len(set(check_calls.values())) == 1
    command = "python bench/policy_check.py " + " ".join(sys.argv[1:] if argv is None else argv)

    print()
    print(f"Release check on a model with N upstream datasets over {args.hops} hops "
          f"({started_at:%Y-%m-%d %H:%M} UTC, {atlas_description})")
    print()
    print(table(measurements))
    print()
    print(f"naive / check, {big} datasets: wall time {time_ratio:.1f}x, REST calls {call_ratio:.1f}x")
    print("check's REST calls by dataset count: " + ", ".join(f"{n}: {c}" for n, c in check_calls.items())
          + (" (independent of N)" if independent else " (GROWS with N)"))
    print("both methods report the same (tag, source) findings: "
          + ", ".join(f"{n} datasets: {a['findings']} findings from {a['sources']} sources"
                      + ("" if a["identical_findings"] else " (rule/severity/path differ)")
                      for n, a in agreements.items()))
    m = machine()
    print(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']}")

    if args.json:
        data = {
            "benchmark": "policy_check", "run": prefix, "date": started_at.isoformat(timespec="seconds"),
            "command": command, "machine": m, "atlas": {"description": atlas_description, "version": version},
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "context": CONTEXT.model_dump(mode="json"),
            "graphs": [{"datasets": g.datasets, "hops": g.hops, "entities": g.entities, "model": g.model,
                        "source_tags": len(g.expected_tags), "build_seconds": round(g.build_seconds, 2),
                        "build_calls": g.build_calls} for g in graphs],
            "measurements": [{**asdict(x), "median_seconds": x.median_seconds, "median_calls": x.median_calls}
                             for x in measurements],
            "agreement": agreements,
            "ratios": {"datasets": big, "naive_over_check_seconds": time_ratio,
                       "naive_over_check_calls": call_ratio},
            "check_calls_by_datasets": check_calls, "check_calls_independent_of_datasets": independent,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        say("done", f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
