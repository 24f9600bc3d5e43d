"""Durable delivery of governance writes: never break or stall training. Writes go through a durable local
spool to Atlas, in order, delivered at once when Atlas answers and later (in the background, at exit, or
by ``atlas-ml spool flush``) when it does not. ``dirqueue`` is the directory-queue primitive under the spool
and the OpenLineage event directory; ``transient`` says what a failure means for a queued write."""

from atlas_mlplugin.delivery.deliverer import Deliverer, Outcome, fail_fast
from atlas_mlplugin.delivery.dirqueue import DEFAULT_MAX_ATTEMPTS
from atlas_mlplugin.delivery.spool import SPOOL_DIR_ENV, DrainReport, Spool, SpoolOp, default_spool_dir, open_spool
from atlas_mlplugin.delivery.transient import FailureKind, classify, describe_error, is_transient

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "SPOOL_DIR_ENV",
    "Deliverer",
    "DrainReport",
    "FailureKind",
    "Outcome",
    "Spool",
    "SpoolOp",
    "classify",
    "default_spool_dir",
    "describe_error",
    "fail_fast",
    "is_transient",
    "open_spool",
]
