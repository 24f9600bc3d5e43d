"""A data or model license's ML-relevant terms (not legal advice; licenses.csv cites each row's source)."""

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
    """One license of the catalog, for data and for model weights alike (a model's license is a row too)."""

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
    # Terms model licenses add (Llama community licenses, OpenRAIL-M, Gemma); each derives a tag of its own.
    use_policy_url: str | None = Field(default=None, description="The use policy (acceptable-use policy, RAIL "
                                       "Attachment A) whose restrictions must be passed on to every recipient")
    naming_requirement: str | None = Field(default=None, description="What the license requires in the names or "
                                           "notices of what is built with it, e.g. \"Built with Llama\"")
    user_threshold: int | None = Field(default=None, ge=1, description="Monthly active users above which the "
                                       "license grants nothing and a separate license is needed")
    notice_text: str | None = Field(default=None, description="The exact notice the license requires in a Notice "
                                    "file shipped with copies (Llama, Gemma); the credit for what is built with it")
    hf_license: str | None = Field(default=None, description="The Hugging Face card `license:` id for it")
    source: str | None = Field(default=None, description="Where the terms were read: the license text or its "
                               "SPDX page")
    notes: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"spdx:{self.spdx_id}"

    @property
    def is_unknown(self) -> bool:
        return self.spdx_id == UNKNOWN_LICENSE_ID
