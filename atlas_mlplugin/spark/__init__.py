"""PySpark integration: `autolog()` records PySpark ML training, which posts no JVM ML events."""

from atlas_mlplugin.spark.autolog import autolog, disable_autolog, plan_sources

__all__ = ["autolog", "disable_autolog", "plan_sources"]
