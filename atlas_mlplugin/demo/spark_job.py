"""The demo's Spark job, run in its own process with the listener jar: a small ETL and a PySpark model.

    python -m atlas_mlplugin.demo.spark_job LISTENER_JAR SPOOL_DIR LAKE_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(jar: str, spool: str, lake: Path) -> None:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession

    from atlas_mlplugin.spark import autolog

    spark = (SparkSession.builder.master("local[2]").appName("scene-annotations-etl")
             .config("spark.jars", jar)  # lineage capture is configuration only: no change to the job's code
             .config("spark.sql.queryExecutionListeners", "io.atlasml.spark.AtlasQueryListener")
             .config("spark.extraListeners", "io.atlasml.spark.AtlasSparkListener")
             .config("spark.atlas.spool.dir", spool)
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    boxes = spark.read.option("header", True).option("inferSchema", True).csv(str(lake / "raw/boxes.csv"))
    weather = spark.read.option("header", True).option("inferSchema", True).csv(str(lake / "raw/weather.csv"))
    boxes.write.mode("overwrite").parquet(str(lake / "clean/boxes.parquet"))
    joined = spark.read.parquet(str(lake / "clean/boxes.parquet")).join(weather, "frame")
    joined.write.mode("overwrite").parquet(str(lake / "gold/training.parquet"))

    autolog()  # PySpark ML posts no JVM events: the Python hook records the fit and the saved model
    training = spark.read.parquet(str(lake / "gold/training.parquet"))
    model = Pipeline(stages=[VectorAssembler(inputCols=["boxes", "rain"], outputCol="features"),
                             LogisticRegression(maxIter=5, labelCol="crowded")]).fit(training)
    model.write().overwrite().save(str(lake / "models/crowd-detector"))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
