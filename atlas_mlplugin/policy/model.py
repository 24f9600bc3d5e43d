"""The release-risk check's data: the release context, the evidence read from Atlas, findings, reports.

Pure data (pydantic), shared by evaluation (no I/O), evidence gathering (Atlas reads) and rendering.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from atlas_mlplugin.model.assets import OptionalPurpose
from atlas_mlplugin.model.tags import UpstreamTag

Audience = Literal["internal", "partner", "public"]
Shipped = Literal["weights", "eval-data", "outputs"]
Severity = Literal["INFO", "WARN", "BLOCK"]
Verdict = Literal["PASS", "WARN", "BLOCK"]
# What a finding means for the release: its severity, or ACCEPTED when a valid acceptance covers it.
Outcome = Literal["INFO", "WARN", "BLOCK", "ACCEPTED"]
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
    evaluation_tags: list[UpstreamTag] = Field(default_factory=list, description="Tags of the evaluation data the "
                                               "model was certified on (never on the model itself); rules with "
                                               "`via: evaluation` look at these")
    rest_calls: int = Field(default=0, description="How many REST calls gathering took")


class Acceptance(BaseModel):
    """A reviewed risk: findings of `rules` (from `datasets`; empty: any dataset) are accepted by `approver`
    until the end of `until` (UTC). Read from a RiskAccepted classification or a catalog file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: tuple[str, ...] = Field(min_length=1, description="ids of the policy rules accepted")
    datasets: tuple[str, ...] = Field(default=(), description="source dataset qualifiedNames; empty: any")
    approver: str = Field(min_length=1)
    reason: str | None = None
    ticket: str | None = None
    until: date = Field(description="last day (UTC) on which the acceptance holds")
    recorded_on: str | None = Field(default=None, description="qualifiedName of the entity carrying it, or "
                                                              "the catalog file it came from")

    def covers(self, rule_id: str, source: str | None) -> bool:
        return rule_id in self.rules and (not self.datasets or source in self.datasets)


class AcceptedBy(BaseModel):
    """Who accepted a finding's risk, why, and until when."""

    model_config = ConfigDict(frozen=True)
    approver: str
    reason: str | None = None
    ticket: str | None = None
    until: date
    recorded_on: str | None = None


class IgnoredAcceptance(BaseModel):
    """An acceptance (or one rule of it) the check did not apply, and why: expired, never acceptable,
    unknown rule, matched no finding, or not valid as recorded. An officer wants to know it lapsed."""

    rule_id: str | None = Field(default=None, description="the rule concerned; None: the whole acceptance")
    approver: str | None = None
    until: date | None = None
    recorded_on: str | None = None
    reason: str = Field(description="why it was not applied")


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
    accepted: AcceptedBy | None = Field(default=None, description="set when a valid acceptance covers this "
                                        "finding: it is reported as ACCEPTED and does not count in the verdict")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome(self) -> Outcome:
        """What the finding means for the release: its severity, or ACCEPTED."""
        return "ACCEPTED" if self.accepted is not None else self.severity


class Obligations(BaseModel):
    """What must accompany the release: credits (the NOTICE) and license texts."""

    attributions: list[dict[str, Any]] = Field(default_factory=list, description="creator, title, license, "
                                                                                 "url, attribution text, source")
    license_texts: list[str] = Field(default_factory=list, description="SPDX ids whose text must ship")


class CheckReport(BaseModel):
    """The answer to: may this model be released in this context? `verdict` is the worst severity among
    findings not accepted (INFO counts as PASS)."""

    verdict: Verdict
    model: str
    model_guid: str
    context: ReleaseContext
    findings: list[Finding] = Field(default_factory=list)
    obligations: Obligations = Field(default_factory=Obligations)
    ignored_acceptances: list[IgnoredAcceptance] = Field(default_factory=list, description="acceptances "
                                                         "recorded but not applied, with the reason")
    policy: str = Field(description="Name of the policy used (file path or 'default')")
    checked_at: datetime
    rest_calls: int = 0
