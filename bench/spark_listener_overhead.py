"""Overhead of lineage capture on a Spark job: none vs our listener vs openlineage-spark, in one run.

Each configuration runs the same workload (N small Spark SQL writes) in its own JVM (a fresh PySpark
driver per run), in interleaved order over --repeat rounds, so drift on a shared machine hits all three
alike. Reported: the workload's median wall time (JVM start excluded), the ratios to the baseline, and the
driver JVM's peak resident memory (VmHWM).

    python bench/spark_listener_overhead.py [--writes 200] [--repeat 3] [--json out.json]

Needs PySpark 4.x (the `spark` extra), our listener jar for Scala 2.13 (built by `make listener`) and the
openlineage-spark jar (fetched with Maven).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.maven_jars import maven_jar  # noqa: E402

OUR_JAR = REPO / "spark_listener" / "target" / "2.13" / "atlas-mlplugin-spark-listener_2.13-0.1.0.jar"
OPENLINEAGE_SPARK = ("io.openlineage", "openlineage-spark_2.13", "1.53.0")

WORKLOAD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from pyspark.sql import SparkSession
    config, writes, out = json.loads(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    builder = SparkSession.builder.master("local[2]").appName("overhead").config("spark.ui.enabled", "false")
    for key, value in config.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.range(10).write.mode("overwrite").parquet(str(out / "warmup"))  # JIT and first-use costs
    started = time.perf_counter()
    for i in range(writes):
        spark.range(100).selectExpr("id", "id * 2 AS twice").write.mode("overwrite").parquet(str(out / f"t{i}"))
    elapsed = time.perf_counter() - started
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
    spark.stop()
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_kb / 1024}))
""")


def configurations(spool: Path, ol_file: Path) -> dict[str, dict[str, str]]:
    return {
        "none": {},
        "ours": {
            "spark.jars": str(OUR_JAR),
            "spark.sql.queryExecutionListeners": "io.atlasml.spark.AtlasQueryListener",
            "spark.extraListeners": "io.atlasml.spark.AtlasSparkListener",
            "spark.atlas.transport": "spool",
            "spark.atlas.spool.dir": str(spool),
        },
        "openlineage-spark": {
            "spark.jars": str(maven_jar(*OPENLINEAGE_SPARK)),
            "spark.extraListeners": "io.openlineage.spark.agent.OpenLineageSparkListener",
            "spark.openlineage.transport.type": "file",
            "spark.openlineage.transport.location": str(ol_file),
            "spark.openlineage.namespace": "bench",
        },
    }


def run_once(config: dict[str, str], writes: int, workdir: Path) -> dict[str, float]:
    script = workdir / "workload.py"
    script.write_text(WORKLOAD)
    out = workdir / "out"
    out.mkdir(exist_ok=True)
    proc = subprocess.run([sys.executable, str(script), json.dumps(config), str(writes), str(out)],
                          capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"workload failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not OUR_JAR.is_file():
        raise SystemExit(f"{OUR_JAR} is missing: build it with `make listener`")

    samples: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="spark-overhead-") as tmp:
        workdir = Path(tmp)
        configs = configurations(workdir / "spool", workdir / "openlineage.jsonl")
        for round_ in range(args.repeat):
            for name, config in configs.items():
                result = run_once(config, args.writes, workdir)
                samples.setdefault(name, []).append(result)
                print(f"round {round_ + 1}/{args.repeat} {name:<18} {result['seconds']:7.2f} s  "
                      f"peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
        events = len(list((workdir / "spool").glob("*.json"))) if (workdir / "spool").is_dir() else 0
        ol_file = workdir / "openlineage.jsonl"
        ol_lines = len(ol_file.read_text().splitlines()) if ol_file.exists() else 0

    summary = {name: {"median_s": statistics.median(s["seconds"] for s in runs),
                      "peak_rss_mb": statistics.median(s["peak_rss_mb"] for s in runs)}
               for name, runs in samples.items()}
    base = summary["none"]["median_s"]
    print(f"\n{args.writes} Spark SQL writes, median of {args.repeat} runs each, interleaved "
          f"({os.cpu_count()} CPUs, {platform.python_version()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")
    print(f"{'listener':<18} {'median s':>9} {'ratio':>7} {'driver peak RSS MB':>19}")
    for name, row in summary.items():
        print(f"{name:<18} {row['median_s']:9.2f} {row['median_s'] / base:7.3f} {row['peak_rss_mb']:19.0f}")
    print(f"events written: ours {events} files over all runs, openlineage-spark {ol_lines} lines")
    if args.json:
        args.json.write_text(json.dumps({"writes": args.writes, "repeat": args.repeat, "samples": samples,
                                         "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
