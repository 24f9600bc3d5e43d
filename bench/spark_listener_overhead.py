"""Overhead of lineage capture on a Spark job: none vs our listener (spool, and kafka when a broker is given)
vs openlineage-spark, in one run.

Each configuration runs the same workload (N small Spark SQL writes, each reading one of --inputs small parquet
datasets) in its own JVM (a fresh PySpark driver per run), in interleaved order over --repeat rounds, so drift
on a shared machine hits all of them alike. Reported: the workload's median wall time (JVM start excluded), the
ratios to the baseline, the driver JVM's peak resident memory (VmHWM), and how long `spark.stop()` took (our
listener flushes what it has not delivered yet there).

    python bench/spark_listener_overhead.py [--writes 200] [--repeat 3] [--inputs 4] [--json out.json]
        [--kafka-bootstrap HOST:PORT --atlas-url URL]     # adds "ours-kafka"

"ours-kafka" is our listener with spark.atlas.transport=kafka, publishing hook notifications to a real
broker (--kafka-bootstrap, or ATLAS_KAFKA_BOOTSTRAP_SERVERS) and reading Atlas over REST (--atlas-url, or
ATLAS_URL; ATLAS_USER / ATLAS_PASSWORD) to know which inputs exist, as a user would configure it; without a
broker it is skipped. The inputs are registered in that Atlas first (a licensed dataset each), so every event
costs the look-ups a governed job costs. After the rounds the benchmark checks that nothing fell back to the
spool and waits until Atlas has applied every run's last event: a figure measured on the fallback would say
nothing about Kafka.

Needs PySpark 4.x (the `spark` extra), our listener jar for Scala 2.13 (built by `make listener`) and the
openlineage-spark jar (fetched with Maven).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.maven_jars import maven_jar  # noqa: E402

OUR_JAR = REPO / "spark_listener" / "target" / "2.13" / "atlas-mlplugin-spark-listener_2.13-0.1.0.jar"
OPENLINEAGE_SPARK = ("io.openlineage", "openlineage-spark_2.13", "1.53.0")
OUR_LISTENERS = {"spark.sql.queryExecutionListeners": "io.atlasml.spark.AtlasQueryListener",
                 "spark.extraListeners": "io.atlasml.spark.AtlasSparkListener"}

WORKLOAD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from py4j.java_gateway import get_field
    from pyspark.sql import SparkSession
    job = json.loads(Path(sys.argv[1]).read_text())  # a file: the config may hold Atlas's password
    config, writes, out, inputs = job["config"], job["writes"], Path(job["out"]), job["inputs"]
    started = time.perf_counter()
    builder = SparkSession.builder.master("local[2]").appName("overhead").config("spark.ui.enabled", "false")
    for key, value in config.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    startup = time.perf_counter() - started
    for path in inputs:  # made once, by whichever configuration runs first
        if not Path(path).exists():
            spark.range(100).write.parquet(path)
    def source(i):
        return spark.read.parquet(inputs[i % len(inputs)]) if inputs else spark.range(100)
    source(0).write.mode("overwrite").parquet(str(out / "warmup"))  # JIT and first-use costs
    started = time.perf_counter()
    for i in range(writes):
        source(i).selectExpr("id", "id * 2 AS twice").write.mode("overwrite").parquet(str(out / f"t{i}"))
    elapsed = time.perf_counter() - started
    dispatcher = None
    if "io.atlasml.spark.AtlasSparkListener" in config.get("spark.extraListeners", ""):
        runtime = spark._jvm.io.atlasml.spark.AtlasRuntime.get(spark.sparkContext._jsc.sc().conf())
        dispatcher = get_field(runtime, "dispatcher")
    listener = {}
    if dispatcher is not None:  # how far delivery lags behind the job when its last write returns
        listener = {"delivered_at_end": dispatcher.sent(), "queued_at_end": dispatcher.queued()}
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
    started = time.perf_counter()
    spark.stop()
    stop = time.perf_counter() - started
    if dispatcher is not None:
        listener.update(delivered=dispatcher.sent(), dropped=dispatcher.dropped(), failed=dispatcher.failed())
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_kb / 1024, "startup_s": startup, "stop_s": stop,
                      **({"listener": listener} if listener else {})}))
""")


@dataclass(frozen=True)
class KafkaTarget:
    """Where ours-kafka publishes and whom it asks which inputs exist."""

    bootstrap: str
    atlas_url: str
    user: str | None
    password: str | None


def kafka_target(args: argparse.Namespace) -> tuple[KafkaTarget | None, str | None]:
    """The broker and Atlas from flags / environment, or None and why ours-kafka is skipped."""
    bootstrap = args.kafka_bootstrap or os.environ.get("ATLAS_KAFKA_BOOTSTRAP_SERVERS")
    url = args.atlas_url or os.environ.get("ATLAS_URL")
    if not bootstrap:
        return None, ("no broker given (--kafka-bootstrap HOST:PORT or ATLAS_KAFKA_BOOTSTRAP_SERVERS; "
                      "`atlas-ml server status --json` reports the local Atlas's)")
    if not url:
        return None, ("the kafka transport reads Atlas over REST to know which inputs exist: give --atlas-url "
                      "(or ATLAS_URL, with ATLAS_USER / ATLAS_PASSWORD)")
    return KafkaTarget(bootstrap, url.rstrip("/"), os.environ.get("ATLAS_USER") or None,
                       os.environ.get("ATLAS_PASSWORD") or None), None


def atlas_client(target: KafkaTarget) -> Any:
    from atlas_mlplugin.atlas.client import AtlasClient
    from atlas_mlplugin.atlas.config import AtlasSettings

    return AtlasClient(AtlasSettings.load(overrides={"url": target.atlas_url, "username": target.user,
                                                      "password": target.password}))


def preflight(target: KafkaTarget) -> None:
    """Refuse to start when the broker or Atlas cannot be reached: the listener would spool every event and
    the figure would measure the fallback."""
    host, _, port = target.bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host or "localhost", int(port)), timeout=5).close()
    except (OSError, ValueError) as e:
        raise SystemExit(f"--kafka-bootstrap {target.bootstrap}: cannot connect ({e}); start the broker or fix "
                         "the address (`atlas-ml server status --json` reports the local Atlas's)") from None
    client = atlas_client(target)
    try:
        client.status(max_attempts=1)
    except Exception as e:  # noqa: BLE001 - any failure means: no figure for ours-kafka
        raise SystemExit(f"--atlas-url {target.atlas_url}: Atlas cannot be read ({e}); check the URL and "
                         "ATLAS_USER / ATLAS_PASSWORD") from None
    finally:
        client.close()


def register_inputs(target: KafkaTarget, inputs: list[Path]) -> None:
    """The inputs as a governed job finds them: registered, licensed. Atlas needs our typedefs for that."""
    from atlas_mlplugin.atlas.typedefs import apply
    from atlas_mlplugin.governance import GovernanceRegistry
    from atlas_mlplugin.model import DatasetSpec

    client = atlas_client(target)
    try:
        apply(client)
        registry = GovernanceRegistry(client)
        for i, path in enumerate(inputs):
            registry.register_dataset(DatasetSpec(qualified_name=path.as_uri(), name=f"bench-input-{i}",
                                                  license="CC-BY-4.0"))
    finally:
        client.close()


def configurations(workdir: Path, kafka: KafkaTarget | None) -> dict[str, dict[str, str]]:
    configs = {
        "none": {},
        "ours": {
            "spark.jars": str(OUR_JAR), **OUR_LISTENERS,
            "spark.atlas.transport": "spool",
            "spark.atlas.spool.dir": str(workdir / "spool"),
        },
        "openlineage-spark": {
            "spark.jars": str(maven_jar(*OPENLINEAGE_SPARK)),
            "spark.extraListeners": "io.openlineage.spark.agent.OpenLineageSparkListener",
            "spark.openlineage.transport.type": "file",
            "spark.openlineage.transport.location": str(workdir / "openlineage.jsonl"),
            "spark.openlineage.namespace": "bench",
        },
    }
    if kafka is not None:
        from atlas_mlplugin.spark.listener import ListenerSettings

        # The settings `atlas-ml spark conf --transport kafka` prints, so the run is configured as a user's is.
        settings = ListenerSettings(transport="kafka", spool_dir=workdir / "spool-kafka",
                                    kafka_bootstrap_servers=kafka.bootstrap, rest_url=kafka.atlas_url,
                                    rest_user=kafka.user, rest_password=kafka.password)
        configs["ours-kafka"] = {"spark.jars": str(OUR_JAR), **OUR_LISTENERS, **settings.spark_conf()}
    return configs


def listening_pid(port: int) -> int | None:
    """The process listening on a local TCP port (Atlas, whose JVM also runs its embedded broker), to read its
    CPU time; None when /proc does not tell (another user's process, another host)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


def cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_once(config: dict[str, str], writes: int, workdir: Path, out: Path, inputs: list[Path],
             atlas_pid: int | None) -> dict[str, Any]:
    script = workdir / "workload.py"
    script.write_text(WORKLOAD)
    job = workdir / "job.json"
    job.write_text(json.dumps({"config": config, "writes": writes, "out": str(out),
                               "inputs": [str(p) for p in inputs]}))
    job.chmod(0o600)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    atlas_before = cpu_seconds(atlas_pid)
    proc = subprocess.run([sys.executable, str(script), str(job)],
                          capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"workload failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    atlas_after = cpu_seconds(atlas_pid)
    result["load_1m"] = load
    if atlas_before is not None and atlas_after is not None:
        result["atlas_cpu_s"] = atlas_after - atlas_before  # over the whole run, JVM start and stop included
    return result


def wait_applied(target: KafkaTarget, outs: list[Path], writes: int, timeout: float) -> dict[str, Any]:
    """Until Atlas has applied the last event of every ours-kafka run (one partition, in order: the last one
    present means all are), then counts every run's processes."""
    client = atlas_client(target)
    try:
        started = time.monotonic()
        last = [f"spark-write:{(out / f't{writes - 1}').as_uri()}" for out in outs]
        while len(client.find_entities("ml_spark_process", last)) < len(last):
            if time.monotonic() - started > timeout:
                raise SystemExit(f"Atlas had not applied the last kafka event of every run after {timeout:.0f} s")
            time.sleep(1)
        waited = time.monotonic() - started
        expected = [f"spark-write:{(out / name).as_uri()}" for out in outs
                    for name in ["warmup", *(f"t{i}" for i in range(writes))]]
        present = len(client.find_entities("ml_spark_process", expected))
    finally:
        client.close()
    return {"processes_expected": len(expected), "processes_in_atlas": present,
            "applied_after_last_run_s": round(waited, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--inputs", type=int, default=4,
                        help="input datasets; write i reads input i mod N (0: spark.range, no input)")
    parser.add_argument("--kafka-bootstrap", default=None,
                        help="adds ours-kafka: Atlas's Kafka [default: $ATLAS_KAFKA_BOOTSTRAP_SERVERS]")
    parser.add_argument("--atlas-url", default=None,
                        help="Atlas's REST API for ours-kafka's look-ups [default: $ATLAS_URL; credentials from "
                             "ATLAS_USER / ATLAS_PASSWORD]")
    parser.add_argument("--apply-timeout", type=float, default=900.0,
                        help="how long to wait for Atlas to apply ours-kafka's events after the rounds")
    parser.add_argument("--only", default=None,
                        help="comma-separated configurations to run (none is always run: the ratios need it)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not OUR_JAR.is_file():
        raise SystemExit(f"{OUR_JAR} is missing: build it with `make listener`")
    kafka, skipped = kafka_target(args)
    if kafka is None:
        print(f"ours-kafka: skipped: {skipped}", flush=True)
    else:
        preflight(kafka)
    atlas_port = urlsplit(kafka.atlas_url).port if kafka else None
    atlas_pid = listening_pid(atlas_port) if atlas_port and urlsplit(kafka.atlas_url).hostname in (
        "127.0.0.1", "localhost") else None

    samples: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="spark-overhead-") as tmp:
        workdir = Path(tmp)
        inputs = [workdir / "in" / f"d{k}" for k in range(args.inputs)]
        if kafka is not None and inputs:
            register_inputs(kafka, inputs)
        configs = configurations(workdir, kafka)
        if args.only:
            wanted = {"none", *args.only.split(",")}
            unknown = wanted - set(configs)
            if unknown:
                raise SystemExit(f"--only {args.only}: no configuration {', '.join(sorted(unknown))}; "
                                 f"these exist: {', '.join(configs)}")
            configs = {name: config for name, config in configs.items() if name in wanted}
        kafka_outs = []
        for round_ in range(args.repeat):
            for name, config in configs.items():
                out = workdir / "out" / name / f"r{round_ + 1}"  # per run, so Atlas's copy of each is checked
                if name == "ours-kafka":
                    kafka_outs.append(out)
                result = run_once(config, args.writes, workdir, out, inputs, atlas_pid)
                samples.setdefault(name, []).append(result)
                lag = result.get("listener", {})
                print(f"round {round_ + 1}/{args.repeat} {name:<18} {result['seconds']:7.2f} s  "
                      f"stop {result['stop_s']:5.2f} s  peak RSS {result['peak_rss_mb']:.0f} MB"
                      + (f"  delivered {lag['delivered_at_end']} at end, queued {lag['queued_at_end']}"
                         if lag else "")
                      + (f"  Atlas CPU {result['atlas_cpu_s']:.1f} s" if "atlas_cpu_s" in result else ""),
                      flush=True)
        events = len(list((workdir / "spool").glob("*.json"))) if (workdir / "spool").is_dir() else 0
        spooled = len(list((workdir / "spool-kafka").glob("*.json"))) if (workdir / "spool-kafka").is_dir() else 0
        ol_file = workdir / "openlineage.jsonl"
        ol_lines = len(ol_file.read_text().splitlines()) if ol_file.exists() else 0
        applied = wait_applied(kafka, kafka_outs, args.writes, args.apply_timeout) if kafka_outs else None

    summary: dict[str, dict[str, Any]] = {}
    for name, runs in samples.items():
        row: dict[str, Any] = {"median_s": statistics.median(s["seconds"] for s in runs),
                               "peak_rss_mb": statistics.median(s["peak_rss_mb"] for s in runs),
                               "median_stop_s": statistics.median(s["stop_s"] for s in runs),
                               "median_startup_s": statistics.median(s["startup_s"] for s in runs)}
        if all("atlas_cpu_s" in s for s in runs):
            row["median_atlas_cpu_s"] = statistics.median(s["atlas_cpu_s"] for s in runs)
        summary[name] = row
    base = summary["none"]["median_s"]
    for row in summary.values():
        row["ratio"] = row["median_s"] / base
    print(f"\n{args.writes} Spark SQL writes ({args.inputs} inputs), median of {args.repeat} runs each, interleaved "
          f"({os.cpu_count()} CPUs, {platform.python_version()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")
    print(f"{'listener':<18} {'median s':>9} {'ratio':>7} {'stop s':>7} {'driver peak RSS MB':>19} {'Atlas CPU s':>12}")
    for name, row in summary.items():
        atlas_cpu = f"{row['median_atlas_cpu_s']:12.1f}" if "median_atlas_cpu_s" in row else f"{'-':>12}"
        print(f"{name:<18} {row['median_s']:9.2f} {row['ratio']:7.3f} {row['median_stop_s']:7.2f} "
              f"{row['peak_rss_mb']:19.0f} {atlas_cpu}")
    print(f"events written: ours {events} files over all runs, openlineage-spark {ol_lines} lines")
    problems = []
    if kafka is not None and "ours-kafka" in samples:
        delivered = sum(s["listener"]["delivered"] for s in samples["ours-kafka"])
        lost = sum(s["listener"]["dropped"] + s["listener"]["failed"] for s in samples["ours-kafka"])
        print(f"ours-kafka: {delivered} events handled by the transport, {lost} dropped or failed, {spooled} fell "
              f"back to the spool; Atlas held {applied['processes_in_atlas']} of {applied['processes_expected']} "
              f"processes, the last applied {applied['applied_after_last_run_s']} s after the last run ended")
        if spooled or lost or applied["processes_in_atlas"] != applied["processes_expected"]:
            problems.append("ours-kafka did not deliver every event through Kafka: its figure measures the "
                            "fallback, not the Kafka path (see the listener's warnings in a run's log)")
    elif kafka is None:
        print(f"ours-kafka: skipped: {skipped}")
    if args.json:
        args.json.write_text(json.dumps({
            "writes": args.writes, "repeat": args.repeat, "inputs": args.inputs, "samples": samples,
            "summary": summary, "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                                            "os": platform.platform()},
            "kafka": {"bootstrap": kafka.bootstrap, "atlas_url": kafka.atlas_url, "spooled": spooled, **applied}
            if kafka and applied else {"skipped": skipped or "not in --only"},
        }, indent=2))
    if problems:
        raise SystemExit("; ".join(problems))
    return 0


if __name__ == "__main__":
    sys.exit(main())
