"""The governance writes that can wait in the spool: their kinds and the payloads that are not domain specs.

Producers (the API, track_training, autolog) build ops from here without importing the Atlas client;
handler.py applies them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict

from atlas_mlplugin.delivery.spool import SpoolOp


class OpKind(str, Enum):
    """What a spooled op does; its value is what the spool file says."""

    REGISTER_LICENSE = "register_license"
    REGISTER_CONSENT = "register_consent"
    REGISTER_DATASET = "register_dataset"
    RECORD_DERIVATION = "record_derivation"
    RECORD_TRAINING_RUN = "record_training_run"
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
