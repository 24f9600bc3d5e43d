"""A data license's ML-relevant terms (not legal advice; see licenses.csv for each term's source)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from atlas_mlplugin.model.assets import AtlasName

UseCategory = Literal["commercial", "nonCommercial", "academicOnly", "unspecified"]
DerivativesAllowed = Literal["yes", "no", "privateOnly"]
ModelTreatment = Literal["resultUnrestricted", "resultRestricted", "derivative", "silent"]

# The SPDX way to say "no license was recorded".
UNKNOWN_LICENSE_ID = "NOASSERTION"


class DataLicense(BaseModel):
    # Its qualifiedName is spdx:<spdx_id>.
    spdx_id: AtlasName = Field(description="SPDX id, or LicenseRef-... for a custom license")
    name: str
    url: str | None = None
    use_category: UseCategory = "unspecified"
    attribution_required: bool = False
    share_alike: bool = False
    derivatives_allowed: DerivativesAllowed = "yes"
    license_text_must_accompany: bool = False
    model_treatment: ModelTreatment = "silent"
    use_restrictions: list[str] = Field(default_factory=list)
    notes: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"spdx:{self.spdx_id}"

    @property
    def is_unknown(self) -> bool:
        return self.spdx_id == UNKNOWN_LICENSE_ID
