"""The release-risk check's data: the release context, the evidence read from Atlas, findings, reports.

Pure data (pydantic), shared by evaluation (no I/O), evidence gathering (Atlas reads) and rendering.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from atlas_mlplugin.model.assets import OptionalPurpose
from atlas_mlplugin.model.tags import UpstreamTag

Audience = Literal["internal", "partner", "public"]
Shipped = Literal["weights", "eval-data", "outputs"]
Severity = Literal["INFO", "WARN", "BLOCK"]
Verdict = Literal["PASS", "WARN", "BLOCK"]
SEVERITY_ORDER: dict[str, int] = {"INFO": 0, "WARN": 1, "BLOCK": 2}


class ReleaseContext(BaseModel):
    """Who gets the model, on which terms, and what ships."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    audience: Audience = "internal"
    commercial: bool = False
    ships: frozenset[Shipped] = frozenset({"weights"})
    # A context read back from Atlas may hold a purpose recorded before purposes were checked: validate it
    # with context={NAMES_NORMALIZED: True} (model/assets.py) to keep such a value instead of failing.
    purpose: OptionalPurpose = Field(default=None, description="Processing purpose of the release (a DPV "
                                     "purpose, e.g. 'commercial-purpose'), checked against consent purposes")


class Evidence(BaseModel):
    """Everything the check needs about one model, read from Atlas in a bounded number of calls."""

    model_guid: str
    model_qualified_name: str
    model_name: str | None = None
    tags: list[UpstreamTag] = Field(default_factory=list)
    rest_calls: int = Field(default=0, description="How many REST calls gathering took")


class Finding(BaseModel):
    rule_id: str
    severity: Severity
    tag: str
    message: str
    remedy: str | None = None
    source_qualified_name: str | None = None
    source_guid: str | None = None
    source_deleted: bool = False
    path: tuple[str, ...] = ()
    attributes: dict[str, Any] = Field(default_factory=dict)


class Obligations(BaseModel):
    """What must accompany the release: credits (the NOTICE) and license texts."""

    attributions: list[dict[str, Any]] = Field(default_factory=list, description="creator, title, license, "
                                                                                 "url, attribution text, source")
    license_texts: list[str] = Field(default_factory=list, description="SPDX ids whose text must ship")


class CheckReport(BaseModel):
    """The answer to: may this model be released in this context? `verdict` is the worst finding's
    severity (INFO counts as PASS)."""

    verdict: Verdict
    model: str
    model_guid: str
    context: ReleaseContext
    findings: list[Finding] = Field(default_factory=list)
    obligations: Obligations = Field(default_factory=Obligations)
    policy: str = Field(description="Name of the policy used (file path or 'default')")
    checked_at: datetime
    rest_calls: int = 0
