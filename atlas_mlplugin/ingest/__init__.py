"""Never break training: governance writes go to Atlas directly, or to a durable local spool when it is
down or slow, and are delivered later (in the background, at exit, or by ``atlas-ml spool flush``)."""

from atlas_mlplugin.ingest.delivery import Deliverer, Outcome, fail_fast
from atlas_mlplugin.ingest.spool import (
    SPOOL_DIR_ENV,
    TRANSIENT_ERRORS,
    DrainReport,
    Spool,
    SpoolOp,
    default_spool_dir,
    describe_error,
    is_transient,
)

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
