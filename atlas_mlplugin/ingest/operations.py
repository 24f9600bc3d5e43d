"""The governance writes that can wait in the spool, and how each is applied to Atlas.

Every operation is an idempotent upsert (or a re-derivation of tags), so delivering one twice, e.g. after
a crash between delivery and deleting its spool file, changes nothing: at-least-once delivery without
duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.ingest.spool import SpoolOp
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, DerivationSpec, TrainingRunSpec


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


def _apply(registry: GovernanceRegistry, kind: str, payload: dict[str, Any]) -> None:
    match kind:
        case "register_license":
            registry.register_license(DataLicense.model_validate(payload))
        case "register_consent":
            registry.register_consent(ConsentRecordSpec.model_validate(payload))
        case "register_dataset":
            registry.register_dataset(DatasetSpec.model_validate(payload))
        case "record_derivation":
            registry.record_derivation(DerivationSpec.model_validate(payload))
        case "record_training_run":
            registry.record_training_run(TrainingRunSpec.model_validate(payload))
        case "retract_dataset":
            req = RetractRequest.model_validate(payload)
            registry.retract_dataset(req.qualified_name, req.reason, when=req.when, notice_url=req.notice_url)
        case "withdraw_consent":
            wreq = WithdrawConsentRequest.model_validate(payload)
            registry.withdraw_consent(wreq.qualified_name, when=wreq.when)
        case _:
            raise ValueError(f"unknown spool operation {kind!r}; this version of atlas-mlplugin cannot apply it")


def registry_handler(registry: GovernanceRegistry) -> Callable[[SpoolOp], None]:
    """The spool's handler: apply one operation to Atlas through the registry."""

    def handle(op: SpoolOp) -> None:
        _apply(registry, op.kind, op.payload)

    return handle
