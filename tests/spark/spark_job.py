"""A small Spark job run in its own process by test_never_fails_the_job (its own JVM, its own settings).

usage: spark_job.py WORKDIR SPOOL KEY=VALUE...   (spark.atlas.* settings without the prefix)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import spark_conf  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

workdir, spool = Path(sys.argv[1]), Path(sys.argv[2])
atlas = dict(arg.split("=", 1) for arg in sys.argv[3:])
builder = SparkSession.builder.master("local[2]").appName("atlas-listener-failing-transport")
for key, value in spark_conf(workdir, spool, **atlas).items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
src = workdir / "in.csv"
src.write_text("a,b\n1,2\n3,4\n")
df = spark.read.option("header", True).csv(str(src))
df.write.mode("overwrite").parquet(str(workdir / "out.parquet"))
assert df.count() == 2  # a read without a write
spark.stop()
print("JOB OK")
