"""Typed domain models at the package's boundaries (what users hand us, what we hand back)."""

from atlas_mlplugin.model.assets import (
    ConsentRecordSpec,
    DatasetSpec,
    DerivationSpec,
    EvaluationRunSpec,
    ModelSpec,
    Retraction,
    TrainingRunSpec,
    sha256_of,
)
from atlas_mlplugin.model.licenses import DataLicense
from atlas_mlplugin.model.tags import UpstreamTag

__all__ = ["ConsentRecordSpec", "DataLicense", "DatasetSpec", "DerivationSpec", "EvaluationRunSpec", "ModelSpec",
           "Retraction", "TrainingRunSpec", "UpstreamTag", "sha256_of"]
