"""What a team describes: datasets, consent records, derivations, models, and the runs that connect them.

Field names follow SPDX 3.0 Dataset/AI, Croissant RAI and DPV where those have a term; they map one to one
onto the attributes of our Atlas types (see mapping/entities.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from atlas_mlplugin import naming
from atlas_mlplugin.errors import LocalPathError
from atlas_mlplugin.limits import check_name
from atlas_mlplugin.purposes import canonical_purposes, lenient_purposes, vocabulary

RunStatus = Literal["RUNNING", "COMPLETED", "FAILED", "ABORTED"]
ConsentStatus = Literal["given", "refused", "withdrawn", "expired"]
RetractionStatus = Literal["active", "deprecated", "retracted"]
DerivationType = Literal["relabel", "filter", "merge", "anonymize", "pseudonymize", "other"]
# The values of the ml_dataset_type enum (SPDX 3.0 DatasetType).
DatasetType = Literal["structured", "numeric", "text", "categorical", "graph", "timeseries", "timestamp", "sensor",
                      "image", "syntactic", "audio", "video", "other", "noAssertion"]


# Validation context keys: where relative paths in names are relative to (a catalog file's folder), and
# "already normalised" for specs read back from the spool or Atlas, which must not be re-resolved elsewhere
# (nor their purposes rejected: they were accepted once, perhaps before purposes were checked).
BASE_DIR = "base_dir"
NAMES_NORMALIZED = "names_normalized"


# How a field's name reads in a message about the value ("inputs is empty" would say the list is).
_NAME_WORDS = {"inputs": "input", "consent_records": "consent record name"}


def _checked_name(value: str, info: ValidationInfo) -> str:
    """The name unchanged if Atlas can store and find it (limits.check_name), else a ValueError saying why."""
    return check_name(value, what=_NAME_WORDS.get(info.field_name or "", info.field_name or "name"))


def _normalized_name(value: str, info: ValidationInfo) -> str:
    context: dict[str, Any] = info.context or {}
    if context.get(NAMES_NORMALIZED):
        return value
    return naming.from_user(value, base_dir=context.get(BASE_DIR))


def _checked_purposes(values: list[str], info: ValidationInfo) -> list[str]:
    """Purposes as canonical terms of the vocabulary (atlas_mlplugin/purposes.py). Specs read back from the
    spool or from Atlas (NAMES_NORMALIZED) keep values stored before purposes were checked, so old records
    still load; anything entered anew must be in the vocabulary."""
    if (info.context or {}).get(NAMES_NORMALIZED):
        return lenient_purposes(values)
    return canonical_purposes(values)


def _checked_purpose(value: str | None, info: ValidationInfo) -> str | None:
    return None if value is None else _checked_purposes([value], info)[0]


# DPV-aligned processing purposes, stored as canonical terms: `Research` and `research` are one purpose,
# and `modle-training` is an error naming `model-training`, not a purpose that never matches.
Purposes = Annotated[list[str], AfterValidator(_checked_purposes)]
OptionalPurpose = Annotated[str | None, AfterValidator(_checked_purpose)]

# A name that becomes (part of) an Atlas qualifiedName: a license id, a consent record, a run id.
AtlasName = Annotated[str, AfterValidator(_checked_name)]

# A dataset or model name as people give it, stored the one way naming.py names datasets: local paths
# become absolute file:// URIs, s3a:// becomes s3://, credentials go. Checked before normalising (a NUL or a
# 100k-character name must not reach the file system) and after (normalising lengthens relative paths and
# decodes %-escapes of file URIs, which may hide a control character).
QualifiedName = Annotated[str, AfterValidator(_checked_name), AfterValidator(_normalized_name),
                          AfterValidator(_checked_name)]


def local_path_problem(path: Path) -> str | None:
    """Why `path` cannot be fingerprinted (missing, not a file or directory, unreadable, an empty
    directory), or None when it can. Cheap: nothing is read."""
    try:
        if not path.exists():
            return "no such file or directory"
        if path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK):
                return "the directory cannot be read (permission denied)"
            if next((p for p in path.rglob("*") if p.is_file()), None) is None:
                return "an empty directory (no files in it), nothing to fingerprint"
            return None
        if not path.is_file():  # a FIFO or a device would block or never end
            return "not a regular file or directory"
        if not os.access(path, os.R_OK):
            return "the file cannot be read (permission denied)"
    except OSError as exc:  # a name too long, a loop of symlinks ...
        return f"cannot be read ({exc.strerror or exc})"
    return None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Fingerprint of a local file or, for a directory, of its files' relative paths and contents.
    Raises LocalPathError naming the path when it cannot be fingerprinted."""
    problem = local_path_problem(path)
    if problem:
        raise LocalPathError(path, problem)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    try:
        for file in files:
            if path.is_dir():
                digest.update(str(file.relative_to(path)).encode("utf-8", "surrogateescape") + b"\0")
            with file.open("rb") as handle:
                while block := handle.read(chunk):
                    digest.update(block)
    except OSError as exc:  # a file in the directory that cannot be read, or one removed meanwhile
        where = getattr(exc, "filename", None) or path
        raise LocalPathError(path, f"{where} cannot be read ({exc.strerror or exc})") from exc
    return digest.hexdigest()


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Retraction(_Spec):
    status: RetractionStatus = "retracted"
    reason: str
    date: dt.date | None = None
    notice_url: str | None = None


class DatasetSpec(_Spec):
    qualified_name: QualifiedName = Field(description="Unique name in Atlas; for files the OpenLineage way, e.g. "
                                            "s3://bucket/path or file:///abs/path")
    name: str
    description: str | None = None
    owner: str | None = None
    version: str | None = None
    sha256: str | None = None
    local_path: Path | None = Field(default=None, description="A local copy to fingerprint (sha256) when "
                                                              "sha256 is not given")
    license: str | None = Field(default=None, description="SPDX id or LicenseRef-...; None = NOASSERTION")
    creator: str | None = None
    url: str | None = None
    cite_as: str | None = None
    dataset_types: list[DatasetType] = Field(default_factory=list, description="image, text, audio, ... (SPDX)")
    personal_data_categories: list[str] = Field(default_factory=list, description="DPV personal data "
                                                "categories found in the data, e.g. email, face")
    special_categories: list[str] = Field(default_factory=list, description="GDPR Art. 9 categories")
    data_collection_process: str | None = None
    intended_use: str | None = None
    research_only: bool = Field(default=False, description="Intended use is limited to research")
    data_limitations: str | None = None
    consent_records: list[AtlasName] = Field(default_factory=list, description="qualifiedNames of the consent "
                                             "records covering the data subjects")
    retraction: Retraction | None = None

    def fingerprinted(self) -> DatasetSpec:
        """This spec with sha256 filled in from local_path when it is missing."""
        if self.sha256 or self.local_path is None:
            return self
        return self.model_copy(update={"sha256": sha256_of(self.local_path)})


class ConsentRecordSpec(_Spec):
    qualified_name: AtlasName
    name: str
    status: ConsentStatus = "given"
    legal_basis: str | None = Field(default=None, description="GDPR Art. 6/9 basis, e.g. consent, "
                                                              "legitimate-interest")
    purposes: Purposes = Field(default_factory=list, description="What the subjects agreed to (DPV purposes), "
                               "e.g. model-training, research-and-development; covers narrower purposes too")
    excluded_purposes: Purposes = Field(default_factory=list, description="What they refused (DPV purposes); "
                                        "excludes narrower purposes too")
    personal_data_categories: list[str] = Field(default_factory=list)
    data_subject_category: str | None = None
    given_time: datetime | None = None
    withdrawn_time: datetime | None = None
    expiry_time: datetime | None = None
    notice_url: str | None = None

    @model_validator(mode="after")
    def _not_both_allowed_and_excluded(self, info: ValidationInfo) -> ConsentRecordSpec:
        # `--purpose academic-research --excluded-purpose research` contradicts itself; the check would
        # block, but the record is wrong and should be fixed where it is entered. Stored records load as is.
        if (info.context or {}).get(NAMES_NORMALIZED):
            return self
        vocab = vocabulary()
        for purpose in self.purposes:
            if by := [x for x in self.excluded_purposes if vocab.covers(x, purpose)]:
                raise ValueError(f"purpose {purpose!r} is both consented to and excluded (by {by[0]!r}); a consent "
                                 "record cannot allow what it excludes: remove one of them")
        return self


class DerivationSpec(_Spec):
    """A transformation from datasets to datasets (relabel, filter, merge, anonymize ...): a Process in
    Atlas, so tags flow through it; an attested anonymization stops the personal-data tags there."""

    qualified_name: AtlasName
    name: str
    derivation_type: DerivationType
    inputs: list[QualifiedName] = Field(min_length=1, description="qualifiedNames of the source datasets")
    outputs: list[DatasetSpec] = Field(min_length=1)
    attested: bool = False
    attestation: str | None = Field(default=None, description="Who attested the anonymization, and how")
    description: str | None = None

    @model_validator(mode="after")
    def _attestation_needs_text(self) -> DerivationSpec:
        if self.attested and not self.attestation:
            raise ValueError("attested=true needs an 'attestation' saying who attested it and how")
        return self


class ModelSpec(_Spec):
    qualified_name: QualifiedName
    name: str
    description: str | None = None
    owner: str | None = None
    type_of_model: str | None = None
    version: str | None = None
    sha256: str | None = None
    download_location: str | None = None
    local_path: Path | None = None
    license: str | None = Field(default=None, description="The license the weights are distributed under: an id of "
                                "the license catalog (`atlas-ml license list`), e.g. Apache-2.0 or "
                                "LicenseRef-llama-3.1-community; NOASSERTION when unknown. Its terms give the "
                                "model's own tags, which pass to every model built from it. Unset: the model "
                                "keeps the license Atlas holds for it (none for a model trained in-house)")

    def fingerprinted(self) -> ModelSpec:
        if self.sha256 or self.local_path is None:
            return self
        return self.model_copy(update={"sha256": sha256_of(self.local_path)})


class TrainingRunSpec(_Spec):
    run_id: AtlasName  # its qualifiedName is ml-run:<run_id>
    name: str
    inputs: list[QualifiedName] = Field(description="qualifiedNames of what the run read: datasets, and models it "
                                        "started from (a base model to fine-tune, a teacher to distil); an input "
                                        "found in Atlas as an ml_model becomes a model -> run edge, so the base "
                                        "model's tags reach the outputs")
    model_inputs: list[QualifiedName] = Field(default_factory=list, description="Which inputs are models (base "
                                              "models, teachers): recorded as models even before Atlas has one by "
                                              "that name (then a placeholder with no known license). Added to "
                                              "inputs when missing there")
    unresolved_inputs: list[str] = Field(default_factory=list, description="What the run read that could not be "
                                         "named (e.g. a checkpointed DataFrame), and why; marks its lineage "
                                         "incomplete until the inputs are recorded")
    outputs: list[ModelSpec] = Field(default_factory=list)
    status: RunStatus = "COMPLETED"
    start_time: datetime | None = None
    end_time: datetime | None = None
    code_revision: str | None = None
    processing_purpose: OptionalPurpose = Field(default=None, description="Checked against consent purposes "
                                                "(a DPV purpose, e.g. model-training)")
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    framework: str | None = None
    error_message: str | None = None

    @model_validator(mode="after")
    def _model_inputs_are_inputs(self) -> TrainingRunSpec:
        # A base model given only as a model input is still read by the run: one list of inputs for the edges.
        missing = [qn for qn in self.model_inputs if qn not in self.inputs]
        if missing:
            self.inputs = [*self.inputs, *missing]
        return self

    @property
    def qualified_name(self) -> str:
        return f"ml-run:{self.run_id}"


class EvaluationRunSpec(_Spec):
    """An evaluation or certification of a model (SPDX 3.0 AI: the model was tested on `datasets`): a Process
    from the model and its evaluation datasets to the certified model version(s). The certified version
    inherits the evaluated model's tags; the evaluation data's tags do not flow (it is not trained on) and
    the release check weighs them as limits on the claims made with the results (docs/policy.md)."""

    run_id: AtlasName  # its qualifiedName is ml-eval:<run_id>
    name: str
    model: QualifiedName = Field(description="qualifiedName of the ml_model evaluated")
    datasets: list[QualifiedName] = Field(min_length=1, description="qualifiedNames of the evaluation datasets "
                                          "(benchmarks, test sets) the model was evaluated on")
    outputs: list[ModelSpec] = Field(min_length=1, description="The certified model version(s): the model as "
                                     "evaluated, under the name a release uses")
    metrics: dict[str, float | str] = Field(default_factory=dict, description="The results the certification "
                                            "rests on, e.g. {'accuracy/lfw': 0.993}")
    status: RunStatus = "COMPLETED"
    start_time: datetime | None = None
    end_time: datetime | None = None
    code_revision: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _certifies_another_version(self) -> EvaluationRunSpec:
        # model -> evaluation -> the same model would be a lineage cycle, and Atlas would propagate the
        # model's tags onto itself.
        # A catalog evaluation may give outputs by reference (a string: the model's qualifiedName).
        if any(getattr(out, "qualified_name", out) == self.model for out in self.outputs):
            raise ValueError(f"output {self.model!r} is the model evaluated; name the certified version "
                             "differently (e.g. <model>#certified or a new version)")
        if self.model in self.datasets:
            raise ValueError(f"{self.model!r} is both the model evaluated and an evaluation dataset")
        return self

    @property
    def qualified_name(self) -> str:
        return f"ml-eval:{self.run_id}"
