"""What a team describes: datasets, models, and the training runs that connect them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

RunStatus = Literal["RUNNING", "COMPLETED", "FAILED", "ABORTED"]


class DatasetSpec(BaseModel):
    qualified_name: str = Field(description="Unique name in Atlas, e.g. s3://bucket/path or a catalog id")
    name: str
    description: str | None = None
    owner: str | None = None
    version: str | None = None
    sha256: str | None = None
    license: str | None = Field(default=None, description="SPDX id or LicenseRef-...; None = NOASSERTION")
    creator: str | None = None
    url: str | None = None
    cite_as: str | None = None
    personal_data_categories: list[str] = Field(default_factory=list)
    special_categories: list[str] = Field(default_factory=list, description="GDPR Art. 9 categories")


class ModelSpec(BaseModel):
    qualified_name: str
    name: str
    description: str | None = None
    owner: str | None = None
    type_of_model: str | None = None
    version: str | None = None
    sha256: str | None = None
    download_location: str | None = None


class TrainingRunSpec(BaseModel):
    run_id: str
    name: str
    inputs: list[str] = Field(description="qualifiedNames of the datasets the run read")
    outputs: list[ModelSpec] = Field(default_factory=list)
    status: RunStatus = "COMPLETED"
    start_time: datetime | None = None
    end_time: datetime | None = None
    code_revision: str | None = None
    processing_purpose: str | None = None
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    framework: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"ml-run:{self.run_id}"
