"""PySpark integration: `autolog()` records PySpark ML training, which posts no JVM ML events."""

from atlas_mlplugin.spark.autolog import autolog, disable_autolog
from atlas_mlplugin.spark.plan import PlanSources, plan_sources, read_plan

__all__ = ["PlanSources", "autolog", "disable_autolog", "plan_sources", "read_plan"]
