"""PySpark integration: `configure(builder)` loads the JVM listener shipped with this package; `autolog()`
records PySpark ML training, which posts no JVM ML events."""

from atlas_mlplugin.spark.autolog import autolog, disable_autolog
from atlas_mlplugin.spark.listener import ListenerSettings, SparkSetupError, configure, listener_setup
from atlas_mlplugin.spark.plan import PlanSources, plan_sources, read_plan

__all__ = ["ListenerSettings", "PlanSources", "SparkSetupError", "autolog", "configure", "disable_autolog",
           "listener_setup", "plan_sources", "read_plan"]
