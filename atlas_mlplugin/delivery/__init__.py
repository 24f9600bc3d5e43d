"""Durable delivery of governance writes: never break or stall training. Writes go to Atlas directly, or to
a durable local spool when it is down or slow, and are delivered later (in the background, at exit, or by
``atlas-ml spool flush``). ``dirqueue`` is the directory-queue primitive under the spool and the
OpenLineage event directory."""

from atlas_mlplugin.delivery.deliverer import Deliverer, Outcome, fail_fast
from atlas_mlplugin.delivery.spool import SPOOL_DIR_ENV, DrainReport, Spool, SpoolOp, default_spool_dir
from atlas_mlplugin.delivery.transient import TRANSIENT_ERRORS, describe_error, is_transient

__all__ = [
    "SPOOL_DIR_ENV",
    "TRANSIENT_ERRORS",
    "Deliverer",
    "DrainReport",
    "Outcome",
    "Spool",
    "SpoolOp",
    "default_spool_dir",
    "describe_error",
    "fail_fast",
    "is_transient",
]
