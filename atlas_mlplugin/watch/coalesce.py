"""Which models a batch of entity notifications asks to re-check: each once, however many events reached it.

A retraction that reaches 300 models arrives as one CLASSIFICATION_ADD per reached entity (datasets, runs and
models, see transport/notification.py); only the models' own events matter, since each model gets its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.transport.notification import EntityNotificationV2, EntityOperation

# What can change a verdict: a tag added, changed or removed (direct or propagated), or the model's attributes.
# A deleted model has nothing left to release; a created one has no recorded release context yet.
RECHECK_OPERATIONS = frozenset({EntityOperation.CLASSIFICATION_ADD, EntityOperation.CLASSIFICATION_UPDATE,
                                EntityOperation.CLASSIFICATION_DELETE, EntityOperation.ENTITY_UPDATE,
                                EntityOperation.ENTITY_IMPORT_UPDATE})


def affected_models(notifications: Iterable[EntityNotificationV2],
                    model_types: frozenset[str] = frozenset({n.ML_MODEL})) -> dict[str, EntityNotificationV2]:
    """Model guid -> the latest notification about it, in order of first appearance."""
    latest: dict[str, EntityNotificationV2] = {}
    deleted: set[str] = set()
    for note in notifications:
        entity = note.entity
        if entity.typeName not in model_types:
            continue
        if note.operationType in (EntityOperation.ENTITY_DELETE, EntityOperation.ENTITY_IMPORT_DELETE) \
                or entity.status == "DELETED":
            deleted.add(entity.guid)
            continue
        if note.operationType in RECHECK_OPERATIONS:
            latest[entity.guid] = note
    return {guid: note for guid, note in latest.items() if guid not in deleted}


def tag_fingerprint(note: EntityNotificationV2) -> str | None:
    """What a notification tells of the facts a check reads on the model: its tags but the verdict's own, with
    their sources and attributes; None when the header carries no classifications (some ENTITY_UPDATEs)."""
    if not note.entity.classificationNames and not note.entity.classifications:
        return None
    tags = sorted(json.dumps([c.typeName, c.entityGuid, c.attributes], sort_keys=True, default=str)
                  for c in note.entity.classifications if c.typeName != n.RELEASE_VERDICT)
    return "\n".join(tags)


class CheckedTags:
    """The tags each model had when it was last re-checked, so that the notifications our own write-back
    causes (the verdict's tag and attributes updated, the upstream tags unchanged) are not re-checked again.
    In memory only: after a restart such a model is re-checked once more, finds its verdict unchanged and
    stays quiet; bounded, oldest forgotten first."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._seen: dict[str, str] = {}

    def unchanged(self, note: EntityNotificationV2) -> bool:
        fingerprint = tag_fingerprint(note)
        return fingerprint is not None and self._seen.get(note.entity.guid) == fingerprint \
            and note.operationType in (EntityOperation.ENTITY_UPDATE, EntityOperation.CLASSIFICATION_UPDATE)

    def checked(self, note: EntityNotificationV2) -> None:
        fingerprint = tag_fingerprint(note)
        self._seen.pop(note.entity.guid, None)
        if fingerprint is not None:
            self._seen[note.entity.guid] = fingerprint
            while len(self._seen) > self.limit:
                self._seen.pop(next(iter(self._seen)))
