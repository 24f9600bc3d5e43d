"""Typed domain models at the package's boundaries (what users hand us, what we hand back)."""

from atlas_mlplugin.model.assets import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.model.licenses import DataLicense
from atlas_mlplugin.model.tags import TagView

__all__ = ["DataLicense", "DatasetSpec", "ModelSpec", "TagView", "TrainingRunSpec"]
