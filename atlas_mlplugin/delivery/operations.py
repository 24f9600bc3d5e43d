"""The governance writes that can wait in the spool: their kinds, the payloads that are not domain specs, and
the fingerprinting of the local files an op names.

Producers (the API, track_training, autolog) build ops from here without importing the Atlas client;
handler.py applies them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from atlas_mlplugin.delivery.spool import LOCAL_PATH, SpoolOp
from atlas_mlplugin.model.assets import sha256_of

SHA256 = "sha256"


class OpKind(str, Enum):
    """What a spooled op does; its value is what the spool file says."""

    REGISTER_LICENSE = "register_license"
    REGISTER_CONSENT = "register_consent"
    REGISTER_DATASET = "register_dataset"
    RECORD_DERIVATION = "record_derivation"
    RECORD_TRAINING_RUN = "record_training_run"
    RECORD_EVALUATION_RUN = "record_evaluation_run"
    RETRACT_DATASET = "retract_dataset"
    WITHDRAW_CONSENT = "withdraw_consent"


class RetractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qualified_name: str
    reason: str
    when: date | None = None
    notice_url: str | None = None


class WithdrawConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qualified_name: str
    when: datetime | None = None


def op_of(kind: OpKind, spec: BaseModel) -> SpoolOp:
    return SpoolOp.of(kind.value, spec)


def _specs_to_fingerprint(value: Any) -> list[dict[str, Any]]:
    """The dicts in a payload that name a local file and have no sha256 yet (a dataset, a model, a
    derivation's outputs, a run's models), however deep they sit."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if value.get(LOCAL_PATH) and not value.get(SHA256):
            found.append(value)
        for item in value.values():
            found += _specs_to_fingerprint(item)
    elif isinstance(value, list):
        for item in value:
            found += _specs_to_fingerprint(item)
    return found


def unfingerprinted_paths(op: SpoolOp) -> list[Path]:
    """The local files whose fingerprint the op still needs."""
    return [Path(spec[LOCAL_PATH]) for spec in _specs_to_fingerprint(op.payload)]


def fingerprinted(op: SpoolOp) -> SpoolOp:
    """The op with sha256 filled in from every local_path that has none, as the specs' own fingerprinted()
    does. Raises OSError (or the model's error) when a file is gone or unreadable."""
    if not unfingerprinted_paths(op):
        return op
    payload = op.model_copy(deep=True).payload
    for spec in _specs_to_fingerprint(payload):
        spec[SHA256] = sha256_of(Path(spec[LOCAL_PATH]))
    return op.model_copy(update={"payload": payload})
